"""``/ws/anomalies``: stored detections pushed to authenticated WebSocket clients.

Authentication, in order: ``?ticket=`` (single use, from ``POST /api/realtime/ticket``), an access
token offered as the subprotocol ``bearer.<token>`` next to ``topoforge.v1`` (the server answers
with ``topoforge.v1``; the token never appears in a URL or a log line), or the dashboard's Django
session cookie. A bad, expired or revoked credential closes with 4401; a browser page from a
foreign origin with 4403; a client that cannot keep up with 4408.

Client → server: ``{"subscribe": {"source": "wikipedia", "min_score": 0.7, "anomalies_only": true}}``,
optionally with ``"coalesce": true`` or ``"batch_ms": 200`` beside ``subscribe`` (see ``MIN_BATCH_MS``).
Server → client: ``{"type": "anomaly", "data": {...}}`` (the JSON of ``GET /api/anomalies/{id}``),
or, with coalescing when several detections wait and with batching always,
``{"type": "anomalies", "data": [{...}, ...]}``; ``{"type": "ping"}`` every
``REALTIME_PING_SECONDS``, ``welcome``/``subscribed``/``error``.

Detections are sent by the hub's sweep (``realtime.hub``), everything else by the consumer itself;
daphne's ``send`` only hands the frame to the socket, so neither waits for the other.
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
from realtime.hub import SweepFrames, get_hub
from realtime.tickets import redeem_ticket

logger = logging.getLogger(__name__)

SUBPROTOCOL = "topoforge.v1"
BEARER_PREFIX = "bearer."
MAX_CLIENT_MESSAGE_BYTES = 4096
# At high rates and many clients the cost of a WebSocket frame, not of a detection, is what limits
# a server; two opt-ins (next to ``"subscribe"``) send fewer frames. Coalescing: a detection is sent
# at once, but when several wait for the same client they go as one ``anomalies`` message. Batching
# (``"batch_ms"``): one ``anomalies`` message per period. Without either, one ``anomaly`` message
# per detection, as the protocol has always promised.
MIN_BATCH_MS, MAX_BATCH_MS = 50, 10_000
MAX_BATCH = 500
CLOSE_UNAVAILABLE = 1011


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


def _parse_coalesce(value):
    if value is None:
        return False
    if not isinstance(value, bool):
        raise FilterError({"coalesce": ["true or false."]})
    return value


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
    coalesce = False
    batch_seconds = 0
    batch_timer = None
    flush_due = False  # in the hub's list of clients to flush
    overdue = 0  # detections offered since then; REALTIME_SEND_QUEUE_SIZE of them drop the client

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
        self.queue_size = settings.REALTIME_SEND_QUEUE_SIZE
        self.hub = get_hub()
        await self._send_message(
            {
                "type": "welcome",
                "user": self.identity.username,
                "subscription": self.subscription.as_dict(),
                "ping_seconds": settings.REALTIME_PING_SECONDS,
            }
        )
        self.tasks = [asyncio.create_task(self._keep_alive())]
        try:
            await self.hub.add(self)
        except Exception:  # the channel layer (Redis) is down: say so instead of a silent socket
            logger.exception("Realtime client could not join the channel layer")
            self.identity = None
            await self._error("unavailable", "Live updates are unavailable; retry shortly.")
            await self._close(CLOSE_UNAVAILABLE)

    async def disconnect(self, code):
        self._stop_sending()
        if self.identity is not None:
            await self.hub.remove(self)
        current = asyncio.current_task()
        for task in self.tasks:
            if task is not current:
                task.cancel()

    # --- from the client -----------------------------------------------------------------------

    async def receive(self, text_data=None, bytes_data=None):
        if self.identity is None:
            return
        if text_data is None or len(text_data) > MAX_CLIENT_MESSAGE_BYTES:
            return await self._error("invalid_message", "Send JSON text messages of at most 4 KiB.")
        try:
            content = json.loads(text_data)
        except ValueError:
            return await self._error("invalid_message", "The message is not JSON.")
        await self.receive_json(content)

    async def receive_json(self, content, **kwargs):
        if not isinstance(content, dict):
            return await self._error("invalid_message", "Expected a JSON object.")
        if "subscribe" in content:
            try:
                subscription = Subscription.parse(content["subscribe"])
                coalesce = _parse_coalesce(content.get("coalesce"))
                batch_ms = _parse_batch_ms(content.get("batch_ms"))
            except FilterError as error:
                return await self._error("invalid", "The subscription has invalid filters.", error.fields)
            await self.flush(SweepFrames())  # what waits was chosen by the old filters: send it first
            self.subscription, self.coalesce, self.batch_seconds = subscription, coalesce, batch_ms / 1000
            return await self._send_message(
                {
                    "type": "subscribed",
                    "subscription": subscription.as_dict(),
                    "coalesce": coalesce,
                    "batch_ms": batch_ms,
                }
            )
        if content.get("type") in ("pong", "ping"):
            return None
        return await self._error("unknown_message", 'Send {"subscribe": {...}} or {"type": "pong"}.')

    # --- detections: offered by the hub, sent by its sweep --------------------------------------

    def offer(self, detection, encoded):
        """Called by the hub for every detection; never blocks."""
        if self.closing or not self.subscription.matches(detection):
            return
        self.pending.append(encoded)
        if self.flush_due:
            self.overdue += 1
            if self.overdue >= self.queue_size:
                self._drop_slow_client()
        elif not self.batch_seconds or len(self.pending) >= MAX_BATCH:
            self._ask_for_flush()
        elif self.batch_timer is None:
            self.batch_timer = asyncio.get_running_loop().call_later(self.batch_seconds, self._ask_for_flush)

    def _ask_for_flush(self):
        self._cancel_batch_timer()
        if not self.flush_due and self.pending and not self.closing:
            self.flush_due = True
            self.hub.flush_soon(self)

    async def flush(self, frames):
        """Send what waits: one ``anomaly`` message each, or one ``anomalies`` message (coalescing
        when several wait, batching always). ``frames`` shares batch texts between clients."""
        self._cancel_batch_timer()
        self.flush_due, self.overdue = False, 0
        items, self.pending = self.pending, []
        if not items or self.closing:
            return
        if self.batch_seconds or (self.coalesce and len(items) > 1):
            await self.send(text_data=frames.batch(items))
            return
        for item in items:
            await self.send(text_data=item.message)

    def _cancel_batch_timer(self):
        if self.batch_timer is not None:
            self.batch_timer.cancel()
            self.batch_timer = None

    def _stop_sending(self):
        """No detection is kept or sent from now on (the connection is closing)."""
        self.closing = True
        self.pending = []
        self._cancel_batch_timer()

    def _drop_slow_client(self):
        logger.warning(
            "Dropping slow realtime client %s: %d detections waiting", self.identity.username, len(self.pending)
        )
        self._stop_sending()
        for task in self.tasks:
            task.cancel()
        self.tasks.append(asyncio.create_task(self.close(code=ids.CLOSE_TOO_SLOW)))

    # --- everything else -----------------------------------------------------------------------

    async def _send_message(self, message):
        await self.send(text_data=json.dumps(message, separators=(",", ":")))

    async def _error(self, code, message, fields=None):
        await self._send_message(
            {"type": "error", "error": {"code": code, "message": message, "fields": fields or {}}}
        )

    async def _close(self, code):
        self._stop_sending()
        await self.close(code=code)

    async def _refuse(self, failure):
        await self._error(failure.code, failure.message)
        await self.close(code=failure.close_code)

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
                    await self.flush(SweepFrames())
                    await self._error(reason, "The login of this connection has ended.")
                    return await self._close(ids.CLOSE_UNAUTHENTICATED)
            if now >= next_ping:
                next_ping = now + ping_every
                await self._send_message({"type": "ping", "time": timezone.now().isoformat().replace("+00:00", "Z")})
