"""Stored detections reach WebSocket clients, filtered per subscription; slow clients are dropped."""
import gc
import logging

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.test import Client

from anomalies.api.serializers import AnomalyLogSerializer
from anomalies.models import AnomalyLog
from anomalies.signals import detections_stored
from realtime.hub import get_hub
from realtime.tests.factories import store_and_announce
from topoforge.asgi import application

pytestmark = [pytest.mark.django_db(transaction=True)]


async def session_communicator(user):
    """A communicator for /ws/anomalies carrying ``user``'s dashboard session cookie."""
    client = Client()
    await sync_to_async(client.force_login)(user)
    return WebsocketCommunicator(
        application,
        "/ws/anomalies",
        headers=[
            (b"host", b"127.0.0.1:8000"),
            (b"origin", b"http://127.0.0.1:8000"),
            (b"cookie", f"sessionid={client.cookies['sessionid'].value}".encode()),
        ],
    )


async def connected_client(user, subscribe=None, **options):
    comm = await session_communicator(user)
    assert (await comm.connect())[0]
    assert (await comm.receive_json_from())["type"] == "welcome"
    if subscribe is not None:
        await comm.send_json_to({"subscribe": subscribe, **options})
        reply = await comm.receive_json_from()
        assert reply["type"] == "subscribed", reply
    return comm


async def received(comm, timeout=0.5):
    """Every message the client gets until it has been quiet for ``timeout``."""
    messages = []
    while not await comm.receive_nothing(timeout=timeout):
        messages.append(await comm.receive_json_from())
    return messages


announce = sync_to_async(store_and_announce)


async def test_a_stored_detection_arrives_as_the_api_json(viewer):
    comm = await connected_client(viewer)
    [row] = await announce({"source": "wikipedia", "score": 0.93, "is_anomaly": True})

    message = await comm.receive_json_from(timeout=3)

    expected = await sync_to_async(lambda: dict(AnomalyLogSerializer(AnomalyLog.objects.get(pk=row.pk)).data))()
    assert message == {"type": "anomaly", "data": expected}
    assert message["data"]["id"] == str(row.pk)
    assert message["data"]["metadata"]["diagram"]["h1"] == [[0.2, 0.5]]
    await comm.disconnect()


async def test_subscription_filters_by_source_score_and_flag(viewer, other_viewer):
    picky = await connected_client(viewer, {"source": "wikipedia", "min_score": 0.7, "anomalies_only": True})
    everything = await connected_client(other_viewer)

    rows = await announce(
        {"source": "wikipedia", "score": 0.9, "is_anomaly": True},   # passes every filter
        {"source": "wikipedia", "score": 0.6, "is_anomaly": True},   # score too low
        {"source": "wikipedia", "score": 0.95, "is_anomaly": False},  # not an anomaly
        {"source": "github", "score": 0.99, "is_anomaly": True},     # other source
    )

    assert [m["data"]["id"] for m in await received(picky)] == [str(rows[0].pk)]
    assert [m["data"]["id"] for m in await received(everything)] == [str(r.pk) for r in rows]
    await picky.disconnect()
    await everything.disconnect()


async def test_resubscribing_replaces_the_filters(viewer):
    comm = await connected_client(viewer, {"source": "github"})
    await comm.send_json_to({"subscribe": {}})
    assert (await comm.receive_json_from())["subscription"] == {
        "source": None, "min_score": None, "anomalies_only": False,
    }
    [row] = await announce({"source": "wikipedia"})
    assert [m["data"]["id"] for m in await received(comm)] == [str(row.pk)]
    await comm.disconnect()


@pytest.mark.parametrize(
    "subscribe, field",
    [
        ({"min_score": 1.5}, "min_score"),
        ({"min_score": "high"}, "min_score"),
        ({"anomalies_only": "maybe"}, "anomalies_only"),
        ({"source": 7}, "source"),
        ({"colour": "red"}, "colour"),
    ],
)
async def test_an_invalid_subscription_is_refused_naming_the_filter(viewer, subscribe, field):
    comm = await connected_client(viewer, {"source": "github"})
    await comm.send_json_to({"subscribe": subscribe})
    reply = await comm.receive_json_from()
    assert reply["type"] == "error" and reply["error"]["code"] == "invalid"
    assert list(reply["error"]["fields"]) == [field]
    # The previous subscription still holds.
    await announce({"source": "wikipedia"})
    assert await received(comm, timeout=0.3) == []
    await comm.disconnect()


async def test_malformed_messages_get_an_error_not_a_crash(viewer):
    comm = await connected_client(viewer)
    await comm.send_to(text_data="{not json")
    assert (await comm.receive_json_from())["error"]["code"] == "invalid_message"
    await comm.send_json_to({"hello": 1})
    assert (await comm.receive_json_from())["error"]["code"] == "unknown_message"
    [row] = await announce({})
    assert (await comm.receive_json_from(timeout=3))["data"]["id"] == str(row.pk)
    await comm.disconnect()


async def test_a_slow_client_is_dropped_and_the_others_keep_receiving(viewer, other_viewer, settings):
    settings.REALTIME_SEND_QUEUE_SIZE = 3
    slow = await connected_client(viewer)
    other = await connected_client(other_viewer, {"source": "github"})

    # Five detections offered at once, before the hub's sweep can send any: too many wait.
    get_hub().dispatch([{"id": str(i), "source_type": "wikipedia", "anomaly_score": 0.5} for i in range(5)])

    messages = []
    while True:
        output = await slow.receive_output(timeout=3)
        if output["type"] == "websocket.close":
            break
        messages.append(output)
    assert output["code"] == 4408
    assert len(messages) <= 3

    [row] = await announce({"source": "github"})
    assert [m["data"]["id"] for m in await received(other)] == [str(row.pk)]
    await other.disconnect()


async def test_a_failing_push_never_raises_into_the_store(caplog):
    class Broken:
        pk = None

    with caplog.at_level(logging.ERROR, logger="realtime.broadcast"):
        responses = await sync_to_async(detections_stored.send)(sender=AnomalyLog, detections=[Broken()])
    assert responses  # the receiver ran and returned normally
    assert "Could not push 1 stored detection" in caplog.text


async def test_batching_sends_one_message_per_period_with_every_matching_detection(viewer):
    comm = await connected_client(viewer)
    await comm.send_json_to({"subscribe": {"source": "wikipedia"}, "batch_ms": 200})
    assert (await comm.receive_json_from())["batch_ms"] == 200

    rows = await announce({"source": "wikipedia"}, {"source": "github"}, {"source": "wikipedia"})

    batch = await comm.receive_json_from(timeout=3)
    assert batch["type"] == "anomalies"
    assert [d["id"] for d in batch["data"]] == [str(rows[0].pk), str(rows[2].pk)]
    assert batch["data"][0]["source_type"] == "wikipedia" and "anomaly_score" in batch["data"][0]
    assert await comm.receive_nothing(timeout=0.5)  # nothing pending: no empty batches

    await comm.send_json_to({"subscribe": {}, "batch_ms": 0})  # back to one message per detection
    assert (await comm.receive_json_from())["batch_ms"] == 0
    [row] = await announce({})
    assert (await comm.receive_json_from(timeout=3))["data"]["id"] == str(row.pk)
    await comm.disconnect()


@pytest.mark.parametrize(
    "option, value",
    [("batch_ms", value) for value in (10, 20_000, "100", True, 1.5)]
    + [("coalesce", value) for value in (1, "true", {})],
)
async def test_an_invalid_delivery_option_is_refused_naming_it(viewer, option, value):
    comm = await connected_client(viewer)
    await comm.send_json_to({"subscribe": {}, option: value})
    reply = await comm.receive_json_from()
    assert reply["type"] == "error" and list(reply["error"]["fields"]) == [option]
    await comm.disconnect()


async def test_an_unreachable_channel_layer_is_said_not_hidden(viewer, settings):
    settings.CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {"hosts": ["redis://127.0.0.1:1/0"]},  # nothing listens on port 1
        }
    }
    comm = await session_communicator(viewer)
    assert (await comm.connect())[0]
    assert (await comm.receive_json_from(timeout=5))["type"] == "welcome"
    assert (await comm.receive_json_from(timeout=5))["error"]["code"] == "unavailable"
    assert (await comm.receive_output(timeout=5)) == {"type": "websocket.close", "code": 1011}


def offered(*ids):
    """Detections handed to the hub in one call, as one channel-layer message does: all of them
    wait together before its sweep sends anything."""
    detections = [{"id": i, "source_type": "wikipedia", "anomaly_score": 0.5} for i in ids]
    get_hub().dispatch(detections)
    return detections


async def test_coalescing_sends_what_waits_as_one_message_and_a_lone_detection_as_anomaly(viewer, other_viewer):
    coalescing = await connected_client(viewer, {}, coalesce=True)
    plain = await connected_client(other_viewer, {})

    detections = offered("1", "2", "3")

    assert await received(coalescing) == [{"type": "anomalies", "data": detections}]
    assert await received(plain) == [{"type": "anomaly", "data": d} for d in detections]  # as always

    [row] = await announce({"source": "wikipedia"})
    [single] = await received(coalescing)
    assert single["type"] == "anomaly" and single["data"]["id"] == str(row.pk)
    await coalescing.disconnect()
    await plain.disconnect()


async def test_the_subscribed_reply_says_whether_it_coalesces(viewer):
    comm = await connected_client(viewer)
    await comm.send_json_to({"subscribe": {}, "coalesce": True})
    assert (await comm.receive_json_from())["coalesce"] is True
    await comm.send_json_to({"subscribe": {}})  # absent: off again
    assert (await comm.receive_json_from())["coalesce"] is False
    offered("1", "2")
    assert [m["type"] for m in await received(comm)] == ["anomaly", "anomaly"]
    await comm.disconnect()


@pytest.mark.parametrize("options", [{}, {"coalesce": True}])
async def test_every_client_is_sent_the_same_text_encoded_once(viewer, other_viewer, options):
    first = await connected_client(viewer, {}, **options)
    second = await connected_client(other_viewer, {}, **options)

    offered("1", "2")

    sent_first = [(await first.receive_output(timeout=3))["text"] for _ in range(1 if options else 2)]
    sent_second = [(await second.receive_output(timeout=3))["text"] for _ in range(1 if options else 2)]
    # The very same str objects: encoded once per process, not once per client.
    assert all(a is b for a, b in zip(sent_first, sent_second, strict=True))
    await first.disconnect()
    await second.disconnect()


async def test_the_start_up_heap_is_frozen_once_a_client_connects(viewer):
    """Full garbage collections then skip it: walking it paused every client for up to 0.35 s."""
    comm = await connected_client(viewer)
    assert gc.get_freeze_count() > 0
    await comm.disconnect()
