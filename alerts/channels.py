"""Senders, one per channel type. Each raises ``DeliveryError`` when the notification did not go.

Webhooks are signed: ``X-TopoForge-Signature: sha256=<hex>`` is the HMAC-SHA256, keyed with the
config's secret, of ``<X-TopoForge-Timestamp>.<raw body>``. Receivers recompute it and refuse
timestamps older than a few minutes, so a captured request cannot be replayed later.
"""
import hashlib
import hmac
import json
import time
from urllib.parse import urlsplit, urlunsplit

import httpx
from django.conf import settings
from django.core.mail import EmailMessage

from alerts import messages
from alerts.ssrf import UnsafeTarget, vetted_address

WEBHOOK_TIMEOUT_SECONDS = 5.0
RESPONSE_EXCERPT_BYTES = 300
# 4xx answers worth retrying: the receiver is overloaded or asks us to come back.
RETRYABLE_CLIENT_ERRORS = frozenset({408, 425, 429})


class DeliveryError(Exception):
    """The channel did not accept the notification. ``permanent``: retrying will not help."""

    def __init__(self, message, *, permanent=False):
        super().__init__(message)
        self.permanent = permanent


def signature(secret, timestamp, body):
    material = f"{timestamp}.".encode() + body
    return "sha256=" + hmac.new(secret.encode(), material, hashlib.sha256).hexdigest()


def verify_signature(secret, timestamp, body, header, *, tolerance_seconds=300, now=None):
    """What a receiver does (documented in the README); used by the tests' receiver too."""
    now = time.time() if now is None else now
    try:
        fresh = abs(now - int(timestamp)) <= tolerance_seconds
    except (TypeError, ValueError):
        return False
    return fresh and hmac.compare_digest(signature(secret, timestamp, body), header or "")


def _encode(document):
    return json.dumps(document, separators=(",", ":"), ensure_ascii=False).encode()


def post_json(url, body, headers):
    """POST ``body`` to ``url`` at the address the SSRF guard vetted; no redirects, 5 s timeout.

    The name is resolved once, by the guard; the connection goes to that address with the original
    Host header and TLS server name, so certificates are still checked against the host name.
    """
    try:
        address = vetted_address(url)
    except UnsafeTarget as error:
        raise DeliveryError(f"Refused target: {error}", permanent=True) from None
    parts = urlsplit(url)
    literal = f"[{address}]" if ":" in address else address
    port = f":{parts.port}" if parts.port else ""
    pinned = urlunsplit((parts.scheme, f"{literal}{port}", parts.path or "/", parts.query, ""))
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    headers = {**headers, "Host": f"{host}{port}"}
    extensions = {"sni_hostname": parts.hostname} if parts.scheme == "https" else {}
    try:
        # trust_env=False: no proxy from the environment, which would resolve the name again.
        with httpx.Client(
            timeout=WEBHOOK_TIMEOUT_SECONDS, follow_redirects=False, trust_env=False
        ) as client:
            request = client.build_request(
                "POST", pinned, content=body, headers=headers, extensions=extensions
            )
            response = client.send(request, stream=True)
            try:
                excerpt = _excerpt(response)
            finally:
                response.close()
    except httpx.TimeoutException:
        raise DeliveryError(f"Timed out after {WEBHOOK_TIMEOUT_SECONDS:g} s.") from None
    except httpx.HTTPError as error:
        raise DeliveryError(f"Connection failed: {error.__class__.__name__}: {error}") from None
    _raise_for_status(response.status_code, excerpt)
    return response.status_code


def _excerpt(response):
    received = b""
    for chunk in response.iter_bytes():
        received += chunk
        if len(received) >= RESPONSE_EXCERPT_BYTES:
            break
    return received[:RESPONSE_EXCERPT_BYTES].decode("utf-8", "replace").strip()


def _raise_for_status(status, excerpt):
    if 200 <= status < 300:
        return
    detail = f"HTTP {status}" + (f": {excerpt}" if excerpt else "")
    if 300 <= status < 400:
        raise DeliveryError(f"{detail} (redirects are not followed)", permanent=True)
    if 400 <= status < 500 and status not in RETRYABLE_CLIENT_ERRORS:
        raise DeliveryError(detail, permanent=True)
    raise DeliveryError(detail)


def _user_agent():
    return f"TopoForge/{settings.TOPOFORGE_VERSION} (+alerts)"


def send_webhook(delivery, body):
    raw = _encode(body)
    timestamp = str(int(time.time()))
    headers = {
        "Content-Type": "application/json",
        "User-Agent": _user_agent(),
        "X-TopoForge-Event": delivery.kind,
        "X-TopoForge-Delivery": str(delivery.pk),
        "X-TopoForge-Timestamp": timestamp,
        "X-TopoForge-Signature": signature(delivery.config.secret, timestamp, raw),
    }
    post_json(delivery.channel["target"], raw, headers)


def send_slack(delivery, body):
    headers = {"Content-Type": "application/json", "User-Agent": _user_agent()}
    post_json(delivery.channel["target"], _encode(messages.slack_body(body)), headers)


def send_email(delivery, body):
    message = EmailMessage(
        subject=messages.subject(body),
        body=messages.text(body),
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[delivery.channel["target"]],
        headers={"X-TopoForge-Delivery": str(delivery.pk)},
    )
    try:
        message.send(fail_silently=False)
    except Exception as error:  # smtplib and socket errors: all worth a retry
        raise DeliveryError(f"Email not sent: {error.__class__.__name__}: {error}") from None


SENDERS = {"email": send_email, "webhook": send_webhook, "slack": send_slack}


def send(delivery):
    """Send ``delivery`` through its channel or raise ``DeliveryError``."""
    sender = SENDERS.get(delivery.channel.get("type"))
    if sender is None:
        raise DeliveryError(f"Unknown channel type {delivery.channel.get('type')!r}.", permanent=True)
    sender(delivery, messages.webhook_body(delivery))
