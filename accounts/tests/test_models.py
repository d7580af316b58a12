"""The accounts models: unique e-mail, role-driven admin flags, the sessions' queryset.

(Password hashing is covered by test_passwords.py.)
"""
from datetime import timedelta

import pytest
from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.models import Role, Session, User

pytestmark = pytest.mark.django_db


def make_session(user, jti, *, expires_in=timedelta(days=7), revoked_at=None, **fields):
    return Session.objects.create(
        user=user, jti=jti, expires_at=timezone.now() + expires_in, revoked_at=revoked_at, **fields
    )


def test_email_is_unique_ignoring_case(make_user):
    make_user("ann", email="Ann@Example.com")
    with pytest.raises(IntegrityError), transaction.atomic():
        make_user("anne", email="ann@example.COM ")
    assert list(User.objects.values_list("username", "email")) == [("ann", "ann@example.com")]


def test_admin_role_makes_staff_and_superuser_and_viewer_neither(make_user):
    admin, viewer = make_user("ada", role=Role.ADMIN), make_user("vic")
    admin.refresh_from_db(), viewer.refresh_from_db()
    assert (admin.is_staff, admin.is_superuser, admin.is_admin) == (True, True, True)
    assert (viewer.is_staff, viewer.is_superuser, viewer.is_admin) == (False, False, False)


def test_changing_the_role_changes_the_admin_flags(make_user):
    user = make_user("ada", role=Role.ADMIN)
    user.role = Role.VIEWER
    user.save()
    user.refresh_from_db()
    assert (user.is_staff, user.is_superuser) == (False, False)


def test_flags_cannot_disagree_with_the_role(make_user):
    viewer = make_user("vic")
    viewer.is_staff = viewer.is_superuser = True
    viewer.save()
    viewer.refresh_from_db()
    assert (viewer.is_staff, viewer.is_superuser) == (False, False)


def test_create_superuser_gets_the_admin_role():
    user = User.objects.create_superuser("root", "root@example.com", "a long passphrase 42")
    assert (user.role, user.is_staff, user.is_superuser) == (Role.ADMIN, True, True)


def test_active_sessions_exclude_expired_and_revoked(make_user):
    user = make_user("ann")
    live = make_session(user, "live")
    make_session(user, "expired", expires_in=timedelta(seconds=-1))
    make_session(user, "revoked", revoked_at=timezone.now())
    assert list(Session.objects.active()) == [live]
    assert [s.jti for s in Session.objects.all() if s.is_active] == ["live"]


def test_active_at_a_given_moment(make_user):
    user = make_user("ann")
    session = make_session(user, "s", expires_in=timedelta(hours=1))
    assert list(Session.objects.active(now=timezone.now() + timedelta(minutes=59))) == [session]
    assert list(Session.objects.active(now=timezone.now() + timedelta(minutes=61))) == []


def test_revoke_ends_only_sessions_not_yet_revoked(make_user):
    user = make_user("ann")
    earlier = timezone.now() - timedelta(days=1)
    make_session(user, "a"), make_session(user, "b")
    make_session(user, "old", revoked_at=earlier, revoked_reason="logout")

    assert Session.objects.filter(user=user).revoke(reason="password_change") == 2

    stored = {s.jti: (s.revoked_at, s.revoked_reason) for s in Session.objects.all()}
    assert stored["old"] == (earlier, "logout")  # untouched
    assert all(stored[jti][0] is not None for jti in ("a", "b"))
    assert {stored[jti][1] for jti in ("a", "b")} == {"password_change"}
    assert not Session.objects.active().exists()


def test_jti_is_unique(make_user):
    user = make_user("ann")
    make_session(user, "same")
    with pytest.raises(IntegrityError), transaction.atomic():
        make_session(user, "same")


def test_deleting_a_user_deletes_their_sessions(make_user):
    user = make_user("ann")
    make_session(user, "a")
    user.delete()
    assert not Session.objects.exists()
