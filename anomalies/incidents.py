"""Incidents: consecutive alarms of one stream and series, as the detector's alarm gate sees them.

A row with ``is_anomaly`` opens an incident; the rows the gate then ``suppressed`` (its quiet
period: the same incident, until the window has been calm or ``quiet_period`` rows passed) join
the latest incident of their stream and series. An incident's end is its latest row, its peak
its rarest. Rows are attached in the transaction that stores them (``streams.store`` and the
API's bulk create); a suppressed row with no earlier alarm of its series stays without one.
"""
from django.db import transaction

from anomalies.models import AnomalyLog, Incident


def attach(rows, using="default"):
    """Give the alarming and suppressed rows among ``rows`` (stored instances) their incident."""
    relevant = sorted(
        (row for row in rows if row.is_anomaly or row.suppressed),
        key=lambda row: (row.source_type, row.series, row.timestamp),
    )
    if not relevant:
        return []
    touched = {}
    with transaction.atomic(using=using):
        current = {}
        for row in relevant:
            key = (row.source_type, row.series)
            if row.is_anomaly:
                incident = Incident(
                    source_type=row.source_type, series=row.series, started_at=row.timestamp,
                    ended_at=row.timestamp, peak_score=row.anomaly_score, peak=row, row_count=0,
                )
                incident.save(using=using)
            else:
                incident = current.get(key) or _latest(key, row.timestamp, using)
                if incident is None:
                    continue
            current[key] = incident
            _extend(incident, row)
            row.incident = incident
            touched[incident.pk] = incident
        for incident in touched.values():
            incident.save(using=using)
        for incident in touched.values():
            ids = [row.pk for row in relevant if row.incident_id == incident.pk]
            AnomalyLog.objects.using(using).filter(pk__in=ids).update(incident=incident)
    return list(touched.values())


def _latest(key, before, using):
    source_type, series = key
    return (
        Incident.objects.using(using)
        .filter(source_type=source_type, series=series, started_at__lte=before)
        .order_by("-started_at", "-pk")
        .first()
    )


def _extend(incident, row):
    incident.row_count += 1
    incident.ended_at = max(incident.ended_at, row.timestamp)
    if row.anomaly_score is not None and row.anomaly_score > incident.peak_score:
        incident.peak_score, incident.peak = row.anomaly_score, row
