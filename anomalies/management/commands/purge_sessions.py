"""Delete login sessions that ended (expired or revoked) more than the retention period ago.

On MongoDB the TTL index made by ``setup_database`` removes expired sessions by itself; this
command does the same on SQL backends and also removes revoked sessions on every backend.
"""
from django.core.management.base import BaseCommand
from django.db.models import Q

from accounts.models import Session
from anomalies.retention import retention_cutoff


class Command(BaseCommand):
    help = (
        "Delete sessions that expired or were revoked more than "
        "TOPOFORGE_SESSION_RETENTION_DAYS days ago."
    )

    def add_arguments(self, parser):
        parser.add_argument("--dry-run", action="store_true", help="Count, delete nothing.")

    def handle(self, *args, dry_run=False, **options):
        days, cutoff = retention_cutoff("TOPOFORGE_SESSION_RETENTION_DAYS")
        ended = Session.objects.filter(Q(expires_at__lt=cutoff) | Q(revoked_at__lt=cutoff))
        when = f"ended before {cutoff:%Y-%m-%d %H:%M} UTC ({days} days of retention)"
        if dry_run:
            self.stdout.write(f"Would delete {ended.count()} sessions {when}")
            return
        deleted, _ = ended.delete()
        self.stdout.write(f"Deleted {deleted} sessions {when}")
