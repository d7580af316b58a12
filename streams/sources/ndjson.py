"""Newline-delimited JSON streams: X/Twitter v2 filtered stream, or any JSON lines.

Both arrive as one long HTTP response (or a local file / stdin), one JSON object per line.
Blank lines are keep-alives (X sends one every 20 s). Every event leaves this module in the
generic shape ``{"timestamp", "value", "key", "type", "raw"}`` that the generic features read;
the mapping from the original fields is configurable (``FieldMapping``).
"""
import logging
import time

import httpx
import orjson

from streams.sources.base import GENERIC, Backoff, Source, retry_after_seconds

logger = logging.getLogger(__name__)

GENERIC_FIELDS = ("timestamp", "value", "key", "type")


def lookup(event, dotted):
    """``event["a"]["b"]`` for "a.b", or None when any step is missing."""
    value = event
    for part in dotted.split("."):
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    return value


class FieldMapping:
    """Where each generic field comes from, e.g. ``timestamp=created_at,key=user.id``.

    ``value`` defaults to 1 per event (a counter); a missing timestamp means "arrival time".
    """

    def __init__(self, spec=""):
        self.paths = {"timestamp": "timestamp", "value": "value", "key": "key", "type": "type"}
        for item in filter(None, (part.strip() for part in spec.split(","))):
            name, sep, path = item.partition("=")
            if not sep or name.strip() not in GENERIC_FIELDS or not path.strip():
                raise ValueError(
                    f"bad field mapping {item!r}: use name=path with name in {', '.join(GENERIC_FIELDS)}"
                )
            self.paths[name.strip()] = path.strip()

    def to_dict(self):
        return dict(self.paths)

    def apply(self, raw):
        value = lookup(raw, self.paths["value"])
        key, kind = lookup(raw, self.paths["key"]), lookup(raw, self.paths["type"])
        return {
            "timestamp": lookup(raw, self.paths["timestamp"]),
            "value": 1.0 if value is None else value,
            "key": None if key is None else str(key),
            "type": None if kind is None else str(kind),
            "raw": raw,
        }


# The X/Twitter v2 filtered stream: created_at needs tweet.fields=created_at, author_id too.
TWITTER_MAPPING = "timestamp=data.created_at,key=data.author_id,type=data.lang"


class NDJSONSource(Source):
    """JSON lines from an HTTP stream (``url``) or a file-like object (``stream``)."""

    kind = GENERIC
    live = True

    def __init__(
        self,
        *,
        url=None,
        stream=None,
        mapping="",
        flavour="generic",
        bearer_token="",
        user_agent="TopoForge",
        read_timeout=21.0,
        source_type=None,
    ):
        super().__init__()
        if (url is None) == (stream is None):
            raise ValueError("give exactly one of url or stream")
        self.url, self.stream = url, stream
        self.flavour = flavour
        self.mapping = FieldMapping(TWITTER_MAPPING if flavour == "twitter" and not mapping else mapping)
        self.bearer_token = bearer_token
        self.user_agent = user_agent
        self.read_timeout = read_timeout  # X: a keep-alive every 20 s, tweepy waits 21 s
        self.source_type = source_type or ("twitter" if flavour == "twitter" else "ndjson")
        self._response = None

    def describe(self):
        return {"url": self.url, "flavour": self.flavour, "mapping": self.mapping.to_dict()}

    def stop(self):
        super().stop()
        if self._response is not None:
            self._response.close()

    def __iter__(self):
        if self.stream is not None:
            yield from self._lines(self.stream)
            return
        # X's reconnect policy: network errors back off linearly by 250 ms up to 16 s, HTTP
        # errors exponentially from 5 s to 320 s, 429 exponentially from one minute.
        network_delay = 0.0
        http_backoff, limited_backoff = Backoff(5.0, 320.0), Backoff(60.0, 960.0)
        with httpx.Client(timeout=httpx.Timeout(10.0, read=self.read_timeout)) as client:
            while not self.stopped:
                try:
                    with client.stream("GET", self.url, headers=self._headers()) as response:
                        self._response = response
                        if response.status_code == 429:
                            self.stats["rate_limited"] += 1
                            delay = retry_after_seconds(
                                response.headers.get("Retry-After"), limited_backoff.next_delay()
                            )
                        elif response.status_code != 200:
                            self.stats["http_errors"] += 1
                            delay = http_backoff.next_delay()
                        else:
                            self.stats["connections"] += 1
                            network_delay = 0.0
                            http_backoff.reset()
                            limited_backoff.reset()
                            yield from self._lines(response.iter_lines())
                            delay = 0.0  # the server ended the stream: reconnect at once
                except httpx.HTTPError as exc:
                    if self.stopped:
                        break
                    self.stats["network_errors"] += 1
                    logger.warning("ndjson: %s: %s", type(exc).__name__, exc)
                    network_delay = min(16.0, network_delay + 0.25)
                    delay = network_delay
                finally:
                    self._response = None
                self.stats["reconnects"] += 1
                if not self.sleep(delay):
                    break

    def _headers(self):
        headers = {"User-Agent": self.user_agent}
        if self.bearer_token:
            headers["Authorization"] = f"Bearer {self.bearer_token}"
        return headers

    def _lines(self, lines):
        for number, line in enumerate(lines, start=1):
            if self.stopped:
                return
            line = line.strip()
            if not line:
                self.stats["keepalives"] += 1
                yield None  # a heartbeat: time passes even when nothing matches
                continue
            try:
                raw = orjson.loads(line)
            except ValueError:
                raw = None
            if not isinstance(raw, dict) or (self.flavour == "twitter" and "data" not in raw):
                # X may send {"errors": [...]} alone: an operational message, not a post
                self.stats["malformed" if not isinstance(raw, dict) else "errors"] += 1
                continue
            event = self.mapping.apply(raw)
            if event["timestamp"] is None:
                event["timestamp"] = time.time()
            self.stats["events"] += 1
            yield event
