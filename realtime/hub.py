"""One channel-layer subscription per event loop, fanned out in-process to every local client.

The naive design (one channel-layer channel per WebSocket) makes every detection cost N messages
through Redis and N JSON encodings. Here each daphne process joins the ``anomalies`` group once;
a detection arrives once, is encoded once, and is offered to every local client, which filters it
and keeps it until it is sent (a client that falls too far behind is dropped, nobody else waits).

One task per hub sends (``_sweep``), instead of one sender task per client: it passes over the
clients that have detections waiting and flushes each. The CPU goes to socket writes (a send, two
epoll updates, and Channels, daphne, autobahn and Twisted in Python), paid per flush of a client
rather than per detection; so each flush carries every detection that arrived since the last one:
back-to-back ``anomaly`` frames in one socket write, or, for clients that asked (``coalesce``,
``batch_ms``), one ``anomalies`` frame whose text is built once per sweep for all the clients
waiting for the same detections. The busier the server, the more detections per write: latency
stays near the time of one sweep instead of growing without bound.
"""
import asyncio
import gc
import json
import logging
import weakref
from collections import OrderedDict
from contextlib import suppress

from channels.layers import get_channel_layer
from django.conf import settings

logger = logging.getLogger(__name__)

GROUP = "anomalies"
MESSAGE_TYPE = "detections.stored"
# Group membership expires in the channel layer (a day by default in channels-redis, and it is
# lost if Redis restarts); re-joining this often keeps the process subscribed.
REJOIN_SECONDS = 60
RETRY_SECONDS = 1.0
# A long sweep (thousands of clients) lets the event loop run this often. Reading one detection
# from the Redis channel layer takes several round trips, each one turn of the loop: yielding
# rarely starves that reader, and detections pile up in Redis (and past its capacity, are lost).
# Each turn also writes the sockets flushed so far, so the first clients need not wait for the last.
SWEEP_SLICE_SECONDS = 0.0001
# Ids of the detections pushed lately, so the two ways a detection reaches the hub (the channel
# layer, the store follower) push it once. Far more than a few seconds of detections at any rate.
RECENT_IDS = 20_000


class Encoded:
    """One detection encoded once for every client: its JSON, and its ``anomaly`` message."""

    __slots__ = ("data", "message")

    def __init__(self, detection):
        self.data = json.dumps(detection, separators=(",", ":"))
        self.message = '{"type":"anomaly","data":' + self.data + "}"


def batch_message(encoded_items):
    """``{"type": "anomalies", "data": [...]}`` from already-encoded detections (no re-encoding)."""
    return '{"type":"anomalies","data":[' + ",".join(e.data for e in encoded_items) + "]}"


class SweepFrames:
    """The ``anomalies`` texts of one sweep: clients waiting for the same detections share one."""

    def __init__(self):
        self._texts = {}

    def batch(self, encoded_items):
        key = tuple(map(id, encoded_items))
        found = self._texts.get(key)
        if found is None:
            # The items are kept with the text, so their ids cannot be reused during the sweep.
            found = self._texts[key] = (encoded_items, batch_message(encoded_items))
        return found[1]


class RecentIds:
    """A bounded memory of ids, oldest forgotten first."""

    def __init__(self, size=RECENT_IDS):
        self.size = size
        self._ids = OrderedDict()

    def __contains__(self, detection_id):
        return detection_id in self._ids

    def add(self, detection_id):
        """Remember ``detection_id``; False if it was already remembered."""
        if detection_id in self._ids:
            return False
        self._ids[detection_id] = None
        if len(self._ids) > self.size:
            self._ids.popitem(last=False)
        return True


class Hub:
    """``make_follower(hub)``, when given, builds a task source started with the first client
    (``realtime.store_follower.StoreFollower``: the store's new rows, for layers that do not
    cross processes)."""

    def __init__(self, layer, make_follower=None):
        self.layer = layer
        self.make_follower = make_follower
        self.pushed = RecentIds()
        self.clients = set()
        self.channel = None
        self._tasks = []
        self._lock = asyncio.Lock()
        self._due = []  # clients with detections to send, in the order they asked
        self._wake = asyncio.Event()

    async def add(self, client):
        """Register ``client``; once this returns, every later detection is offered to it.

        ``client.offer(detection: dict, encoded: Encoded)`` must not block. A client that sends
        through the hub's sweep calls ``flush_soon(client)`` and has ``async flush(frames)``.
        """
        async with self._lock:
            if not self._tasks:
                freeze_startup_heap()
                self.channel = await self.layer.new_channel()
                await self.layer.group_add(GROUP, self.channel)
                follower = None
                if self.make_follower is not None:
                    follower = self.make_follower(self)
                    await follower.prime()  # rows stored after this returns are followed
                self._tasks = [
                    asyncio.create_task(self._listen()),
                    asyncio.create_task(self._rejoin()),
                    asyncio.create_task(self._sweep()),
                ]
                if follower is not None:
                    self._tasks.append(asyncio.create_task(follower.run()))
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
            self._due = []
            with suppress(Exception):
                await self.layer.group_discard(GROUP, self.channel)

    def dispatch(self, detections):
        for detection in detections:
            encoded = Encoded(detection)
            for client in list(self.clients):
                client.offer(detection, encoded)

    def has_pushed(self, detection_id):
        return detection_id in self.pushed

    def dispatch_new(self, detections):
        """``dispatch`` the detections not pushed yet (by id); return how many there were."""
        fresh = [d for d in detections if self.pushed.add(d.get("id"))]
        if fresh:
            self.dispatch(fresh)
        return len(fresh)

    def flush_soon(self, client):
        """Have ``client.flush`` called in the next sweep."""
        self._due.append(client)
        self._wake.set()

    async def _sweep(self):
        """Flush every client that asked. Detections that arrive during a sweep join what waits
        for the clients not flushed yet; the next sweep takes the rest."""
        loop = asyncio.get_running_loop()
        while True:
            await self._wake.wait()
            self._wake.clear()
            due, self._due = self._due, []
            frames = SweepFrames()
            slice_ends = loop.time() + SWEEP_SLICE_SECONDS
            for client in due:
                try:
                    await client.flush(frames)
                except Exception as error:  # e.g. autobahn's Disconnected while a close handshake runs
                    logger.warning("Realtime hub could not send to a client: %s: %s", type(error).__name__, error)
                if loop.time() >= slice_ends:
                    await asyncio.sleep(0)
                    slice_ends = loop.time() + SWEEP_SLICE_SECONDS

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
                self.dispatch_new(message.get("detections") or [])

    async def _rejoin(self):
        while True:
            await asyncio.sleep(REJOIN_SECONDS)
            try:
                await self.layer.group_add(GROUP, self.channel)
            except Exception:
                logger.exception("Realtime hub could not renew its group membership")


def freeze_startup_heap():
    """Once per process, before the first client: move everything allocated so far out of the
    garbage collector's view (in daphne: Django, the URLconf, the app, which live as long as it).

    A full collection walks every tracked object with the event loop stopped. In a daphne process
    with 1,000 clients that is about 290,000 objects, 190,000 of them from start-up; it took up to
    0.35 s (bench/fanout.py), every few seconds: a pause for every client, and most of the p99
    latency. Frozen, start-up objects are no longer walked; later ones are collected as before.
    Garbage that exists when freezing would stay, hence the collection first.
    """
    if gc.get_freeze_count() == 0:
        gc.collect()
        gc.freeze()


_hubs = weakref.WeakKeyDictionary()


def get_hub():
    """The hub of the running event loop (daphne has one loop; each test has its own)."""
    loop = asyncio.get_running_loop()
    hub = _hubs.get(loop)
    if hub is None:
        hub = _hubs[loop] = Hub(get_channel_layer(), _follower_factory())
    return hub


def _follower_factory():
    """The store follower when REALTIME_FOLLOW_STORE_SECONDS is positive (the default without
    REDIS_URL), else None."""
    interval = settings.REALTIME_FOLLOW_STORE_SECONDS
    if interval <= 0:
        return None
    from realtime.store_follower import StoreFollower  # it needs the ORM; the hub alone does not

    return lambda hub: StoreFollower(hub, interval)
