"""/healthz and /readyz: JSON for monitors; readiness fails with 503 when a dependency is down."""
from datetime import timedelta

import pytest
from django.utils import timezone

from realtime.tests.factories import store_detection

pytestmark = pytest.mark.django_db(transaction=True)


async def test_healthz_says_the_process_is_alive(async_client):
    response = await async_client.get("/healthz")
    assert response.status_code == 200
    assert response.json()["status"] == "ok"
    assert "no-cache" in response["Cache-Control"]


async def test_readyz_reports_database_channel_layer_and_last_detection_age(async_client):
    from asgiref.sync import sync_to_async

    row = await sync_to_async(store_detection)(created_at=timezone.now() - timedelta(seconds=90))
    response = await async_client.get("/readyz")

    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ready"
    assert body["checks"]["database"]["ok"] is True
    assert body["checks"]["channel_layer"]["ok"] is True
    assert body["last_detection"]["id"] == str(row.pk)
    assert 89 <= body["last_detection"]["age_seconds"] < 120


async def test_readyz_without_detections_is_still_ready(async_client):
    response = await async_client.get("/readyz")
    assert response.status_code == 200
    assert response.json()["last_detection"] is None


async def test_readyz_is_503_when_the_channel_layer_is_unreachable(async_client, settings):
    settings.CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {"hosts": ["redis://127.0.0.1:1/0"]},  # nothing listens on port 1
        }
    }
    response = await async_client.get("/readyz")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "not_ready"
    assert body["checks"]["channel_layer"] == {
        "ok": False, "backend": "RedisChannelLayer", "error": body["checks"]["channel_layer"]["error"],
    }
    assert body["checks"]["database"]["ok"] is True
