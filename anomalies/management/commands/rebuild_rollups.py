"""Recompute the hourly and daily rollups from the stored detections.

Needed once after the migration that creates them on a large table (the migration rebuilds them
too, without a progress bar), or to repair them after writes that bypassed the ORM.
"""
from django.core.management.base import BaseCommand
from django.db.models import Max, Min
from tqdm import tqdm

from anomalies import rollups
from anomalies.models import AnomalyLog, RollupPeriod


class Command(BaseCommand):
    help = "Rebuild the detection rollups (hour and day) from the detections, with a progress bar."

    def add_arguments(self, parser):
        parser.add_argument("--database", default="default", help="Database alias.")

    def handle(self, *args, database="default", **options):
        bounds = AnomalyLog.objects.using(database).aggregate(first=Min("timestamp"), last=Max("timestamp"))
        days = 0
        if bounds["first"] is not None:
            first = rollups.floor(bounds["first"], RollupPeriod.DAY)
            days = (rollups.floor(bounds["last"], RollupPeriod.DAY) - first).days + 1
        with tqdm(total=days, unit="day", desc="rollups", disable=None) as bar:
            groups = rollups.rebuild(database, progress=lambda day: bar.update(1))
        self.stdout.write(f"Rebuilt {groups} rollup groups over {days} days of detections.")
