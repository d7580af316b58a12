"""The OpenAPI schema of the whole project is valid and complete (no drf-spectacular warning)."""
import pytest
import yaml
from django.core.management import call_command


@pytest.fixture
def schema(tmp_path):
    path = tmp_path / "schema.yml"
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(path))
    return yaml.safe_load(path.read_text())


ENDPOINTS = {
    "/api/anomalies": {"get", "post"},
    "/api/anomalies/{id}": {"get", "delete"},
    "/api/anomalies/stats": {"get"},
    "/api/anomalies/export": {"get"},
    "/api/alerts/configs": {"get", "post"},
    "/api/alerts/configs/{id}": {"get", "put", "patch", "delete"},
}


def test_every_operation_has_a_tag_a_summary_and_error_responses(schema):
    for path, methods in schema["paths"].items():
        for method, operation in methods.items():
            if method == "parameters":
                continue
            assert operation.get("tags"), f"{method} {path} has no tag"
            assert operation.get("summary"), f"{method} {path} has no summary"
            errors = [code for code in operation["responses"] if code.startswith(("4", "5"))]
            assert errors, f"{method} {path} documents no error response"


def test_anomalies_endpoints_are_documented(schema):
    for path, methods in ENDPOINTS.items():
        assert set(schema["paths"][path]) >= methods, path
        tag = "alerts" if "alerts" in path else "anomalies"
        for method in methods:
            operation = schema["paths"][path][method]
            assert operation["tags"] == [tag]
            for code, response in operation["responses"].items():
                if code.startswith("4"):
                    ref = response["content"]["application/json"]["schema"]["$ref"]
                    assert ref.endswith("/Error")


def test_date_bounds_say_which_end_is_inclusive(schema):
    for path in ("/api/anomalies", "/api/anomalies/stats", "/api/anomalies/export"):
        parameters = {p["name"]: p for p in schema["paths"][path]["get"]["parameters"]}
        assert "INCLUSIVE" in parameters["start_date"]["description"]
        assert "EXCLUSIVE" in parameters["end_date"]["description"]
        assert {"source", "is_anomaly", "severity", "min_score", "max_score"} <= set(parameters)
    list_parameters = {p["name"] for p in schema["paths"]["/api/anomalies"]["get"]["parameters"]}
    assert {"page", "limit", "cursor", "ordering"} <= list_parameters
