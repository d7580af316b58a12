"""POST /api/realtime/ticket: who may have one, what it carries, that it works once."""
import time

import pytest
from django.core.cache import cache

from accounts.models import Session
from realtime.identity import Identity
from realtime.tests.factories import access_token_for
from realtime.tickets import redeem_ticket

pytestmark = pytest.mark.django_db


def bearer(api_client, user):
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {access_token_for(user)}")
    return api_client


def test_a_token_holder_gets_a_ticket_bound_to_the_login_session(api_client, viewer, settings):
    settings.REALTIME_TICKET_TTL_SECONDS = 30
    response = bearer(api_client, viewer).post("/api/realtime/ticket")

    assert response.status_code == 201
    body = response.json()
    assert body["expires_in"] == 30 and body["expires_at"].endswith("Z")
    assert body["websocket_url"] == f"/ws/anomalies?ticket={body['ticket']}"
    assert body["stream_url"] == f"/api/realtime/stream?ticket={body['ticket']}"
    session = Session.objects.get(user=viewer)
    assert redeem_ticket(body["ticket"]) == Identity(str(viewer.pk), "victor", session_id=str(session.pk))


def test_a_dashboard_login_gets_a_ticket_bound_to_the_django_session(client, viewer):
    client.force_login(viewer)
    response = client.post("/api/realtime/ticket")

    assert response.status_code == 201
    identity = redeem_ticket(response.json()["ticket"])
    assert identity.django_session_key == client.session.session_key
    assert identity.session_id is None


def test_anonymous_callers_get_401_in_the_error_shape(api_client):
    response = api_client.post("/api/realtime/ticket")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "token_missing"


def test_a_ticket_is_redeemed_once_only(api_client, viewer):
    ticket = bearer(api_client, viewer).post("/api/realtime/ticket").json()["ticket"]
    assert redeem_ticket(ticket) is not None
    assert redeem_ticket(ticket) is None


def test_the_ticket_itself_is_not_stored_in_the_cache(api_client, viewer):
    ticket = bearer(api_client, viewer).post("/api/realtime/ticket").json()["ticket"]
    assert cache.get(f"realtime:ticket:{ticket}") is None  # only its SHA-256 is a key


def test_a_ticket_expires(api_client, viewer, settings):
    settings.REALTIME_TICKET_TTL_SECONDS = 1
    ticket = bearer(api_client, viewer).post("/api/realtime/ticket").json()["ticket"]
    time.sleep(1.2)  # a real TTL: the cache (Redis or memory) forgets the ticket by itself
    assert redeem_ticket(ticket) is None


@pytest.mark.parametrize("ticket", ["", "short", "x" * 500, None, 42])
def test_malformed_tickets_are_refused_without_a_lookup(ticket):
    assert redeem_ticket(ticket) is None


def test_tickets_are_throttled_per_user(api_client, viewer):
    client = bearer(api_client, viewer)
    statuses = [client.post("/api/realtime/ticket").status_code for _ in range(61)]
    assert statuses[:60] == [201] * 60
    assert statuses[60] == 429
