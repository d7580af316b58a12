"""``GET /api/realtime/stream``: stored detections as Server-Sent Events.

Each detection is ``id: <detection id>`` / ``event: anomaly`` / ``data: <GET /api/anomalies/{id}
JSON>``. A client that reconnects with ``Last-Event-ID`` first gets what it missed, from the
database, then the live events (learnt through the channel layer, so a detector in another process
is seen too), without duplicates. At most REALTIME_SSE_MAX_EVENTS events per
REALTIME_SSE_RATE_WINDOW_SECONDS per connection; past that, events are counted, not sent, and when
the window ends a ``skipped`` event says how many and which ids, so the client can fetch them
from the API (or reconnect with Last-Event-ID) and nothing is lost silently.
"""
import asyncio
import json
import time

from channels.db import database_sync_to_async
from django.conf import settings
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import StreamingHttpResponse
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework.exceptions import ValidationError
from rest_framework.permissions import IsAuthenticated
from rest_framework.renderers import JSONRenderer
from rest_framework.settings import api_settings
from rest_framework.views import APIView

from anomalies.models import AnomalyLog
from realtime import identity as ids
from realtime.authentication import TicketAuthentication
from realtime.broadcast import serialize
from realtime.filters import FilterError, Subscription
from realtime.hub import get_hub
from topoforge.openapi import BAD_REQUEST, UNAUTHENTICATED

REPLAY_PAGE = 100
RETRY_MILLISECONDS = 3000


def _iso_now():
    return timezone.now().isoformat().replace("+00:00", "Z")


def format_event(data, event=None, event_id=None):
    lines = []
    if event_id is not None:
        lines.append(f"id: {event_id}")
    if event is not None:
        lines.append(f"event: {event}")
    lines.append("data: " + json.dumps(data, separators=(",", ":")))
    return "\n".join(lines) + "\n\n"


class RateLimiter:
    """A fixed window of ``limit`` events; what does not fit is counted for the summary."""

    def __init__(self, limit, window, clock=time.monotonic):
        self.limit, self.window, self.clock = limit, window, clock
        self.window_start = clock()
        self.sent = 0
        self._reset_skipped()

    def _reset_skipped(self):
        self.skipped, self.from_id, self.to_id = 0, None, None

    def window_ends_at(self):
        return self.window_start + self.window

    def allow(self):
        if self.clock() >= self.window_ends_at() and not self.skipped:
            self.window_start, self.sent = self.clock(), 0
        if self.sent < self.limit:
            self.sent += 1
            return True
        return False

    def skip(self, from_id, to_id=None, count=1):
        self.skipped += count
        self.from_id = self.from_id or from_id
        self.to_id = to_id or from_id

    def due_summary(self):
        """The summary of a finished window that skipped events (and a fresh window), or None."""
        if not self.skipped or self.clock() < self.window_ends_at():
            return None
        summary = {
            "skipped": self.skipped,
            "from_id": self.from_id,
            "to_id": self.to_id,
            "limit": self.limit,
            "window_seconds": self.window,
        }
        self._reset_skipped()
        self.window_start, self.sent = self.clock(), 0
        return summary


class StreamClient:
    """The hub's view of one SSE connection: a filter and a bounded queue."""

    def __init__(self, subscription, size):
        self.subscription = subscription
        self.queue = asyncio.Queue(maxsize=size)
        self.overflowed = False

    def offer(self, detection, encoded):
        if self.overflowed or not self.subscription.matches(detection):
            return
        try:
            self.queue.put_nowait(detection)
        except asyncio.QueueFull:
            self.overflowed = True


def _pk(value):
    return AnomalyLog._meta.pk.to_python(value)


@database_sync_to_async
def _newest_pk(subscription):
    newest = subscription.filter_queryset(AnomalyLog.objects.all()).order_by("-pk").values_list("pk", flat=True)
    return newest.first()


@database_sync_to_async
def _replay_page(subscription, after, ceiling):
    rows = subscription.filter_queryset(AnomalyLog.objects.filter(pk__gt=after, pk__lte=ceiling))
    return serialize(rows.order_by("pk")[:REPLAY_PAGE])


@database_sync_to_async
def _remaining(subscription, after, ceiling):
    rows = subscription.filter_queryset(AnomalyLog.objects.filter(pk__gt=after, pk__lte=ceiling))
    ids_ = rows.order_by("pk").values_list("pk", flat=True)
    return rows.count(), ids_.first(), rows.order_by("-pk").values_list("pk", flat=True).first()


async def event_stream(identity, subscription, after_pk):
    limiter = RateLimiter(settings.REALTIME_SSE_MAX_EVENTS, settings.REALTIME_SSE_RATE_WINDOW_SECONDS)
    client = StreamClient(subscription, settings.REALTIME_SEND_QUEUE_SIZE)
    hub = get_hub()
    await hub.add(client)  # before the replay's ceiling is read: nothing falls between the two
    try:
        yield f"retry: {RETRY_MILLISECONDS}\n: connected {_iso_now()}\n\n"
        ceiling = None
        if after_pk is not None:
            ceiling = await _newest_pk(subscription)
            after = after_pk
            while ceiling is not None and after < ceiling:
                page = await _replay_page(subscription, after, ceiling)
                if not page:
                    break
                for detection in page:
                    if not limiter.allow():
                        count, first, last = await _remaining(subscription, after, ceiling)
                        limiter.skip(str(first), str(last), count)
                        after = ceiling
                        break
                    after = _pk(detection["id"])
                    yield format_event(detection, "anomaly", detection["id"])
        async for chunk in _live(identity, client, limiter, ceiling):
            yield chunk
    finally:
        await hub.remove(client)


async def _live(identity, client, limiter, ceiling):
    loop = asyncio.get_running_loop()
    heartbeat_every = settings.REALTIME_SSE_HEARTBEAT_SECONDS
    check_every = settings.REALTIME_SESSION_CHECK_SECONDS
    next_heartbeat, next_check = loop.time() + heartbeat_every, loop.time() + check_every
    while True:
        wake = min(next_heartbeat, next_check)
        if limiter.skipped:
            wake = min(wake, loop.time() + max(0.0, limiter.window_ends_at() - limiter.clock()))
        try:
            detection = await asyncio.wait_for(client.queue.get(), max(0.0, wake - loop.time()))
        except asyncio.TimeoutError:
            detection = None
        summary = limiter.due_summary()
        if summary is not None:
            yield format_event(summary, "skipped")
        if client.overflowed:
            yield format_event(
                {"error": {"code": "too_slow", "message": "Reconnect with Last-Event-ID.", "fields": {}}},
                "error",
            )
            return
        if detection is not None and (ceiling is None or _pk(detection["id"]) > ceiling):
            if limiter.allow():
                yield format_event(detection, "anomaly", detection["id"])
            else:
                limiter.skip(detection["id"])
        now = loop.time()
        if now >= next_heartbeat:
            next_heartbeat = now + heartbeat_every
            yield f": heartbeat {_iso_now()}\n\n"
        if now >= next_check:
            next_check = now + check_every
            reason = await database_sync_to_async(ids.revocation_reason)(identity)
            if reason is not None:
                message = "The login of this stream has ended."
                yield format_event({"error": {"code": reason, "message": message, "fields": {}}}, "error")
                return


FILTER_PARAMETERS = [
    OpenApiParameter("source", OpenApiTypes.STR, description="Only this source_type."),
    OpenApiParameter("min_score", OpenApiTypes.FLOAT, description="Only anomaly_score >= this, in [0, 1]."),
    OpenApiParameter("anomalies_only", OpenApiTypes.BOOL, description="Only flagged detections."),
    OpenApiParameter("ticket", OpenApiTypes.STR, description="Single-use ticket (POST /api/realtime/ticket)."),
    OpenApiParameter(
        "Last-Event-ID",
        OpenApiTypes.STR,
        OpenApiParameter.HEADER,
        description="Replay the detections after this id first (EventSource sends it on reconnect).",
    ),
    OpenApiParameter("last_event_id", OpenApiTypes.STR, description="Same as the Last-Event-ID header."),
]


class StreamView(APIView):
    authentication_classes = [TicketAuthentication, *api_settings.DEFAULT_AUTHENTICATION_CLASSES]
    permission_classes = [IsAuthenticated]

    def perform_content_negotiation(self, request, force=False):
        # Errors are JSON whatever the Accept header says (EventSource asks for text/event-stream).
        return JSONRenderer(), JSONRenderer.media_type

    @extend_schema(
        tags=["realtime"],
        summary="Stream stored detections as Server-Sent Events",
        description=(
            "`text/event-stream`. Events: `anomaly` (id = detection id, data = the JSON of "
            "GET /api/anomalies/{id}), `skipped` (rate limit summary: skipped, from_id, to_id, limit, "
            "window_seconds), `error` (the login ended; the stream closes). Comment lines are "
            "heartbeats. Authenticate with `Authorization: Bearer`, `?ticket=` or the session cookie."
        ),
        parameters=FILTER_PARAMETERS,
        responses={
            (200, "text/event-stream"): OpenApiResponse(OpenApiTypes.STR, description="The event stream."),
            400: BAD_REQUEST,
            401: UNAUTHENTICATED,
        },
    )
    def get(self, request):
        params = {name: request.query_params.get(name) for name in ("source", "min_score", "anomalies_only")}
        try:
            subscription = Subscription.parse(params)
        except FilterError as error:
            raise ValidationError(error.fields) from None
        after_pk = self._last_event_id(request)
        response = StreamingHttpResponse(
            event_stream(ids.identity_from_request(request), subscription, after_pk),
            content_type="text/event-stream; charset=utf-8",
        )
        response["Cache-Control"] = "no-cache"
        response["X-Accel-Buffering"] = "no"  # nginx: do not buffer the stream
        return response

    def _last_event_id(self, request):
        raw = request.headers.get("Last-Event-ID") or request.query_params.get("last_event_id")
        if not raw:
            return None
        try:
            return _pk(raw.strip())
        except (DjangoValidationError, TypeError, ValueError):
            raise ValidationError({"Last-Event-ID": ["Not a detection id."]}) from None
