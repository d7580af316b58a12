"""Wikimedia EventStreams ``recentchange`` over Server-Sent Events.

One upstream connection per process (WMF polices connections per client IP, see STREAMS.md
§1.1): a second concurrent ``WikimediaSource`` in the same process is refused. The stream is
resumed with ``Last-Event-ID`` after the server's periodic close (every ~15 minutes), after
errors and after a restart (the id comes back from the pipeline's checkpoint).
"""
import logging
import threading

import httpx
import orjson
from httpx_sse import SSEError, connect_sse

from streams.sources.base import RECENTCHANGE, Backoff, Source, retry_after_seconds

logger = logging.getLogger(__name__)

DEFAULT_URL = "https://stream.wikimedia.org/v2/stream/recentchange"

# Held while a WikimediaSource is iterating: at most one upstream connection per process.
_upstream_slot = threading.Lock()


class UpstreamBusy(RuntimeError):
    """Another WikimediaSource of this process already holds the upstream connection."""


def user_agent(version, contact):
    """The User-Agent Wikimedia's policy asks for: client/version (contact) library/version."""
    return f"TopoForge/{version} ({contact}) httpx/{httpx.__version__}"


class WikimediaSource(Source):
    kind = RECENTCHANGE
    source_type = "wikipedia"
    live = True

    def __init__(
        self,
        url=DEFAULT_URL,
        *,
        user_agent,
        resume_from="",
        read_timeout=60.0,
        backoff_base=1.0,
        backoff_cap=60.0,
        rate_limited_default=60.0,
    ):
        super().__init__(resume_from)
        self.url = url
        self.user_agent = user_agent
        self.read_timeout = read_timeout
        self.backoff = Backoff(backoff_base, backoff_cap)
        self.rate_limited_backoff = Backoff(rate_limited_default, 15 * 60.0)
        self._response = None

    def describe(self):
        return {"url": self.url}

    def stop(self):
        super().stop()
        response = self._response
        if response is not None:
            response.close()  # unblocks a read waiting on a quiet socket

    def __iter__(self):
        if not _upstream_slot.acquire(blocking=False):
            raise UpstreamBusy("this process already holds its one Wikimedia upstream connection")
        try:
            timeout = httpx.Timeout(10.0, read=self.read_timeout)
            with httpx.Client(timeout=timeout) as client:
                while not self.stopped:
                    delay = yield from self._connection(client)
                    if self.stopped:
                        break
                    self.stats["reconnects"] += 1
                    if delay:
                        logger.warning("wikimedia: reconnecting in %.1f s", delay)
                        if not self.sleep(delay):
                            break
        finally:
            _upstream_slot.release()

    def _headers(self):
        headers = {"User-Agent": self.user_agent, "Accept": "text/event-stream"}
        if self.last_event_id:
            headers["Last-Event-ID"] = self.last_event_id
        return headers

    def _connection(self, client):
        """Yield the events of one connection; return the delay before the next one.

        A clean end of stream (the server's periodic close) after some events returns 0:
        reconnect at once. A connection that ends without delivering anything backs off, so a
        misbehaving server is not hammered.
        """
        delivered = 0
        try:
            with connect_sse(client, "GET", self.url, headers=self._headers()) as source:
                self._response = source.response
                status = source.response.status_code
                if status == 429:
                    self.stats["rate_limited"] += 1
                    default = self.rate_limited_backoff.next_delay()
                    return retry_after_seconds(source.response.headers.get("Retry-After"), default)
                if status != 200:
                    self.stats["http_errors"] += 1
                    logger.warning("wikimedia: HTTP %s from %s", status, self.url)
                    return self.backoff.next_delay()
                self.stats["connections"] += 1
                for sse in source.iter_sse():
                    if self.stopped:
                        return 0  # nothing after a stop: the saved id must match what was used
                    if sse.event == "error":
                        self.stats["stream_errors"] += 1
                        logger.warning("wikimedia: error event %s", sse.data[:300])
                        return self.backoff.next_delay()
                    if sse.id:
                        self.last_event_id = sse.id
                    if not sse.data:
                        continue  # an id-only or empty block: nothing to decode
                    event = self._decode(sse.data)
                    if event is None:
                        continue
                    self.backoff.reset()
                    self.rate_limited_backoff.reset()
                    self.stats["events"] += 1
                    delivered += 1
                    yield event
            return 0 if delivered else self.backoff.next_delay()
        except (httpx.HTTPError, SSEError) as exc:
            if self.stopped:
                return 0
            self.stats["network_errors"] += 1
            logger.warning("wikimedia: %s: %s", type(exc).__name__, exc)
            return self.backoff.next_delay()
        finally:
            self._response = None

    def _decode(self, data):
        """The event of one ``data`` field, or None (malformed, or a canary to drop)."""
        try:
            event = orjson.loads(data)
        except ValueError:
            event = None
        if not isinstance(event, dict):
            self.stats["malformed"] += 1
            return None
        meta = event.get("meta")
        if isinstance(meta, dict) and meta.get("domain") == "canary":
            self.stats["canaries"] += 1
            return None
        return event
