"""The series registry: one entry per series, moved by each stored batch, in the batch's store."""
from datetime import datetime, timedelta, timezone

import pytest

from anomalies import series_registry
from anomalies.models import AnomalyLog, Series

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 1, 1, 12, tzinfo=timezone.utc)


def row(series, minute, score, flag=False, source="ndjson"):
    return {
        "dedup_key": f"{source}#{series}:{minute}", "timestamp": (T0 + timedelta(minutes=minute)).isoformat(),
        "source_type": source, "series": series, "event_data": {}, "betti_h0": 1, "betti_h1": 0,
        "betti_h2": 0, "anomaly_score": score, "is_anomaly": flag, "severity": "low", "metadata": {},
    }


def instances(rows):
    from streams.store import to_instance

    return [to_instance(r) for r in rows]


def entry(series, source="ndjson"):
    return Series.objects.get(source_type=source, series=series)


def test_a_batch_registers_the_latest_row_and_anomaly_of_each_series():
    series_registry.record(instances([
        row("web-1", 0, 0.2), row("web-1", 2, 0.4), row("web-1", 1, 0.99, flag=True),
        row("web-2", 0, None), row("", 5, 0.5, source="wikipedia"),
    ]), owner="worker-a")

    assert Series.objects.count() == 3
    web1 = entry("web-1")
    assert (web1.last_at, web1.last_score) == (T0 + timedelta(minutes=2), 0.4)
    assert web1.last_anomaly_at == T0 + timedelta(minutes=1)
    assert web1.owner == "worker-a"
    web2 = entry("web-2")
    assert web2.last_score is None and web2.last_anomaly_at is None
    assert entry("", source="wikipedia").last_score == 0.5


def test_later_batches_move_forward_only_and_change_the_owner():
    series_registry.record(instances([row("web-1", 10, 0.3, flag=True)]), owner="worker-a")
    series_registry.record(instances([row("web-1", 12, 0.6)]), owner="worker-b")
    web1 = entry("web-1")
    assert (web1.last_at, web1.last_score, web1.owner) == (T0 + timedelta(minutes=12), 0.6, "worker-b")
    assert web1.last_anomaly_at == T0 + timedelta(minutes=10)  # a row without anomaly keeps it

    # A journal drained late brings an older row: the latest score and time stay.
    series_registry.record(instances([row("web-1", 5, 0.9, flag=True)]), owner="worker-b")
    web1 = entry("web-1")
    assert (web1.last_at, web1.last_score) == (T0 + timedelta(minutes=12), 0.6)
    assert web1.last_anomaly_at == T0 + timedelta(minutes=10)

    series_registry.record(instances([row("web-1", 20, None, flag=False), row("web-1", 19, 0.99, flag=True)]))
    web1 = entry("web-1")
    assert (web1.last_at, web1.last_score, web1.owner) == (T0 + timedelta(minutes=20), None, "")
    assert web1.last_anomaly_at == T0 + timedelta(minutes=19)


@pytest.mark.django_db(transaction=True)
def test_the_store_registers_only_new_rows_with_its_owner(tmp_path):
    from streams.journal import Journal
    from streams.store import DetectionStore

    store = DetectionStore("ndjson:test", Journal(tmp_path, "ndjson:test"), owner="host-1/worker-0").start()
    store.submit([row(f"web-{i % 3}", i, i / 100, flag=i == 4) for i in range(9)])
    store.close()
    assert AnomalyLog.objects.count() == 9
    assert sorted(Series.objects.values_list("series", "owner", "last_score")) == [
        ("web-0", "host-1/worker-0", 0.06), ("web-1", "host-1/worker-0", 0.07), ("web-2", "host-1/worker-0", 0.08),
    ]
    assert entry("web-1").last_anomaly_at == T0 + timedelta(minutes=4)

    # The same rows again (a journal re-read): duplicates, and the registry is not touched.
    again = DetectionStore("ndjson:test", Journal(tmp_path / "again", "ndjson:test"), owner="other").start()
    again.submit([row(f"web-{i % 3}", i, i / 100) for i in range(9)])
    again.close()
    assert again.stats.duplicates == 9
    assert set(Series.objects.values_list("owner", flat=True)) == {"host-1/worker-0"}


def test_rebuild_fills_the_registry_from_stored_rows():
    AnomalyLog.objects.insert_new(instances([row("web-1", 0, 0.2, flag=True), row("web-1", 3, 0.5),
                                             row("", 1, 0.7, source="wikipedia")]))
    Series.objects.all().delete()
    assert series_registry.rebuild() == 2
    web1 = entry("web-1")
    assert (web1.last_at, web1.last_score, web1.last_anomaly_at) == (T0 + timedelta(minutes=3), 0.5, T0)
