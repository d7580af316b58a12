"""Validation of an alert's notification channels.

A channel is ``{"type": "email" | "webhook" | "slack", "target": ...}``: an email address, or an
https URL that will receive a POST. Plain http is accepted only for loopback hosts and only when
DEBUG is on, so a local test receiver works in development while production never sends alert
contents in clear text. URL targets must also pass the SSRF guard (``alerts.ssrf``):
loopback, private, link-local and metadata addresses are refused unless ALLOW_PRIVATE_WEBHOOKS.
"""
import ipaddress
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import URLValidator, validate_email
from rest_framework.exceptions import ValidationError

from alerts.ssrf import save_time_error

CHANNEL_TYPES = ("email", "webhook", "slack")
URL_CHANNEL_TYPES = ("webhook", "slack")
MAX_CHANNELS = 20
MAX_TARGET_LENGTH = 2048

_validate_url = URLValidator(schemes=["http", "https"])


def is_loopback_host(host):
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _url_error(target):
    """Why ``target`` is not an acceptable webhook URL, or None."""
    try:
        _validate_url(target)
    except DjangoValidationError:
        return "Enter a valid URL."
    parts = urlsplit(target)
    if parts.username or parts.password:
        return "The URL must not contain credentials."
    if parts.scheme == "https":
        return None
    if settings.DEBUG and is_loopback_host(parts.hostname or ""):
        return None
    return "The URL must use https (http is allowed only to a loopback host when DEBUG is on)."


def _validate_channel(item):
    """The normalised channel and a ``{key: [message]}`` dict of its errors."""
    if not isinstance(item, dict):
        return None, {"non_field_errors": ['Expected an object {"type": ..., "target": ...}.']}
    errors = {}
    unknown = sorted(set(item) - {"type", "target"})
    for key in unknown:
        errors[key] = ["Unknown key."]

    channel_type = item.get("type")
    if not isinstance(channel_type, str) or channel_type.strip().lower() not in CHANNEL_TYPES:
        errors["type"] = [f"Must be one of: {', '.join(CHANNEL_TYPES)}."]
        channel_type = None
    else:
        channel_type = channel_type.strip().lower()

    target = item.get("target")
    if not isinstance(target, str) or not target.strip():
        errors["target"] = ["This field is required and must be a non-empty string."]
    elif len(target) > MAX_TARGET_LENGTH:
        errors["target"] = [f"At most {MAX_TARGET_LENGTH} characters."]
    elif channel_type == "email":
        target = target.strip()
        try:
            validate_email(target)
        except DjangoValidationError:
            errors["target"] = ["Enter a valid email address."]
    elif channel_type in URL_CHANNEL_TYPES:
        target = target.strip()
        problem = _url_error(target) or save_time_error(target)
        if problem:
            errors["target"] = [problem]
    return {"type": channel_type, "target": target}, errors


def validate_channels(value):
    """Return the channels normalised (type lower-cased, target stripped), or raise.

    The DRF ``ValidationError`` is a list parallel to ``value`` so the shared error handler names
    the item and the key: ``notification_channels[1].target``.
    """
    if not isinstance(value, list):
        raise ValidationError('Expected a list of {"type": ..., "target": ...} objects.')
    if len(value) > MAX_CHANNELS:
        raise ValidationError(f"At most {MAX_CHANNELS} channels.")
    channels, errors = [], []
    for item in value:
        channel, item_errors = _validate_channel(item)
        channels.append(channel)
        errors.append(item_errors)
    if any(errors):
        raise ValidationError(errors)
    return channels
