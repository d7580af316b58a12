"""The Wikimedia SSE client against a local server replaying recorded events."""
import json
import re

import pytest

from streams.sources.generator import ALL_WIKI_SAMPLES, SAMPLES_DIR
from streams.sources.wikimedia import UpstreamBusy, WikimediaSource, user_agent
from streams.tests.sse_server import RecordedStream, SSEServer

CANARY = {"$schema": "/mediawiki/recentchange/1.0.0",
          "meta": {"dt": "2024-02-06T16:58:12Z", "stream": "mediawiki.recentchange", "domain": "canary"}}


def recorded_blocks():
    """The first 60 recorded events, one canary and one malformed payload among them."""
    lines = (SAMPLES_DIR / ALL_WIKI_SAMPLES[0]).read_text(encoding="utf-8").splitlines()[:60]
    events = [json.loads(line) for line in lines]
    blocks = [(event["meta"]["offset"], json.dumps(event, ensure_ascii=False)) for event in events]
    blocks.insert(10, (blocks[9][0], json.dumps(CANARY)))
    blocks.insert(20, (blocks[19][0], '{"$schema": "/mediawiki/recentchange/1.0.0", "meta": {'))
    # The inserted blocks share their predecessor's offset; give every block its own.
    return events, [(index, data) for index, (_, data) in enumerate(blocks)]


def consume(source, expected):
    received = []
    for event in source:
        received.append(event)
        if len(received) == expected:
            source.stop()
    return received


def test_every_event_arrives_once_across_a_drop_a_429_and_a_clean_close():
    events, blocks = recorded_blocks()
    script = [("serve", 25), ("status", 429, {"Retry-After": "1"}), ("serve", 20), ("serve_all",)]
    with SSEServer(RecordedStream(blocks), script) as server:
        source = WikimediaSource(server.url, user_agent="TopoForge/test (ops@example.org) httpx/0",
                                 backoff_base=0.05, backoff_cap=0.2)
        received = consume(source, len(events))

    assert [e["meta"]["id"] for e in received] == [e["meta"]["id"] for e in events]
    assert source.stats["canaries"] == 1
    assert source.stats["malformed"] == 1
    assert source.stats["rate_limited"] == 1
    assert source.stats["network_errors"] == 2  # the two dropped connections
    # Resumed by Last-Event-ID: the first request has none, every later one the last id seen.
    headers = [h for _, h in server.requests]
    assert "Last-Event-ID" not in headers[0]
    assert json.loads(headers[1]["Last-Event-ID"])[0]["offset"] == 25
    assert headers[2]["Last-Event-ID"] == headers[1]["Last-Event-ID"]
    assert json.loads(headers[3]["Last-Event-ID"])[0]["offset"] == 45
    # Retry-After: 1 was honoured before the next attempt.
    assert server.requests[2][0] - server.requests[1][0] >= 0.95
    # The resume id of the last event is what a checkpoint keeps.
    assert json.loads(source.last_event_id)[0]["offset"] == len(blocks)


def test_a_restarted_source_resumes_from_the_saved_id():
    events, blocks = recorded_blocks()
    with SSEServer(RecordedStream(blocks), [("serve_all",)]) as server:
        first = WikimediaSource(server.url, user_agent="TopoForge/test (x) httpx/0", backoff_base=0.05, backoff_cap=0.2)
        seen = consume(first, 30)
        saved = first.last_event_id
        second = WikimediaSource(server.url, user_agent="TopoForge/test (x) httpx/0", backoff_base=0.05, backoff_cap=0.2, resume_from=saved)
        rest = consume(second, len(events) - 30)

    assert [e["meta"]["id"] for e in seen + rest] == [e["meta"]["id"] for e in events]
    assert server.requests[1][1]["Last-Event-ID"] == saved


def test_user_agent_follows_the_wikimedia_policy_and_is_sent():
    agent = user_agent("1.2.3", "ops@example.org")
    assert re.fullmatch(r"TopoForge/1\.2\.3 \(ops@example\.org\) httpx/[\d.]+", agent)
    _, blocks = recorded_blocks()
    with SSEServer(RecordedStream(blocks), [("serve_all",)]) as server:
        consume(WikimediaSource(server.url, user_agent=agent, backoff_base=0.05), 1)
    assert server.requests[0][1]["User-Agent"] == agent


def test_one_upstream_connection_per_process():
    _, blocks = recorded_blocks()
    with SSEServer(RecordedStream(blocks), [("serve_all",)]) as server:
        first = WikimediaSource(server.url, user_agent="TopoForge/test (x) httpx/0", backoff_base=0.05, backoff_cap=0.2)
        iterator = iter(first)
        next(iterator)  # holds the upstream connection now
        with pytest.raises(UpstreamBusy):
            next(iter(WikimediaSource(server.url, user_agent="TopoForge/test (x) httpx/0", backoff_base=0.05, backoff_cap=0.2)))
        first.stop()
        iterator.close()
        # released: a new source may connect
        again = WikimediaSource(server.url, user_agent="TopoForge/test (x) httpx/0", backoff_base=0.05, backoff_cap=0.2)
        assert consume(again, 1)
