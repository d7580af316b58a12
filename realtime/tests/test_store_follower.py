"""Live push without Redis: the web process follows the detections table, so a detector in another
process reaches WebSocket and SSE clients through the in-memory channel layer; nothing twice."""
import asyncio
import json

import httpx
import pytest
import websockets
from asgiref.sync import sync_to_async
from channels.db import database_sync_to_async
from django.conf import settings
from anomalies.models import AnomalyLog
from realtime.hub import Hub, get_hub
from realtime.store_follower import StoreFollower
from realtime.tests.factories import access_token_for, store_detection
from realtime.tests.live import live_server, run_detector
from realtime.tests.sse_client import events
from realtime.tests.test_websocket_delivery import connected_client, received
from topoforge.tests.processes import manage

pytestmark = [pytest.mark.django_db(transaction=True)]

store = sync_to_async(store_detection)


class Recorder:
    """A hub client that keeps what it is offered."""

    def __init__(self):
        self.ids = []

    def offer(self, detection, encoded):
        self.ids.append(detection["id"])


@pytest.mark.follow_store
async def test_a_row_stored_without_any_announcement_reaches_a_websocket_client(viewer, settings):
    settings.REALTIME_FOLLOW_STORE_SECONDS = 0.1
    comm = await connected_client(viewer)
    # Stored as another process stores it: its announcement went to a layer no one here reads.
    row = await store(source="detector-process", score=0.97, is_anomaly=True)

    message = await comm.receive_json_from(timeout=3)
    assert message["type"] == "anomaly"
    assert message["data"]["id"] == str(row.pk)
    assert message["data"]["source_type"] == "detector-process"
    await comm.disconnect()


@pytest.mark.follow_store
async def test_a_row_pushed_by_the_in_process_broadcast_is_not_pushed_again_by_the_follower(viewer, settings):
    settings.REALTIME_FOLLOW_STORE_SECONDS = 0.05
    comm = await connected_client(viewer)
    from realtime.tests.factories import store_and_announce

    rows = await sync_to_async(store_and_announce)({"source": "api"}, {"source": "api"})

    messages = await received(comm, timeout=1.0)  # twenty polls of the follower, each re-reading
    assert [m["data"]["id"] for m in messages] == [str(r.pk) for r in rows]
    await comm.disconnect()


async def test_the_follower_starts_at_the_newest_row_and_pushes_each_new_row_once():
    old = await store(source="history")
    hub, client = Hub(None), Recorder()
    hub.clients.add(client)
    follower = StoreFollower(hub, interval=0)
    await follower.prime()
    assert follower.floor == old.pk

    first, second = await store(), await store()
    assert await follower.poll() == 2
    assert await follower.poll() == 0  # re-read within the lookback, not pushed again
    assert client.ids == [str(first.pk), str(second.pk)]


@pytest.mark.skipif(settings.USING_MONGODB, reason="explicit integer ids")
async def test_a_row_committed_after_a_newer_id_is_still_found_within_the_lookback():
    hub, client = Hub(None), Recorder()
    hub.clients.add(client)
    follower = StoreFollower(hub, interval=0, lookback=60)
    await follower.prime()
    base = await store()
    newer = await store(pk=base.pk + 10)
    await follower.poll()
    # A row whose id was taken before ``newer``'s, committed after it (a PostgreSQL sequence).
    late = await store(pk=base.pk + 5)
    assert await follower.poll() == 1
    assert client.ids == [str(base.pk), str(newer.pk), str(late.pk)]


async def test_past_the_lookback_the_cursor_moves_up_and_old_ids_are_not_read_again():
    hub = Hub(None)
    follower = StoreFollower(hub, interval=0, lookback=0)
    await follower.prime()
    row = await store()
    await follower.poll()
    assert follower.floor == row.pk


@pytest.mark.parametrize("redis_url, seconds", [("", "0.5"), ("redis://127.0.0.1:6379/8", "0.0")])
def test_without_redis_the_follower_is_on_and_with_redis_off(redis_url, seconds):
    code = "from django.conf import settings; print(settings.REALTIME_FOLLOW_STORE_SECONDS)"
    result = manage("shell", "--no-imports", "-c", code, REDIS_URL=redis_url, REALTIME_FOLLOW_STORE_SECONDS=None)
    assert result.stdout.strip() == seconds, result.stderr


@pytest.mark.follow_store
async def test_the_hub_of_a_process_follows_the_store_only_when_configured(settings):
    settings.REALTIME_FOLLOW_STORE_SECONDS = 0
    client = Recorder()
    hub = get_hub()
    await hub.add(client)
    assert len(hub._tasks) == 3  # listen, rejoin, sweep: no follower
    await hub.remove(client)


DETECTOR = """
from realtime.tests.factories import store_and_announce
[row] = store_and_announce({"source": "detector-process", "score": 0.97, "is_anomaly": True})
print(row.pk)
"""


@pytest.fixture
def server_without_redis(tmp_path, viewer):
    with live_server(tmp_path, REDIS_URL="", REALTIME_FOLLOW_STORE_SECONDS="") as server:
        yield server


@pytest.mark.slow
async def test_a_detector_process_reaches_websocket_and_sse_clients_of_a_server_without_redis(
    server_without_redis, viewer
):
    server = server_without_redis
    token = await database_sync_to_async(access_token_for)(viewer)
    if True:
        headers = {"Authorization": f"Bearer {token}", "Accept": "text/event-stream"}
        async with httpx.AsyncClient(timeout=httpx.Timeout(10.0)) as http, websockets.connect(
            server.ws_url + "/ws/anomalies", origin=server.url,
            subprotocols=["topoforge.v1", f"bearer.{token}"], open_timeout=10,
        ) as socket:
            assert json.loads(await asyncio.wait_for(socket.recv(), 10))["type"] == "welcome"
            async with http.stream("GET", server.url + "/api/realtime/stream", headers=headers) as response:
                lines = response.aiter_lines()
                assert (await anext(lines)).startswith("retry:")
                assert (await anext(lines)).startswith(": connected")

                detector = await asyncio.to_thread(run_detector, server, DETECTOR)
                assert detector.returncode == 0, detector.stderr
                stored_id = detector.stdout.strip().splitlines()[-1]

                message = json.loads(await asyncio.wait_for(socket.recv(), 5))
                sse_lines = []
                async with asyncio.timeout(5):
                    async for line in lines:
                        sse_lines.append(line)
                        if line.startswith("data:"):
                            break
    assert message["type"] == "anomaly" and message["data"]["id"] == stored_id
    [event] = [e for e in events(sse_lines + [""]) if e.event == "anomaly"]
    assert event.id == stored_id and event.json()["source_type"] == "detector-process"
    assert await database_sync_to_async(AnomalyLog.objects.filter(pk=stored_id).exists)()
