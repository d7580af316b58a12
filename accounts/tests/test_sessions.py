"""GET /api/auth/sessions and DELETE /api/auth/sessions/{id}: your own sessions only."""

import pytest

from accounts.models import Session
from accounts.tests.helpers import error_code

pytestmark = pytest.mark.django_db


def test_sessions_lists_your_active_sessions_and_marks_the_current_one(
    viewer, other_viewer, login_pair, bearer_client
):
    current, other = login_pair(viewer), login_pair(viewer)
    ended = login_pair(viewer)
    Session.objects.filter(pk=ended.session.pk).revoke("logout")
    login_pair(other_viewer)

    response = bearer_client(current.access).get("/api/auth/sessions")

    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 2
    listed = {row["id"]: row for row in body["results"]}
    assert set(listed) == {str(current.session.pk), str(other.session.pk)}
    assert listed[str(current.session.pk)]["current"] is True
    assert listed[str(other.session.pk)]["current"] is False
    assert listed[str(other.session.pk)]["user_agent"] == "pytest"
    assert listed[str(other.session.pk)]["ip_address"] == "127.0.0.1"
    assert "jti" not in listed[str(other.session.pk)]


def test_ending_another_of_your_sessions_revokes_its_tokens(viewer, login_pair, bearer_client):
    current, lost_phone = login_pair(viewer), login_pair(viewer)

    response = bearer_client(current.access).delete(f"/api/auth/sessions/{lost_phone.session.pk}")

    assert response.status_code == 204
    assert Session.objects.get(pk=lost_phone.session.pk).revoked_reason == "ended_by_user"
    assert error_code(bearer_client(lost_phone.access).get("/api/auth/me")) == "token_revoked"
    assert bearer_client(current.access).get("/api/auth/me").status_code == 200


def test_ending_the_current_session_logs_you_out(viewer, login_pair, bearer_client):
    current = login_pair(viewer)
    client = bearer_client(current.access)

    assert client.delete(f"/api/auth/sessions/{current.session.pk}").status_code == 204
    assert error_code(client.get("/api/auth/me")) == "token_revoked"


@pytest.mark.parametrize("as_admin", [False, True])
def test_someone_elses_session_is_404_and_stays_active(
    viewer, other_viewer, admin, login_pair, bearer_client, as_admin
):
    victim = login_pair(viewer)
    attacker = login_pair(admin if as_admin else other_viewer)

    response = bearer_client(attacker.access).delete(f"/api/auth/sessions/{victim.session.pk}")

    assert response.status_code == 404
    assert error_code(response) == "not_found"
    assert Session.objects.get(pk=victim.session.pk).revoked_at is None


@pytest.mark.parametrize("session_id", ["999999", "not-an-id"])
def test_unknown_session_ids_are_404(viewer, login_pair, bearer_client, session_id):
    response = bearer_client(login_pair(viewer).access).delete(f"/api/auth/sessions/{session_id}")

    assert response.status_code == 404
