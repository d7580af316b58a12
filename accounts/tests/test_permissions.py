"""The reusable permission pieces: require_role (through real token auth) and IsSelfOrAdmin."""

from types import SimpleNamespace

import pytest
from rest_framework.decorators import api_view
from rest_framework.response import Response
from rest_framework.test import APIRequestFactory

from accounts.permissions import IsSelfOrAdmin, require_role

pytestmark = pytest.mark.django_db


@api_view(["GET"])
@require_role("admin")
def admins_only(request):
    return Response({"hello": request.user.username})


@pytest.fixture
def call(login_pair):
    def make(view, user=None):
        headers = {"HTTP_AUTHORIZATION": f"Bearer {login_pair(user).access}"} if user else {}
        return view(APIRequestFactory().get("/anything", **headers))

    return make


def test_require_role_lets_the_role_through(admin, call):
    response = call(admins_only, admin)

    assert response.status_code == 200
    assert response.data == {"hello": "alice"}


def test_require_role_refuses_other_roles_with_403(viewer, call):
    response = call(admins_only, viewer)

    assert response.status_code == 403
    assert response.data["error"]["code"] == "permission_denied"


def test_require_role_refuses_anonymous_with_401_token_missing(call):
    response = call(admins_only)

    assert response.status_code == 401
    assert response.data["error"]["code"] == "token_missing"


def test_is_self_or_admin_compares_owners(admin, viewer, other_viewer):
    rule = IsSelfOrAdmin()
    owned = SimpleNamespace(user=viewer)

    def request_of(user):
        return SimpleNamespace(user=user)

    assert rule.has_object_permission(request_of(viewer), None, viewer)
    assert rule.has_object_permission(request_of(viewer), None, owned)
    assert not rule.has_object_permission(request_of(other_viewer), None, owned)
    assert rule.has_object_permission(request_of(admin), None, owned)
