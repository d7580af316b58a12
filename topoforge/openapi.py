"""OpenAPI pieces every app reuses: the error body, the usual error responses, the auth scheme.

Document an endpoint's errors with these so the schema shows the one shape the API really sends
(``topoforge/errors.py``)::

    @extend_schema(tags=["anomalies"], summary="...", responses={200: Thing, **READ_ERRORS})
"""

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.plumbing import build_bearer_security_scheme_object
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse
from rest_framework import serializers


class ErrorDetailSerializer(serializers.Serializer):
    code = serializers.CharField(
        help_text="Machine-readable reason: `invalid`, `not_found`, `permission_denied`, "
        "`throttled`, and on 401 `token_missing`, `token_invalid`, `token_expired`, "
        "`token_revoked` or `invalid_credentials`."
    )
    message = serializers.CharField(help_text="Human-readable summary.")
    fields = serializers.DictField(
        child=serializers.ListField(child=serializers.CharField()),
        help_text="Per-field messages; keys are field names (`items[2].anomaly_score` for lists). "
        "Empty when the error is not about fields.",
    )


class ErrorSerializer(serializers.Serializer):
    """The body of every error response: ``{"error": {"code", "message", "fields"}}``."""

    error = ErrorDetailSerializer()


def error_response(description):
    return OpenApiResponse(ErrorSerializer, description=description)


BAD_REQUEST = error_response("Invalid input; `fields` names each offending field.")
UNAUTHENTICATED = error_response(
    "No valid credentials: `token_missing`, `token_invalid`, `token_expired` or `token_revoked`."
)
FORBIDDEN = error_response("The user's role does not allow this.")
NOT_FOUND = error_response("No such object (or not yours).")
THROTTLED = error_response("Too many attempts; retry after the `Retry-After` header's seconds.")
TOO_LARGE = error_response("The request body is larger than MAX_REQUEST_BYTES (1 MB by default).")

READ_ERRORS = {400: BAD_REQUEST, 401: UNAUTHENTICATED}

RETRY_AFTER = OpenApiParameter(
    "Retry-After",
    OpenApiTypes.INT,
    OpenApiParameter.HEADER,
    response=[429],
    description="Seconds until the next attempt is allowed.",
)


class SessionJWTScheme(OpenApiAuthenticationExtension):
    """``Authorization: Bearer <access token>`` (from POST /api/auth/login)."""

    target_class = "accounts.authentication.SessionJWTAuthentication"
    name = "jwtAuth"

    def get_security_definition(self, auto_schema):
        return build_bearer_security_scheme_object(
            header_name="HTTP_AUTHORIZATION", token_prefix="Bearer", bearer_format="JWT"
        )
