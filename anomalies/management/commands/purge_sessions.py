"""Delete login sessions that ended (expired or revoked) more than the retention period ago.

On MongoDB the TTL index made by ``setup_database`` removes expired sessions by itself; this
command does the same on SQL backends and also removes revoked sessions on every backend.
"""
from datetime import timedelta

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db.models import Q
from django.utils import timezone

from accounts.models import Session


class Command(BaseCommand):
    help = (
        "Delete sessions that expired or were revoked more than "
        "TOPOFORGE_SESSION_RETENTION_DAYS days ago."
    )

    def add_arguments(self, parser):
        parser.add_argument("--dry-run", action="store_true", help="Count, delete nothing.")

    def handle(self, *args, dry_run=False, **options):
        days = settings.TOPOFORGE_SESSION_RETENTION_DAYS
        if days < 1:
            raise CommandError("TOPOFORGE_SESSION_RETENTION_DAYS must be at least 1")
        cutoff = timezone.now() - timedelta(days=days)
        ended = Session.objects.filter(Q(expires_at__lt=cutoff) | Q(revoked_at__lt=cutoff))
        when = f"ended before {cutoff:%Y-%m-%d %H:%M} UTC ({days} days of retention)"
        if dry_run:
            self.stdout.write(f"Would delete {ended.count()} sessions {when}")
            return
        deleted, _ = ended.delete()
        self.stdout.write(f"Deleted {deleted} sessions {when}")
