"""Delete detections older than the retention period, in batches.

Batches keep memory and each delete short on a table of millions of rows; the feedback given on
a deleted detection goes with it (its foreign key cascades).
"""
from django.apps import apps
from django.core.management.base import BaseCommand

from anomalies.models import AnomalyLog
from anomalies.retention import retention_cutoff

BATCH_SIZE = 5000


class Command(BaseCommand):
    help = "Delete anomaly logs older than TOPOFORGE_ANOMALY_RETENTION_DAYS days."

    def add_arguments(self, parser):
        parser.add_argument("--dry-run", action="store_true", help="Count, delete nothing.")

    def handle(self, *args, dry_run=False, **options):
        days, cutoff = retention_cutoff("TOPOFORGE_ANOMALY_RETENTION_DAYS")
        old = AnomalyLog.objects.filter(timestamp__lt=cutoff)
        when = f"older than {cutoff:%Y-%m-%d %H:%M} UTC ({days} days of retention)"
        if dry_run:
            self.stdout.write(f"Would delete {old.count()} anomaly logs {when}")
            return
        logs, related = 0, {}
        while batch := list(old.order_by().values_list("pk", flat=True)[:BATCH_SIZE]):
            _, per_model = AnomalyLog.objects.filter(pk__in=batch).delete()
            logs += per_model.pop(AnomalyLog._meta.label, 0)
            for label, count in per_model.items():
                related[label] = related.get(label, 0) + count
        extra = ", ".join(
            f"{count} {apps.get_model(label)._meta.verbose_name_plural}"
            for label, count in sorted(related.items())
            if count
        )
        self.stdout.write(f"Deleted {logs} anomaly logs {when}" + (f", with {extra}" if extra else ""))
