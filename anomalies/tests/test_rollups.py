"""The rollups follow every write of detections: inserts, duplicates, deletes, updates, feedback."""
import random
from datetime import datetime, timedelta, timezone
from io import StringIO

import pytest
from django.core.management import call_command
from pytest import approx

from accounts.models import User
from anomalies import rollups
from anomalies.feedback import record_feedback
from anomalies.models import AnomalyLog, DetectionRollup, FeedbackLabel

pytestmark = pytest.mark.django_db

T0 = datetime(2024, 6, 1, 22, 0, tzinfo=timezone.utc)
COMPARED = ("count", "score_sum", "score_min", "score_max", "h0_sum", "h1_sum", "h2_sum",
            "first_at", "last_at") + tuple(f"feedback_{label}" for label in FeedbackLabel.values)


def make(rng, index, **fields):
    score = round(rng.random(), 4)
    values = dict(
        timestamp=T0 + timedelta(minutes=rng.randrange(0, 3 * 24 * 60), seconds=rng.randrange(60)),
        source_type=rng.choice(["wiki", "ndjson", "replay"]), series=rng.choice(["", "enwiki", "dewiki"]),
        anomaly_score=score,
        is_anomaly=score > 0.8, severity=rng.choice(["low", "medium", "high", "critical"]),
        betti_h0=rng.randrange(5), betti_h1=rng.randrange(3), betti_h2=rng.randrange(2),
        dedup_key=f"k{index}",
    )
    values.update(fields)
    return AnomalyLog(**values)


def stored_rollups():
    return {
        tuple(getattr(row, name) for name in rollups.KEY_FIELDS): {n: getattr(row, n) for n in COMPARED}
        for row in DetectionRollup.objects.all()
    }


def expected_rollups():
    return {key: group.values() for key, group in rollups.groups_of(AnomalyLog.objects.all()).items()}


def assert_in_step():
    stored, expected = stored_rollups(), expected_rollups()
    assert set(stored) == set(expected)
    for key, values in expected.items():
        assert stored[key] == approx(values), key


def test_insert_new_counts_each_detection_once_however_often_it_arrives():
    rng = random.Random(1)
    batch = [make(rng, i) for i in range(300)]
    inserted = AnomalyLog.objects.insert_new(batch)
    assert len(inserted) == 300 and all(row.pk for row in inserted)
    again = [make(rng, i) for i in range(250, 400)]  # 50 already stored
    assert len(AnomalyLog.objects.insert_new(again)) == 100
    assert AnomalyLog.objects.count() == 400
    assert sum(r.count for r in DetectionRollup.objects.filter(period="hour")) == 400
    assert sum(r.count for r in DetectionRollup.objects.filter(period="day")) == 400
    assert_in_step()


def test_bulk_create_with_ignore_conflicts_is_refused_with_the_way_out():
    with pytest.raises(TypeError, match="insert_new"):
        AnomalyLog.objects.bulk_create([make(random.Random(2), 0)], ignore_conflicts=True)


def test_create_save_delete_and_purge_keep_the_rollups_in_step():
    rng = random.Random(3)
    AnomalyLog.objects.bulk_create([make(rng, i) for i in range(200)])
    one = AnomalyLog.objects.create_log(timestamp=T0, source_type="wiki", anomaly_score=0.99, is_anomaly=True)
    assert_in_step()
    one.anomaly_score, one.timestamp, one.source_type = 0.01, T0 + timedelta(hours=30), "replay"
    one.save()
    assert_in_step()
    one.delete()
    assert_in_step()
    AnomalyLog.objects.filter(timestamp__lt=T0 + timedelta(hours=20)).delete()  # a purge
    assert_in_step()
    AnomalyLog.objects.filter(anomaly_score__gt=0.5).delete()  # extremes of most groups move
    assert_in_step()
    AnomalyLog.objects.all().delete()
    assert not DetectionRollup.objects.exists()


def test_updates_and_feedback_move_counts_between_groups_and_labels():
    rng = random.Random(4)
    AnomalyLog.objects.bulk_create([make(rng, i) for i in range(200)])
    user = User.objects.create_user(username="judge", password="x" * 12)
    for row in AnomalyLog.objects.filter(is_anomaly=True)[:10]:
        record_feedback(row, user, FeedbackLabel.EXPECTED)
    assert_in_step()
    for row in AnomalyLog.objects.filter(feedback_label=FeedbackLabel.EXPECTED)[:5]:
        record_feedback(row, user, FeedbackLabel.ANOMALY)
    assert_in_step()
    AnomalyLog.objects.filter(source_type="wiki").update(severity="critical", anomaly_score=0.5)
    assert_in_step()
    AnomalyLog.objects.filter(betti_h0=0).update(timestamp=T0 + timedelta(days=5))
    assert_in_step()


def test_rebuild_rollups_recomputes_them_from_the_detections():
    rng = random.Random(5)
    AnomalyLog.objects.bulk_create([make(rng, i) for i in range(300)])
    DetectionRollup.objects.all().delete()
    DetectionRollup.objects.create(period="hour", start=T0, source_type="stale", severity="low",
                                   is_anomaly=False, count=7)
    out, err = StringIO(), StringIO()
    call_command("rebuild_rollups", stdout=out, stderr=err)
    assert "over 4 days" in out.getvalue()
    assert_in_step()


def test_rebuild_of_an_empty_table_leaves_no_rollups():
    DetectionRollup.objects.create(period="day", start=T0, source_type="x", severity="low",
                                   is_anomaly=False, count=1)
    assert rollups.rebuild() == 0
    assert not DetectionRollup.objects.exists()
