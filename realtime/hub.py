"""One channel-layer subscription per event loop, fanned out in-process to every local client.

The naive design (one channel-layer channel per WebSocket) makes every detection cost N messages
through Redis and N JSON encodings. Here each daphne process joins the ``anomalies`` group once;
a detection arrives once, is encoded once, and is offered to every local client, which filters it
and puts it in its own bounded send queue (a full queue drops that client, nobody else waits).
"""
import asyncio
import json
import logging
import weakref
from contextlib import suppress

from channels.layers import get_channel_layer

logger = logging.getLogger(__name__)

GROUP = "anomalies"
MESSAGE_TYPE = "detections.stored"
# Group membership expires in the channel layer (a day by default in channels-redis, and it is
# lost if Redis restarts); re-joining this often keeps the process subscribed.
REJOIN_SECONDS = 60
RETRY_SECONDS = 1.0


class Encoded:
    """One detection encoded once for every client: its JSON, and its ``anomaly`` message."""

    __slots__ = ("data", "message")

    def __init__(self, detection):
        self.data = json.dumps(detection, separators=(",", ":"))
        self.message = '{"type":"anomaly","data":' + self.data + "}"


def batch_message(encoded_items):
    """``{"type": "anomalies", "data": [...]}`` from already-encoded detections (no re-encoding)."""
    return '{"type":"anomalies","data":[' + ",".join(e.data for e in encoded_items) + "]}"


class Hub:
    def __init__(self, layer):
        self.layer = layer
        self.clients = set()
        self.channel = None
        self._tasks = []
        self._lock = asyncio.Lock()

    async def add(self, client):
        """Register ``client``; once this returns, every later detection is offered to it.

        ``client.offer(detection: dict, encoded: Encoded)`` must not block.
        """
        async with self._lock:
            if not self._tasks:
                self.channel = await self.layer.new_channel()
                await self.layer.group_add(GROUP, self.channel)
                self._tasks = [asyncio.create_task(self._listen()), asyncio.create_task(self._rejoin())]
            self.clients.add(client)

    async def remove(self, client):
        async with self._lock:
            self.clients.discard(client)
            if self.clients or not self._tasks:
                return
            for task in self._tasks:
                task.cancel()
            for task in self._tasks:
                with suppress(asyncio.CancelledError):
                    await task
            self._tasks = []
            with suppress(Exception):
                await self.layer.group_discard(GROUP, self.channel)

    def dispatch(self, detections):
        for detection in detections:
            encoded = Encoded(detection)
            for client in list(self.clients):
                client.offer(detection, encoded)

    async def _listen(self):
        while True:
            try:
                message = await self.layer.receive(self.channel)
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("Realtime hub could not read the channel layer; retrying")
                await asyncio.sleep(RETRY_SECONDS)
                continue
            if message.get("type") == MESSAGE_TYPE:
                self.dispatch(message.get("detections") or [])

    async def _rejoin(self):
        while True:
            await asyncio.sleep(REJOIN_SECONDS)
            try:
                await self.layer.group_add(GROUP, self.channel)
            except Exception:
                logger.exception("Realtime hub could not renew its group membership")


_hubs = weakref.WeakKeyDictionary()


def get_hub():
    """The hub of the running event loop (daphne has one loop; each test has its own)."""
    loop = asyncio.get_running_loop()
    hub = _hubs.get(loop)
    if hub is None:
        hub = _hubs[loop] = Hub(get_channel_layer())
    return hub
