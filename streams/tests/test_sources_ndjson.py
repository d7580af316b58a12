"""NDJSON streams: the X/Twitter v2 filtered-stream shape over HTTP, and generic JSON lines."""
import io
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from streams.sources.ndjson import FieldMapping, NDJSONSource

POSTS = [
    {"data": {"id": "1", "text": "hello", "created_at": "2024-01-15T12:00:00.000Z", "author_id": "42", "lang": "en"},
     "matching_rules": [{"id": "9", "tag": "greetings"}]},
    {"data": {"id": "2", "text": "bonjour", "created_at": "2024-01-15T12:00:03.000Z", "author_id": "43", "lang": "fr"}},
]


class FilteredStream:
    """Serves posts with blank keep-alive lines and one operational error line, then ends."""

    def __init__(self):
        self.headers = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                outer.headers.append(dict(self.headers))
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                body = "\r\n".join(["", json.dumps(POSTS[0]), "", json.dumps({"errors": [{"title": "x"}]}),
                                    "{garbled", json.dumps(POSTS[1]), ""]) + "\r\n"
                self.wfile.write(body.encode())

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/2/tweets/search/stream"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


def test_twitter_stream_with_bearer_token_and_keep_alives():
    server = FilteredStream()
    try:
        source = NDJSONSource(url=server.url, flavour="twitter", bearer_token="s3cret")
        events = []
        for event in source:
            if event is not None:
                events.append(event)
            if len(events) == 2:
                source.stop()
                break
    finally:
        server.close()
    assert server.headers[0]["Authorization"] == "Bearer s3cret"
    assert [(e["timestamp"], e["key"], e["type"], e["value"]) for e in events] == [
        ("2024-01-15T12:00:00.000Z", "42", "en", 1.0),
        ("2024-01-15T12:00:03.000Z", "43", "fr", 1.0),
    ]
    assert events[0]["raw"]["matching_rules"][0]["tag"] == "greetings"
    assert source.stats["keepalives"] >= 2
    assert source.stats["errors"] == 1 and source.stats["malformed"] == 1


def test_generic_lines_with_a_field_mapping():
    lines = io.StringIO('{"ts": "2024-01-01T00:00:00Z", "m": {"ms": 12.5}, "host": "a"}\n\n'
                        '{"ts": 1704067201, "m": {"ms": 30}, "host": "b"}\n')
    source = NDJSONSource(stream=lines, mapping="timestamp=ts,value=m.ms,key=host")
    events = [e for e in source if e is not None]
    assert [(e["timestamp"], e["value"], e["key"]) for e in events] == [
        ("2024-01-01T00:00:00Z", 12.5, "a"), (1704067201, 30, "b")]


def test_a_bad_mapping_is_refused_with_the_reason():
    with pytest.raises(ValueError, match="bad field mapping 'colour=x'"):
        FieldMapping("colour=x")
