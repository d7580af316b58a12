from realtime.filters import FilterError, Subscription

import pytest


def detection(**fields):
    return {"source_type": "wikipedia", "anomaly_score": 0.5, "is_anomaly": False, **fields}


def test_empty_subscription_matches_everything():
    assert Subscription.parse({}).matches(detection())
    assert Subscription.parse(None) == Subscription()


def test_query_strings_and_json_values_parse_alike():
    assert Subscription.parse({"min_score": "0.7", "anomalies_only": "true", "source": " github "}) == Subscription(
        source="github", min_score=0.7, anomalies_only=True
    )
    assert Subscription.parse({"min_score": 0.7, "anomalies_only": True}) == Subscription(
        min_score=0.7, anomalies_only=True
    )


def test_min_score_is_inclusive():
    subscription = Subscription(min_score=0.7)
    assert subscription.matches(detection(anomaly_score=0.7))
    assert not subscription.matches(detection(anomaly_score=0.6999))


def test_every_bad_filter_is_named_at_once():
    with pytest.raises(FilterError) as raised:
        Subscription.parse({"min_score": True, "anomalies_only": "perhaps", "extra": 1})
    assert set(raised.value.fields) == {"min_score", "anomalies_only", "extra"}


def test_a_non_object_subscription_is_refused():
    with pytest.raises(FilterError) as raised:
        Subscription.parse(["wikipedia"])
    assert list(raised.value.fields) == ["subscribe"]
