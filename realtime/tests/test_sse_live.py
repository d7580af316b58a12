"""The SSE stream over a real daphne process and a real HTTP client: rate limit and summary,
Last-Event-ID replay, heartbeats; detections reach it through the Redis channel layer."""
import httpx
import pytest

from realtime.tests.factories import access_token_for, store_and_announce, store_detection
from realtime.tests.live import live_server
from realtime.tests.sse_client import events

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.redis, pytest.mark.slow]

WINDOW = 4  # seconds: the rate window, shortened from a minute so the test sees it end


@pytest.fixture
def server(tmp_path, viewer):
    with live_server(
        tmp_path,
        REALTIME_SSE_RATE_WINDOW_SECONDS=WINDOW,
        REALTIME_SSE_HEARTBEAT_SECONDS=1,
        REALTIME_SEND_QUEUE_SIZE=1000,
    ) as server:
        yield server


def open_stream(client, server, token, **params):
    headers = {"Authorization": f"Bearer {token}", "Accept": "text/event-stream"}
    headers.update(params.pop("headers", {}))
    return client.stream("GET", server.url + "/api/realtime/stream", headers=headers, params=params)


def wait_connected(stream):
    for event in stream:
        if event.event == "comment" and any(c.startswith("connected") for c in event.comments):
            return
    raise AssertionError("the stream ended before it said connected")


def test_beyond_the_rate_limit_a_summary_names_what_was_skipped(server, viewer):
    token = access_token_for(viewer)
    with httpx.Client(timeout=httpx.Timeout(10.0)) as client:
        with open_stream(client, server, token) as response:
            assert response.status_code == 200
            assert response.headers["content-type"].startswith("text/event-stream")
            stream = events(response.iter_lines())
            wait_connected(stream)

            rows = store_and_announce(*[{"score": 0.5} for _ in range(105)])

            received, summary, heartbeats = [], None, 0
            for event in stream:
                if event.event == "anomaly":
                    received.append(event)
                elif event.event == "comment":
                    heartbeats += any(c.startswith("heartbeat") for c in event.comments)
                elif event.event == "skipped":
                    summary = event.json()
                    break
            assert [e.id for e in received] == [str(r.pk) for r in rows[:100]]
            assert received[0].json()["id"] == str(rows[0].pk)
            assert summary == {
                "skipped": 5,
                "from_id": str(rows[100].pk),
                "to_id": str(rows[104].pk),
                "limit": 100,
                "window_seconds": WINDOW,
            }
            assert heartbeats >= 1  # the window lasted seconds: heartbeats kept the stream alive

            # A new window: events flow again.
            [later] = store_and_announce({"score": 0.8})
            assert next(e for e in stream if e.event == "anomaly").id == str(later.pk)


def test_last_event_id_replays_what_was_missed_then_continues_live(server, viewer):
    token = access_token_for(viewer)
    seen = store_detection(source="wikipedia")
    missed = [store_detection(source="wikipedia", score=s) for s in (0.2, 0.9, 0.95)]
    store_detection(source="github", score=0.99)  # filtered out
    with httpx.Client(timeout=httpx.Timeout(10.0)) as client:
        with open_stream(
            client, server, token, source="wikipedia", min_score="0.5", headers={"Last-Event-ID": str(seen.pk)}
        ) as response:
            assert response.status_code == 200
            stream = events(response.iter_lines())
            replayed = [next(e for e in stream if e.event == "anomaly") for _ in range(2)]
            assert [e.id for e in replayed] == [str(missed[1].pk), str(missed[2].pk)]

            [live] = store_and_announce({"source": "wikipedia", "score": 0.7}, {"source": "github", "score": 0.9})[:1]
            assert next(e for e in stream if e.event == "anomaly").id == str(live.pk)


def test_errors_are_json_naming_the_parameter(server, viewer):
    token = access_token_for(viewer)
    with httpx.Client(timeout=5) as client:
        bad = client.get(
            server.url + "/api/realtime/stream",
            params={"min_score": "2"},
            headers={"Authorization": f"Bearer {token}", "Accept": "text/event-stream"},
        )
        assert bad.status_code == 400
        assert bad.json()["error"]["fields"] == {"min_score": ["Must be a number between 0 and 1."]}

        anonymous = client.get(server.url + "/api/realtime/stream", headers={"Accept": "text/event-stream"})
        assert anonymous.status_code == 401
        assert anonymous.json()["error"]["code"] == "token_missing"


def test_a_ticket_from_the_api_opens_the_stream_once(server, viewer):
    token = access_token_for(viewer)
    with httpx.Client(timeout=httpx.Timeout(10.0)) as client:
        issued = client.post(server.url + "/api/realtime/ticket", headers={"Authorization": f"Bearer {token}"})
        assert issued.status_code == 201
        ticket = issued.json()["ticket"]
        with client.stream("GET", server.url + issued.json()["stream_url"]) as response:
            assert response.status_code == 200
            wait_connected(events(response.iter_lines()))
        again = client.get(server.url + "/api/realtime/stream", params={"ticket": ticket})
        assert again.status_code == 401
        assert again.json()["error"]["code"] == "ticket_invalid"
