"""Bodies over MAX_REQUEST_BYTES are refused with 413 on every JSON endpoint, not only some."""
import json

import pytest
from django.test import override_settings

pytestmark = pytest.mark.django_db


@override_settings(DATA_UPLOAD_MAX_MEMORY_SIZE=1024)
@pytest.mark.parametrize("path", ["/api/auth/login", "/api/auth/register"])
def test_oversized_json_body_is_413_in_the_error_shape(api_client, path, django_user_model):
    body = json.dumps({"username": "x" * 2048, "password": "p"})
    response = api_client.generic("POST", path, body, content_type="application/json")
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "payload_too_large"
    assert django_user_model.objects.count() == 0
