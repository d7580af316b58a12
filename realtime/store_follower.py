"""Live push without Redis: the web process follows the detections table itself.

With the in-memory channel layer, a detection stored by another process (``manage.py detect``)
is announced to that process's own layer and reaches no one here. So while this process has
realtime clients, its hub runs one ``StoreFollower``: every ``REALTIME_FOLLOW_STORE_SECONDS`` it
asks the database for the ids above its cursor (one indexed range query on the primary key) and
hands the rows it has not pushed yet to the hub, exactly as a channel-layer message would.

The cursor stays ``LOOKBACK_SECONDS`` behind the newest id seen, so a row whose id was taken
before a neighbour's but committed after it (PostgreSQL sequences, MongoDB ids from two
processes) is still found; the hub's memory of recent ids (``Hub.dispatch_new``) keeps the
re-read ids, and rows the in-process broadcast already pushed, from going out twice.
With ``REDIS_URL`` set the channel layer carries every process's detections and the follower is
off (``REALTIME_FOLLOW_STORE_SECONDS`` = 0).
"""
import asyncio
import logging
from collections import deque

from channels.db import database_sync_to_async

from anomalies.models import AnomalyLog
from realtime.broadcast import serialize

logger = logging.getLogger(__name__)

LOOKBACK_SECONDS = 5.0
# Ids read per poll. A backlog larger than this (a bulk import) moves the cursor to the last one
# read, so the follower never falls further behind; the lookback then restarts from there.
MAX_IDS_PER_POLL = 5000


@database_sync_to_async
def _newest_pk():
    return AnomalyLog.objects.order_by("-pk").values_list("pk", flat=True).first()


@database_sync_to_async
def _ids_after(floor):
    rows = AnomalyLog.objects.all() if floor is None else AnomalyLog.objects.filter(pk__gt=floor)
    return list(rows.order_by("pk").values_list("pk", flat=True)[:MAX_IDS_PER_POLL])


@database_sync_to_async
def _serialized(pks):
    return serialize(AnomalyLog.objects.filter(pk__in=pks).order_by("pk"))


class StoreFollower:
    def __init__(self, hub, interval, lookback=LOOKBACK_SECONDS):
        self.hub = hub
        self.interval = interval
        self.lookback = lookback
        self.floor = None  # ids above this are read on every poll
        self.primed = False
        self._marks = deque()  # (loop time, newest id seen then): where the floor moves to

    async def prime(self):
        """Start at the newest stored row: history is the page's and Last-Event-ID's to give.
        With the database away, ``run`` tries again (the rows stored meanwhile are not pushed)."""
        try:
            self.floor = await _newest_pk()
        except Exception:
            logger.warning("Realtime store follower could not read the newest detection", exc_info=True)
            return
        self.primed = True

    async def run(self):
        while True:
            await asyncio.sleep(self.interval)
            if not self.primed:
                await self.prime()
                continue
            try:
                await self.poll()
            except asyncio.CancelledError:
                raise
            except Exception:  # the database is away: say so, try again at the next interval
                logger.warning("Realtime store follower could not read the detections", exc_info=True)

    async def poll(self):
        """Push the rows stored since the last polls; return how many were new."""
        ids = await _ids_after(self.floor)
        unseen = [pk for pk in ids if not self.hub.has_pushed(str(pk))]
        pushed = 0
        if unseen:
            pushed = self.hub.dispatch_new(await _serialized(unseen))
        now = asyncio.get_running_loop().time()
        if len(ids) >= MAX_IDS_PER_POLL:
            self.floor, self._marks = ids[-1], deque()
        elif ids:
            self._marks.append((now, ids[-1]))
        while self._marks and now - self._marks[0][0] >= self.lookback:
            self.floor = self._marks.popleft()[1]
        return pushed
