"""``/ws/anomalies``: stored detections pushed to authenticated WebSocket clients.

Authentication, in order: ``?ticket=`` (single use, from ``POST /api/realtime/ticket``), an access
token offered as the subprotocol ``bearer.<token>`` next to ``topoforge.v1`` (the server answers
with ``topoforge.v1``; the token never appears in a URL or a log line), or the dashboard's Django
session cookie. A bad, expired or revoked credential closes with 4401; a browser page from a
foreign origin with 4403; a client that cannot keep up with 4408.

Client → server: ``{"subscribe": {"source": "wikipedia", "min_score": 0.7, "anomalies_only": true}}``,
optionally with ``"batch_ms": 200`` beside ``subscribe`` (see ``MIN_BATCH_MS``).
Server → client: ``{"type": "anomaly", "data": {...}}`` (the JSON of ``GET /api/anomalies/{id}``),
or with batching ``{"type": "anomalies", "data": [{...}, ...]}``,
``{"type": "ping"}`` every ``REALTIME_PING_SECONDS``, ``welcome``/``subscribed``/``error``.
"""
import asyncio
import json
import logging
from urllib.parse import parse_qs

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.conf import settings
from django.utils import timezone

from accounts.authentication import TokenError
from realtime import identity as ids
from realtime.filters import FilterError, Subscription
from realtime.hub import batch_message, get_hub
from realtime.tickets import redeem_ticket

logger = logging.getLogger(__name__)

SUBPROTOCOL = "topoforge.v1"
BEARER_PREFIX = "bearer."
MAX_CLIENT_MESSAGE_BYTES = 4096
# Batching (opt-in, ``"batch_ms"`` next to ``"subscribe"``): one ``anomalies`` message per period
# instead of one ``anomaly`` message per detection. At high rates and many clients the cost of a
# WebSocket frame, not of a detection, is what limits a server.
MIN_BATCH_MS, MAX_BATCH_MS = 50, 10_000
MAX_BATCH = 500
CLOSE_UNAVAILABLE = 1011


class _Close:
    def __init__(self, code):
        self.code = code


def _header(scope, name):
    for key, value in scope.get("headers", []):
        if key == name:
            return value.decode("latin-1")
    return ""


@database_sync_to_async
def _authenticate(scope):
    """The connection's ``Identity``, or ``AuthFailure``."""
    tickets = parse_qs(scope.get("query_string", b"").decode("latin-1")).get("ticket")
    if tickets:
        identity = redeem_ticket(tickets[0])
        if identity is None:
            raise ids.AuthFailure("ticket_invalid", "The ticket is unknown, expired or already used.")
        return identity
    bearer = [p for p in scope.get("subprotocols", []) if p.startswith(BEARER_PREFIX)]
    if bearer:
        try:
            return ids.identity_from_access_token(bearer[0][len(BEARER_PREFIX) :])
        except TokenError as error:
            raise ids.AuthFailure(error.error_code, str(error.detail)) from None
    user = scope.get("user")
    if user is not None and user.is_authenticated:
        return ids.identity_from_django_session(user, scope["session"].session_key)
    raise ids.AuthFailure(
        "auth_missing", "Authenticate with a ticket, a bearer subprotocol or a session cookie."
    )


def _parse_batch_ms(value):
    """0 or absent: one message per detection. Else the batching period, in milliseconds."""
    if value in (None, 0):
        return 0
    if isinstance(value, bool) or not isinstance(value, int) or not MIN_BATCH_MS <= value <= MAX_BATCH_MS:
        raise FilterError({"batch_ms": [f"0, or an integer from {MIN_BATCH_MS} to {MAX_BATCH_MS}."]})
    return value


class AnomalyConsumer(AsyncJsonWebsocketConsumer):
    identity = None
    closing = False
    batch_seconds = 0
    batch_task = None

    async def connect(self):
        self.tasks = []
        offered = self.scope.get("subprotocols", [])
        subprotocol = SUBPROTOCOL if SUBPROTOCOL in offered else None
        await self.accept(subprotocol)  # close codes 44xx reach the client only after the handshake
        origin, host = _header(self.scope, b"origin"), _header(self.scope, b"host")
        if not ids.origin_allowed(origin, host, self.scope.get("scheme", "ws")):
            failure = ids.AuthFailure(
                "origin_forbidden", "This origin may not open the stream.", ids.CLOSE_FORBIDDEN
            )
            return await self._refuse(failure)
        try:
            self.identity = await _authenticate(self.scope)
        except ids.AuthFailure as failure:
            return await self._refuse(failure)

        self.subscription = Subscription()
        self.pending = []
        self.queue = asyncio.Queue(maxsize=settings.REALTIME_SEND_QUEUE_SIZE)
        self._enqueue(
            {
                "type": "welcome",
                "user": self.identity.username,
                "subscription": self.subscription.as_dict(),
                "ping_seconds": settings.REALTIME_PING_SECONDS,
            }
        )
        self.tasks = [asyncio.create_task(self._send_queued()), asyncio.create_task(self._keep_alive())]
        try:
            await get_hub().add(self)
        except Exception:  # the channel layer (Redis) is down: say so instead of a silent socket
            logger.exception("Realtime client could not join the channel layer")
            self.identity = None
            self._error("unavailable", "Live updates are unavailable; retry shortly.")
            self._enqueue(_Close(CLOSE_UNAVAILABLE))

    async def disconnect(self, code):
        self.closing = True
        if self.identity is not None:
            await get_hub().remove(self)
        current = asyncio.current_task()
        for task in self.tasks:
            if task is not current:
                task.cancel()

    # --- from the client -----------------------------------------------------------------------

    async def receive(self, text_data=None, bytes_data=None):
        if self.identity is None:
            return
        if text_data is None or len(text_data) > MAX_CLIENT_MESSAGE_BYTES:
            return self._error("invalid_message", "Send JSON text messages of at most 4 KiB.")
        try:
            content = json.loads(text_data)
        except ValueError:
            return self._error("invalid_message", "The message is not JSON.")
        await self.receive_json(content)

    async def receive_json(self, content, **kwargs):
        if not isinstance(content, dict):
            return self._error("invalid_message", "Expected a JSON object.")
        if "subscribe" in content:
            try:
                subscription = Subscription.parse(content["subscribe"])
                batch_ms = _parse_batch_ms(content.get("batch_ms"))
            except FilterError as error:
                return self._error("invalid", "The subscription has invalid filters.", error.fields)
            self.subscription = subscription
            self._set_batching(batch_ms)
            return self._enqueue(
                {"type": "subscribed", "subscription": subscription.as_dict(), "batch_ms": batch_ms}
            )
        if content.get("type") in ("pong", "ping"):
            return None
        return self._error("unknown_message", 'Send {"subscribe": {...}} or {"type": "pong"}.')

    # --- to the client -------------------------------------------------------------------------

    def offer(self, detection, encoded):
        """Called by the hub for every detection; never blocks."""
        if self.closing or not self.subscription.matches(detection):
            return
        if self.batch_seconds:
            self.pending.append(encoded)
            if len(self.pending) >= MAX_BATCH:
                self._flush()
            return
        try:
            self.queue.put_nowait(encoded.message)
        except asyncio.QueueFull:
            self._drop_slow_client()

    def _flush(self):
        if self.pending:
            items, self.pending = self.pending, []
            self._enqueue(batch_message(items))

    async def _flush_batches(self):
        while True:
            await asyncio.sleep(self.batch_seconds)
            self._flush()

    def _set_batching(self, batch_ms):
        self._flush()
        if self.batch_task is not None:
            self.batch_task.cancel()
            self.tasks.remove(self.batch_task)
            self.batch_task = None
        self.batch_seconds = batch_ms / 1000
        if batch_ms:
            self.batch_task = asyncio.create_task(self._flush_batches())
            self.tasks.append(self.batch_task)

    def _drop_slow_client(self):
        self.closing = True
        logger.warning(
            "Dropping slow realtime client %s: %d messages queued", self.identity.username, self.queue.qsize()
        )
        for task in self.tasks:
            task.cancel()
        self.tasks.append(asyncio.create_task(self.close(code=ids.CLOSE_TOO_SLOW)))

    def _enqueue(self, item):
        if not isinstance(item, (str, _Close)):
            item = json.dumps(item, separators=(",", ":"))
        try:
            self.queue.put_nowait(item)
        except asyncio.QueueFull:
            self._drop_slow_client()

    def _error(self, code, message, fields=None):
        self._enqueue({"type": "error", "error": {"code": code, "message": message, "fields": fields or {}}})

    async def _refuse(self, failure):
        await self.send_json(
            {"type": "error", "error": {"code": failure.code, "message": failure.message, "fields": {}}}
        )
        await self.close(code=failure.close_code)

    async def _send_queued(self):
        while True:
            item = await self.queue.get()
            if isinstance(item, _Close):
                self.closing = True
                await self.close(code=item.code)
                return
            await self.send(text_data=item)

    async def _keep_alive(self):
        """Ping every REALTIME_PING_SECONDS; re-check the login every REALTIME_SESSION_CHECK_SECONDS."""
        loop = asyncio.get_running_loop()
        ping_every = settings.REALTIME_PING_SECONDS
        check_every = settings.REALTIME_SESSION_CHECK_SECONDS
        next_ping, next_check = loop.time() + ping_every, loop.time() + check_every
        while not self.closing:
            await asyncio.sleep(max(0.0, min(next_ping, next_check) - loop.time()))
            now = loop.time()
            if now >= next_check:
                next_check = now + check_every
                reason = await database_sync_to_async(ids.revocation_reason)(self.identity)
                if reason is not None:
                    self._error(reason, "The login of this connection has ended.")
                    self._enqueue(_Close(ids.CLOSE_UNAUTHENTICATED))
                    return
            if now >= next_ping:
                next_ping = now + ping_every
                self._enqueue({"type": "ping", "time": timezone.now().isoformat().replace("+00:00", "Z")})
