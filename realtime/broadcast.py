"""Publish stored detections to every realtime client, in any process, through the channel layer.

``broadcast`` is the push side of ``anomalies.signals.detections_stored``. It serializes each
detection exactly as ``GET /api/anomalies/{id}`` does and sends batches to the ``anomalies``
group; each serving process's ``realtime.hub.Hub`` fans them out to its clients.
"""
import asyncio
import json
import logging

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.core.serializers.json import DjangoJSONEncoder

from realtime.hub import GROUP, MESSAGE_TYPE

logger = logging.getLogger(__name__)

# Detections per channel-layer message: keeps each message small whatever the store's batch size.
CHUNK = 100


def serialize(detections):
    from anomalies.api.serializers import AnomalyLogSerializer

    # Plain JSON types only: the Redis layer packs messages with msgpack.
    return [
        json.loads(json.dumps(AnomalyLogSerializer(d).data, cls=DjangoJSONEncoder)) for d in detections
    ]


async def publish(payload):
    """Send already-serialized detections to the group."""
    layer = get_channel_layer()
    for start in range(0, len(payload), CHUNK):
        await layer.group_send(
            GROUP, {"type": MESSAGE_TYPE, "detections": payload[start : start + CHUNK]}
        )


def broadcast(detections):
    """Push ``AnomalyLog`` rows to realtime clients. Call after the rows are committed.

    From synchronous code this returns once the channel layer has the messages; inside a running
    event loop it schedules the send and returns the task.
    """
    payload = serialize(detections)
    if not payload:
        return None
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        async_to_sync(publish)(payload)
        return None
    task = loop.create_task(publish(payload))
    _pending.add(task)  # the loop keeps only a weak reference to tasks
    task.add_done_callback(_finished)
    return task


_pending = set()


def _finished(task):
    _pending.discard(task)
    if not task.cancelled() and task.exception() is not None:
        logger.error("Could not push detections to realtime clients", exc_info=task.exception())


def on_detections_stored(sender, detections=(), **kwargs):
    """Receiver of ``detections_stored``: a push failure is logged, never raised into the store."""
    try:
        broadcast(list(detections))
    except Exception:
        logger.exception("Could not push %d stored detection(s) to realtime clients", len(detections))
