"""The cutoff of a retention period, shared by the purge commands."""
from datetime import timedelta

from django.conf import settings
from django.core.management.base import CommandError
from django.utils import timezone


def retention_cutoff(setting_name):
    """``(days, cutoff)`` for the retention setting ``setting_name``; refuses less than a day."""
    days = getattr(settings, setting_name)
    if days < 1:
        raise CommandError(f"{setting_name} must be at least 1")
    return days, timezone.now() - timedelta(days=days)
