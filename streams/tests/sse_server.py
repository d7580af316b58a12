"""A local stand-in for stream.wikimedia.org: replays recorded events over SSE on 127.0.0.1.

It speaks KafkaSSE's framing (``:ok``, then ``event:``/``id:``/``data:`` blocks) with chunked
transfer encoding, so it can end a connection cleanly (the periodic close) or drop it mid-event
(no final chunk). ``script`` says what each successive connection does.
"""
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

TOPIC = "codfw.mediawiki.recentchange"


def event_id(offset):
    """An id like the real service's: every partition of the stream, offset + 1 of this one."""
    return json.dumps(
        [{"topic": TOPIC, "partition": 0, "offset": offset + 1},
         {"topic": "eqiad.mediawiki.recentchange", "partition": 0, "offset": -1}],
        separators=(",", ":"),
    )


class RecordedStream:
    """Blocks to serve: (offset, raw data string). Resuming starts at the first offset >= id's."""

    def __init__(self, blocks):
        self.blocks = blocks

    def position_after(self, last_event_id):
        if not last_event_id:
            return 0
        wanted = next(p["offset"] for p in json.loads(last_event_id) if p["topic"] == TOPIC)
        return next((i for i, (offset, _) in enumerate(self.blocks) if offset >= wanted), len(self.blocks))


class SSEServer:
    """``script``: a list of steps, one per connection; the last one repeats.

    Steps: ("serve", n) sends n blocks then drops the connection mid-event; ("status", code,
    headers) answers with an HTTP error; ("serve_all",) sends the rest and ends cleanly.
    """

    def __init__(self, stream, script):
        self.stream = stream
        self.script = list(script)
        self.requests = []  # (monotonic time, headers dict) of every request
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_GET(self):
                server.handle(self)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v2/stream/recentchange"
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()

    def handle(self, handler):
        with self._lock:
            self.requests.append((time.monotonic(), dict(handler.headers)))
            step = self.script.pop(0) if len(self.script) > 1 else self.script[0]
        if step[0] == "status":
            body = json.dumps({"title": "Too Many Concurrent Connections From Your Client IP"}).encode()
            handler.send_response(step[1])
            for name, value in step[2].items():
                handler.send_header(name, value)
            handler.send_header("Content-Type", "application/problem+json")
            handler.send_header("Content-Length", str(len(body)))
            handler.send_header("Connection", "close")
            handler.end_headers()
            handler.wfile.write(body)
            return
        handler.send_response(200)
        handler.send_header("Content-Type", "text/event-stream")
        handler.send_header("Transfer-Encoding", "chunked")
        handler.send_header("Connection", "close")
        handler.end_headers()

        def chunk(text):
            data = text.encode()
            handler.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
            handler.wfile.flush()

        chunk(":ok\n\n")
        start = self.stream.position_after(handler.headers.get("Last-Event-ID"))
        blocks = self.stream.blocks[start:]
        count = step[1] if step[0] == "serve" else len(blocks)
        for offset, data in blocks[:count]:
            chunk(f"event: message\nid: {event_id(offset)}\ndata: {data}\n\n")
        if step[0] == "serve" and count < len(blocks):
            offset, data = blocks[count]
            chunk(f"event: message\nid: {event_id(offset)}\ndata: {data[:40]}")  # half an event...
            handler.close_connection = True  # ...and the connection drops: no final chunk
            return
        handler.wfile.write(b"0\r\n\r\n")  # clean end, like the server's 15-minute close
        handler.close_connection = True
