"""OpenAPI pieces shared by the anomalies endpoints: the error body and the usual error responses.

Temporary home: the project-wide error component lives in ``topoforge/openapi.py`` once the
accounts helper has written it; these names then become re-exports of it.
"""
from drf_spectacular.utils import OpenApiResponse
from rest_framework import serializers


class ErrorDetailSerializer(serializers.Serializer):
    code = serializers.CharField(help_text="Machine-readable reason, e.g. `invalid`, `not_found`.")
    message = serializers.CharField(help_text="Human-readable summary.")
    fields = serializers.DictField(
        child=serializers.ListField(child=serializers.CharField()),
        help_text="Per-field messages; keys are field names (`items[2].anomaly_score` for lists).",
    )


class ErrorSerializer(serializers.Serializer):
    error = ErrorDetailSerializer()


def error_response(description):
    return OpenApiResponse(ErrorSerializer, description=description)


UNAUTHENTICATED = error_response("No valid credentials were sent.")
FORBIDDEN = error_response("The user's role does not allow this.")
NOT_FOUND = error_response("No such object (or not yours).")
BAD_REQUEST = error_response("Invalid input; `fields` names each offending field.")
TOO_LARGE = error_response("The request body is larger than MAX_REQUEST_BYTES (1 MB by default).")

READ_ERRORS = {400: BAD_REQUEST, 401: UNAUTHENTICATED}
