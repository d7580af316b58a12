"""Across processes through the real Redis: a detector process stores and announces a detection,
a daphne process pushes it to a real WebSocket client (the ``websockets`` library)."""
import asyncio
import json

import httpx
import pytest
import websockets
from channels.db import database_sync_to_async

from realtime.tests.factories import access_token_for
from realtime.tests.live import live_server, run_detector

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.redis, pytest.mark.slow]

DETECTOR = """
from realtime.tests.factories import store_and_announce
[row] = store_and_announce({"source": "detector-process", "score": 0.97, "is_anomaly": True})
print(row.pk)
"""


@pytest.fixture
def server(tmp_path, viewer):
    with live_server(tmp_path) as server:
        yield server


async def test_a_detection_from_another_process_reaches_a_websocket_client(server, viewer):
    token = await database_sync_to_async(access_token_for)(viewer)
    async with httpx.AsyncClient(base_url=server.url) as http:
        issued = await http.post("/api/realtime/ticket", headers={"Authorization": f"Bearer {token}"})
    assert issued.status_code == 201

    async with websockets.connect(
        server.ws_url + issued.json()["websocket_url"], origin=server.url, open_timeout=10
    ) as socket:
        welcome = json.loads(await asyncio.wait_for(socket.recv(), 10))
        assert welcome["type"] == "welcome" and welcome["user"] == viewer.username
        await socket.send(json.dumps({"subscribe": {"anomalies_only": True}}))
        assert json.loads(await asyncio.wait_for(socket.recv(), 10))["type"] == "subscribed"

        detector = await asyncio.to_thread(run_detector, server, DETECTOR)
        assert detector.returncode == 0, detector.stderr
        stored_id = detector.stdout.strip().splitlines()[-1]

        message = json.loads(await asyncio.wait_for(socket.recv(), 10))
    assert message["type"] == "anomaly"
    assert message["data"]["id"] == stored_id
    assert message["data"]["source_type"] == "detector-process"
    assert message["data"]["anomaly_score"] == 0.97


async def test_bearer_subprotocol_over_the_network_echoes_topoforge_v1(server, viewer):
    token = await database_sync_to_async(access_token_for)(viewer)
    async with websockets.connect(
        server.ws_url + "/ws/anomalies",
        origin=server.url,
        subprotocols=["topoforge.v1", f"bearer.{token}"],
        open_timeout=10,
    ) as socket:
        assert socket.subprotocol == "topoforge.v1"
        assert json.loads(await asyncio.wait_for(socket.recv(), 10))["type"] == "welcome"


async def test_a_used_ticket_is_refused_by_another_server_process_with_4401(server, viewer):
    token = await database_sync_to_async(access_token_for)(viewer)
    async with httpx.AsyncClient(base_url=server.url) as http:
        issued = await http.post("/api/realtime/ticket", headers={"Authorization": f"Bearer {token}"})
    url = server.ws_url + issued.json()["websocket_url"]
    async with websockets.connect(url, origin=server.url) as socket:
        await asyncio.wait_for(socket.recv(), 10)
    async with websockets.connect(url, origin=server.url) as socket:
        error = json.loads(await asyncio.wait_for(socket.recv(), 10))
        with pytest.raises(websockets.ConnectionClosed):
            await asyncio.wait_for(socket.recv(), 10)
    assert error["error"]["code"] == "ticket_invalid"
    assert socket.close_code == 4401


BURST = """
from realtime.tests.factories import store_and_announce
rows = store_and_announce(*[{"source": "burst"} for _ in range(20)])
print(" ".join(str(row.pk) for row in rows))
"""


async def test_a_burst_reaches_a_coalescing_client_as_one_message_and_others_one_by_one(server, viewer):
    token = await database_sync_to_async(access_token_for)(viewer)

    def connect():
        return websockets.connect(
            server.ws_url + "/ws/anomalies",
            origin=server.url,
            subprotocols=["topoforge.v1", f"bearer.{token}"],
            open_timeout=10,
        )

    async with connect() as coalescing, connect() as plain:
        for socket in (coalescing, plain):
            assert json.loads(await asyncio.wait_for(socket.recv(), 10))["type"] == "welcome"
        await coalescing.send(json.dumps({"subscribe": {}, "coalesce": True}))
        assert json.loads(await asyncio.wait_for(coalescing.recv(), 10))["coalesce"] is True

        # Twenty detections stored together travel as one channel-layer message.
        detector = await asyncio.to_thread(run_detector, server, BURST)
        assert detector.returncode == 0, detector.stderr
        stored_ids = detector.stdout.strip().splitlines()[-1].split()

        batch = json.loads(await asyncio.wait_for(coalescing.recv(), 10))
        singles = [json.loads(await asyncio.wait_for(plain.recv(), 10)) for _ in stored_ids]
    assert batch["type"] == "anomalies"
    assert [d["id"] for d in batch["data"]] == stored_ids
    assert {m["type"] for m in singles} == {"anomaly"}
    assert [m["data"]["id"] for m in singles] == stored_ids
