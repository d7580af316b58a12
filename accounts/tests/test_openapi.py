"""The auth and users endpoints are documented: tag, summary, request, responses and errors."""

import pytest
from drf_spectacular.generators import SchemaGenerator

ENDPOINTS = {
    "/api/auth/register": {"post": 201},
    "/api/auth/login": {"post": 200},
    "/api/auth/refresh": {"post": 200},
    "/api/auth/logout": {"post": 204},
    "/api/auth/me": {"get": 200, "patch": 200},
    "/api/auth/sessions": {"get": 200},
    "/api/auth/sessions/{id}": {"delete": 204},
    "/api/users": {"get": 200},
    "/api/users/{id}": {"get": 200, "put": 200, "patch": 200, "delete": 204},
}
PUBLIC = {"/api/auth/register", "/api/auth/login", "/api/auth/refresh"}


@pytest.fixture(scope="module")
def schema():
    return SchemaGenerator().get_schema(request=None, public=True)


def operations(schema):
    for path, methods in ENDPOINTS.items():
        for method, success in methods.items():
            yield path, method, success, schema["paths"][path][method]


def test_each_operation_has_its_tag_summary_and_success_response(schema):
    for path, method, success, operation in operations(schema):
        tag = "users" if path.startswith("/api/users") else "auth"
        assert operation["tags"] == [tag], (method, path)
        assert operation["summary"], (method, path)
        assert str(success) in operation["responses"], (method, path)
        assert set(schema["paths"][path]) - {"parameters"} == set(ENDPOINTS[path]), path


def test_every_error_response_is_the_shared_error_component(schema):
    for path, method, _, operation in operations(schema):
        errors = {code: r for code, r in operation["responses"].items() if code.startswith("4")}
        assert errors, (method, path)
        if path not in PUBLIC:
            assert "401" in errors, (method, path)
        for response in errors.values():
            ref = response["content"]["application/json"]["schema"]["$ref"]
            assert ref == "#/components/schemas/Error"
    error = schema["components"]["schemas"]["ErrorDetail"]
    assert set(error["properties"]) == {"code", "message", "fields"}


def test_public_endpoints_need_no_token_and_the_rest_a_bearer_jwt(schema):
    assert schema["components"]["securitySchemes"]["jwtAuth"] == {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT",
    }
    for path, method, _, operation in operations(schema):
        if path in PUBLIC:
            assert operation.get("security") in (None, []), path
        else:
            assert {"jwtAuth": []} in operation["security"], (method, path)


def test_throttled_endpoints_document_429_with_retry_after(schema):
    for path in ("/api/auth/login", "/api/auth/register"):
        response = schema["paths"][path]["post"]["responses"]["429"]
        assert "Retry-After" in response["headers"]


def test_path_ids_are_strings(schema):
    for path in ("/api/users/{id}", "/api/auth/sessions/{id}"):
        for operation in schema["paths"][path].values():
            (parameter,) = [p for p in operation["parameters"] if p["name"] == "id"]
            assert parameter["schema"]["type"] == "string"
