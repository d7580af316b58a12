"""Every API endpoint × {anonymous, viewer, other viewer, admin} → the expected status.

The rows live beside each app in ``<app>/tests/permission_rows.py`` (the format is documented at
the top of ``accounts/tests/permission_rows.py``). The endpoints come from Django's URL resolver,
so a new endpoint without a row fails ``test_every_api_endpoint_has_a_row``.
"""

import importlib
import importlib.util
import re
from pathlib import Path
from types import SimpleNamespace

import pytest
from django.apps import apps
from django.conf import settings
from django.urls import URLPattern, URLResolver, get_resolver
from rest_framework.test import APIClient

from accounts.tests.permission_rows import Row
from accounts.tokens import issue_token_pair

CALLERS = ("anonymous", "viewer", "other_viewer", "admin")
LISTED_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
PLACEHOLDER = re.compile(r"<[^>]+>|\{[^}]+\}")


# --- Rows ------------------------------------------------------------------------------------
def _project_rows_modules():
    for config in apps.get_app_configs():
        if not Path(config.path).is_relative_to(settings.BASE_DIR):
            continue  # Django's and third-party apps
        name = f"{config.name}.tests.permission_rows"
        try:
            found = importlib.util.find_spec(name) is not None
        except ModuleNotFoundError:  # the app has no tests package
            found = False
        if found:
            yield importlib.import_module(name)


def collect():
    """All rows (as ``Row``) and placeholder builders of every app that has a rows module."""
    rows, builders = [], {}
    for module in _project_rows_modules():
        rows += [Row(*row) for row in getattr(module, "ROWS", [])]
        for name, builder in getattr(module, "PATH_PARAMS", {}).items():
            if name in builders:
                raise ValueError(
                    f"path placeholder {{{name}}} is defined twice ({module.__name__})"
                )
            builders[name] = builder
    return rows, builders


ROWS, PATH_PARAMS = collect()

BUILTIN_PARAMS = {
    "viewer_id": lambda ctx: ctx.viewer,
    "other_viewer_id": lambda ctx: ctx.other_viewer,
    "admin_id": lambda ctx: ctx.admin,
    "viewer_session_id": lambda ctx: ctx.tokens("viewer").session,
}


def template(path):
    """``/api/users/<str:id>`` and ``/api/users/{viewer_id}?x=1`` both become ``/api/users/{}``."""
    return PLACEHOLDER.sub("{}", path.split("?", 1)[0])


# --- Endpoints from the resolver -------------------------------------------------------------
def _routes(patterns, prefix=""):
    for pattern in patterns:
        route = prefix + str(pattern.pattern).lstrip("^").rstrip("$").replace("\\Z", "")
        if isinstance(pattern, URLResolver):
            yield from _routes(pattern.url_patterns, route)
        elif isinstance(pattern, URLPattern):
            yield route, pattern.callback


def _methods(callback):
    """The HTTP methods a view answers (a plain function view is assumed to answer GET)."""
    if getattr(callback, "actions", None):  # a DRF viewset bound to actions
        return {method.upper() for method in callback.actions}
    view_class = getattr(callback, "cls", None) or getattr(callback, "view_class", None)
    if view_class is None:
        return {"GET"}
    return {
        method.upper()
        for method in view_class.http_method_names
        if method.upper() in LISTED_METHODS and hasattr(view_class, method)
    }


def api_endpoints():
    """``{(method, template)}`` of every URL pattern under /api/."""
    endpoints = set()
    for route, callback in _routes(get_resolver().url_patterns):
        if route.startswith("api/"):
            endpoints |= {(method, template("/" + route)) for method in _methods(callback)}
    return endpoints


def test_every_api_endpoint_has_a_row():
    covered = {(row.method, template(row.path)) for row in ROWS}
    missing = sorted(api_endpoints() - covered, key=lambda e: (e[1], e[0]))

    assert not missing, "endpoints without a row in <app>/tests/permission_rows.py:\n" + "\n".join(
        f"  {method} {path}" for method, path in missing
    )


def test_every_row_names_an_existing_endpoint():
    endpoints = api_endpoints()
    stale = [row for row in ROWS if (row.method, template(row.path)) not in endpoints]

    assert not stale, "rows for endpoints that do not exist:\n" + "\n".join(
        f"  {row.method} {row.path}" for row in stale
    )


def test_every_row_is_well_formed():
    for row in ROWS:
        assert row.method in LISTED_METHODS, row
        assert row.path.startswith("/api/"), row
        assert all(isinstance(getattr(row, caller), int) for caller in CALLERS), row
        names = re.findall(r"\{([^}]+)\}", row.path)
        unknown = set(names) - set(PATH_PARAMS) - set(BUILTIN_PARAMS)
        assert not unknown, f"{row.method} {row.path}: no builder for {sorted(unknown)}"


# --- Running the rows ------------------------------------------------------------------------
class MatrixContext(SimpleNamespace):
    """What placeholders and bodies are built from: the three users and their sessions."""

    def __init__(self, **users):
        super().__init__(**users)
        self._tokens, self._values = {}, {}

    def user(self, caller):
        return getattr(self, caller)

    def tokens(self, caller):
        if caller not in self._tokens:
            self._tokens[caller] = issue_token_pair(self.user(caller), user_agent="matrix")
        return self._tokens[caller]

    def path(self, path):
        return re.sub(r"\{([^}]+)\}", lambda match: self._value(match.group(1)), path)

    def _value(self, name):
        if name not in self._values:
            built = {**BUILTIN_PARAMS, **PATH_PARAMS}[name](self)
            self._values[name] = str(getattr(built, "pk", built))
        return self._values[name]


@pytest.fixture
def matrix(admin, viewer, other_viewer):
    return MatrixContext(admin=admin, viewer=viewer, other_viewer=other_viewer)


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


CASES = [
    pytest.param(row, caller, id=f"{row.method} {row.path} {caller}")
    for row in ROWS
    for caller in CALLERS
]


@pytest.mark.django_db
@pytest.mark.parametrize("row, caller", CASES)
def test_permission(row, caller, matrix):
    client = APIClient()
    if caller != "anonymous":
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {matrix.tokens(caller).access}")
    path = matrix.path(row.path)
    body = row.body(matrix) if callable(row.body) else row.body

    send = getattr(client, row.method.lower())
    response = send(path, body, format="json") if body is not None else send(path)
    try:
        shown = "<stream>" if response.streaming else response.content[:300]
        assert response.status_code == getattr(row, caller), (
            f"{caller}: {row.method} {path} answered {response.status_code}, "
            f"expected {getattr(row, caller)}: {shown}"
        )
    finally:
        response.close()  # ends a streaming response's generator


def test_one_rule_for_403_and_404():
    """403: the caller's role may not do this, whoever owns the object (the answer does not depend
    on the id); 404: the object is not yours, or does not exist (a viewer never learns whether
    another user's user record, session, alert configuration or delivery exists). So a second
    viewer gets 403 on an object only where its owner does too, and never 403 where the owner
    gets anything else; README "Errors" states the rule."""
    ownership_403 = [row for row in ROWS if row.other_viewer == 403 and row.viewer != 403]
    assert ownership_403 == []
    not_yours = [row for row in ROWS if row.other_viewer == 404 and row.viewer != 404]
    assert {template(row.path) for row in not_yours} >= {
        "/api/users/{}", "/api/alerts/configs/{}", "/api/auth/sessions/{}",
    }
