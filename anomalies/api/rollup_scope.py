"""Which filtered sets the rollups can answer, and how a time range splits into whole buckets.

The rollups group detections by hour or day, source, series, severity and flag; a filter on anything
else (score bounds, feedback label) needs the rows. A range ``[start, end)`` splits into whole
days (day rollups), whole hours (hour rollups) and at most two ragged edges shorter than an hour
that are read from the detections, so a read costs the same on a million rows as on ten.
"""
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import Sum

from anomalies.models import DetectionRollup, RollupPeriod
from anomalies.rollups import floor

HOUR, DAY = timedelta(hours=1), timedelta(days=1)
# Filters the rollups cannot answer; any of them set sends the read to the detections.
ROW_ONLY_FILTERS = ("min_score", "max_score", "feedback_label")


@dataclass(frozen=True)
class RollupScope:
    start: datetime | None
    end: datetime | None
    source: str | None
    series: str | None
    is_anomaly: bool | None
    severities: tuple

    def rollups(self, period, lo, hi):
        """The rollup rows of ``period`` with ``lo <= start < hi`` (None: unbounded)."""
        rows = DetectionRollup.objects.filter(period=period)
        if lo is not None:
            rows = rows.filter(start__gte=lo)
        if hi is not None:
            rows = rows.filter(start__lt=hi)
        if self.source:
            rows = rows.filter(source_type=self.source)
        if self.series:
            rows = rows.filter(series=self.series)
        if self.is_anomaly is not None:
            rows = rows.filter(is_anomaly=self.is_anomaly)
        if self.severities:
            rows = rows.filter(severity__in=self.severities)
        return rows.order_by()

    def split(self, days=True):
        """``(parts, edges)``: rollup parts ``(period, lo, hi)`` and raw ranges ``(lo, hi)``."""
        start, end = self.start, self.end
        hour_lo = _ceil(start, RollupPeriod.HOUR) if start is not None else None
        hour_hi = floor(end, RollupPeriod.HOUR) if end is not None else None
        if hour_lo is not None and hour_hi is not None and hour_lo >= hour_hi:
            return [], [(start, end)]
        edges = []
        if start is not None and start < hour_lo:
            edges.append((start, hour_lo))
        if end is not None and hour_hi < end:
            edges.append((hour_hi, end))
        hours = [(RollupPeriod.HOUR, hour_lo, hour_hi)]
        if not days:
            return hours, edges
        day_lo = _ceil(hour_lo, RollupPeriod.DAY) if hour_lo is not None else None
        day_hi = floor(hour_hi, RollupPeriod.DAY) if hour_hi is not None else None
        if day_lo is not None and day_hi is not None and day_lo >= day_hi:
            return hours, edges
        parts = [(RollupPeriod.DAY, day_lo, day_hi)]
        if hour_lo is not None and hour_lo < day_lo:
            parts.append((RollupPeriod.HOUR, hour_lo, day_lo))
        if hour_hi is not None and day_hi < hour_hi:
            parts.append((RollupPeriod.HOUR, day_hi, hour_hi))
        return parts, edges

    def count(self, queryset):
        """How many detections of the filtered ``queryset`` there are, from rollups and edges."""
        parts, edges = self.split()
        total = 0
        for period, lo, hi in parts:
            total += self.rollups(period, lo, hi).aggregate(n=Sum("count"))["n"] or 0
        for lo, hi in edges:
            total += queryset.filter(timestamp__gte=lo, timestamp__lt=hi).order_by().count()
        return total


def _ceil(moment, period):
    floored = floor(moment, period)
    return floored if floored == moment else floored + (HOUR if period == RollupPeriod.HOUR else DAY)


def scope_of(cleaned):
    """The rollup scope of a valid filter form's ``cleaned_data``, or None if rows are needed."""
    if any(cleaned.get(name) not in (None, "") for name in ROW_ONLY_FILTERS):
        return None
    return RollupScope(
        start=cleaned.get("start_date"),
        end=cleaned.get("end_date"),
        source=cleaned.get("source") or None,
        series=cleaned.get("series") or None,
        is_anomaly=cleaned.get("is_anomaly"),
        severities=tuple(cleaned.get("severity") or ()),
    )
