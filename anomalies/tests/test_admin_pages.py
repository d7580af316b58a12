"""Every admin page of every registered model renders for a logged-in admin.

The models come from ``admin.site._registry``, so a model registered later is covered without
touching this file, except for one thing: its sample object. A registered model without a
factory in ``SAMPLES`` makes ``test_every_registered_model_has_a_sample`` fail; add one here.
"""
from datetime import timedelta

import pytest
from django.contrib import admin
from django.contrib.auth.models import Group
from django.urls import reverse
from django.utils import timezone

from accounts.models import Session
from anomalies import incidents
from anomalies.models import AlertConfig, AlertDelivery, AnomalyLog, DetectorCheckpoint, Feedback, Series

pytestmark = pytest.mark.django_db


def _session(owner):
    return Session.objects.create(
        user=owner, jti="jti-admin-page", expires_at=timezone.now() + timedelta(days=7),
        user_agent="Mozilla/5.0 (X11; Linux x86_64)", ip_address="192.0.2.10",
    )


def _anomaly_log(owner):
    return AnomalyLog.objects.create_log(
        timestamp=timezone.now(), source_type="wikipedia", anomaly_score=0.995, is_anomaly=True,
        betti_h0=4, betti_h1=2, event_data={"edits": 41}, metadata={"window_seconds": 60},
    )


def _incident(owner):
    (incident,) = incidents.attach([_anomaly_log(owner)])
    return incident


def _alert_config(owner):
    return AlertConfig.objects.create(
        user=owner, name="edit storms", threshold=0.99,
        notification_channels=[{"type": "email", "target": "ops@example.com"}],
    )


def _checkpoint(owner):
    return DetectorCheckpoint.objects.create(
        source_key="wikipedia:enwiki", state={"version": 1}, last_event_id="evt-42"
    )


def _series(owner):
    return Series.objects.create(source_type="replay", series="web-0412", last_score=0.93,
                                 last_at=timezone.now(), owner="host-1/worker-0")


def _alert_delivery(owner):
    return AlertDelivery.objects.create(
        config=_alert_config(owner), channel={"type": "email", "target": "ops@example.com"},
        status="failed", attempts=3, last_error="SMTP down", detection_count=2, max_score=0.99,
    )


def _feedback(owner):
    return Feedback.objects.create(anomaly=_anomaly_log(owner), user=owner, label="not_anomaly")


# label -> function(admin user) returning one saved object of that model.
SAMPLES = {
    "accounts.user": lambda owner: owner,
    "accounts.session": _session,
    "anomalies.anomalylog": _anomaly_log,
    "anomalies.alertconfig": _alert_config,
    "anomalies.alertdelivery": _alert_delivery,
    "anomalies.feedback": _feedback,
    "anomalies.incident": _incident,
    "anomalies.detectorcheckpoint": _checkpoint,
    "anomalies.series": _series,
    "auth.group": lambda owner: Group.objects.create(name="operators"),
}

REGISTERED = sorted(admin.site._registry.items(), key=lambda item: item[0]._meta.label_lower)
EACH_MODEL = pytest.mark.parametrize(
    "model, model_admin", REGISTERED, ids=[model._meta.label_lower for model, _ in REGISTERED]
)


def _url(model, page, *args):
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_{page}", args=args)


def _sample(model, owner):
    factory = SAMPLES.get(model._meta.label_lower)
    if factory is None:
        pytest.fail(f"no sample for {model._meta.label_lower}: add a factory to SAMPLES in {__file__}")
    return factory(owner)


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def admin_client(client, admin):
    client.force_login(admin)
    return client


def test_every_registered_model_has_a_sample():
    missing = sorted(
        model._meta.label_lower for model, _ in REGISTERED if model._meta.label_lower not in SAMPLES
    )
    assert not missing, f"add sample factories to SAMPLES in {__file__} for: {missing}"


def test_the_four_product_models_are_registered():
    registered = {model._meta.label_lower for model, _ in REGISTERED}
    assert {"accounts.user", "accounts.session", "anomalies.anomalylog", "anomalies.alertconfig"} <= registered


@EACH_MODEL
def test_changelist_lists_the_sample_and_searches(admin_client, admin, model, model_admin):
    obj = _sample(model, admin)

    response = admin_client.get(_url(model, "changelist"))
    assert response.status_code == 200
    assert obj.pk in {row.pk for row in response.context["cl"].result_list}

    if model_admin.search_fields:
        response = admin_client.get(_url(model, "changelist"), {"q": "a"})
        assert response.status_code == 200
    if model_admin.date_hierarchy:
        moment = getattr(obj, model_admin.date_hierarchy)
        response = admin_client.get(
            _url(model, "changelist"),
            {f"{model_admin.date_hierarchy}__year": moment.year, f"{model_admin.date_hierarchy}__month": moment.month},
        )
        assert response.status_code == 200
        assert obj.pk in {row.pk for row in response.context["cl"].result_list}


@EACH_MODEL
def test_changelist_filters_render(admin_client, admin, model, model_admin):
    _sample(model, admin)
    response = admin_client.get(_url(model, "changelist"))
    for spec in response.context["cl"].filter_specs:
        for choice in spec.choices(response.context["cl"]):
            query = choice["query_string"]
            assert admin_client.get(_url(model, "changelist") + query).status_code == 200, query


@EACH_MODEL
def test_add_page_renders_or_is_refused_on_purpose(admin_client, admin, rf, model, model_admin):
    request = rf.get("/")
    request.user = admin
    response = admin_client.get(_url(model, "add"))
    if model_admin.has_add_permission(request):
        assert response.status_code == 200
        assert "adminform" in response.context
    else:  # sessions and checkpoints are made by the system only
        assert response.status_code == 403


@EACH_MODEL
def test_change_page_renders(admin_client, admin, model, model_admin):
    obj = _sample(model, admin)
    response = admin_client.get(_url(model, "change", obj.pk))
    assert response.status_code == 200
    assert response.context["original"] == obj


def test_a_viewer_is_sent_to_the_login_page(client, viewer):
    client.force_login(viewer)
    response = client.get(_url(AnomalyLog, "changelist"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("admin:login"))


def test_detection_times_are_shown_to_the_second(admin_client):
    from datetime import datetime, timezone

    from anomalies.models import AnomalyLog

    for second in (0, 10, 20):  # three windows of one minute: they must not look alike
        AnomalyLog.objects.create_log(
            timestamp=datetime(2026, 1, 1, 12, 0, second, tzinfo=timezone.utc), source_type="wikipedia",
            anomaly_score=0.5,
        )
    page = admin_client.get(_url(AnomalyLog, "changelist")).content.decode()
    for second in ("00", "10", "20"):
        assert f"2026-01-01 12:00:{second} UTC" in page
