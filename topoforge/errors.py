"""One error shape for the whole API: ``{"error": {"code", "message", "fields"}}``.

DRF's handler decides the status and headers (``WWW-Authenticate`` on 401, ``Retry-After`` on 429);
this module only reshapes its body, and turns the few Django exceptions DRF leaves alone (a request
body that is too large) into the same shape. A 401 always carries one of ``token_missing``,
``token_invalid``, ``token_expired``, ``token_revoked`` (or the ``error_code`` of the exception,
e.g. ``invalid_credentials`` from the login view).
"""
from django.core.exceptions import RequestDataTooBig
from rest_framework import exceptions, status
from rest_framework.response import Response


class PayloadTooLarge(exceptions.APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = "The request body is too large."
    default_code = "payload_too_large"


def error_body(code, message, fields=None):
    return {"error": {"code": code, "message": message, "fields": fields or {}}}


def error_response(status_code, code, message, fields=None, headers=None):
    return Response(error_body(code, message, fields), status=status_code, headers=headers)


def _flatten(detail):
    """DRF's nested ErrorDetail structure → ``{"field": ["message", ...]}`` with dotted paths."""
    fields = {}

    def walk(prefix, value):
        if isinstance(value, dict):
            for key, inner in value.items():
                walk(f"{prefix}.{key}" if prefix else str(key), inner)
        elif isinstance(value, list) and value and not all(isinstance(v, str) for v in value):
            for index, inner in enumerate(value):
                if inner:
                    walk(f"{prefix}[{index}]" if prefix else f"[{index}]", inner)
        else:
            messages = value if isinstance(value, list) else [value]
            fields.setdefault(prefix or "non_field_errors", []).extend(str(m) for m in messages)

    walk("", detail)
    return fields


def _first_code(detail, fallback):
    if isinstance(detail, dict):
        detail = next(iter(detail.values()), None)
    while isinstance(detail, (list, dict)) and detail:
        detail = detail[0] if isinstance(detail, list) else next(iter(detail.values()))
    return getattr(detail, "code", None) or fallback


def _auth_code(exc, status_code):
    """401s without a code of their own: no credentials, or credentials that could not be read."""
    if status_code != status.HTTP_401_UNAUTHORIZED:
        return None
    if isinstance(exc, exceptions.NotAuthenticated):
        return "token_missing"
    if isinstance(exc, exceptions.AuthenticationFailed):
        return "token_invalid"
    return None


def api_exception_handler(exc, context):
    # Imported here: rest_framework.views reads DEFAULT_PARSER_CLASSES when it is imported, and
    # our parser imports this module for PayloadTooLarge (an import cycle when the parser loads first).
    from rest_framework.views import exception_handler

    if isinstance(exc, RequestDataTooBig):
        exc = PayloadTooLarge()
    response = exception_handler(exc, context)
    if response is None:
        return None  # an unexpected error: Django's 500 handling (and its logging) takes over

    detail = getattr(exc, "detail", response.data)
    if isinstance(exc, exceptions.ValidationError):
        code = "invalid"
        message = "The request has invalid fields."
        fields = _flatten(detail)
    else:
        code = (
            getattr(exc, "error_code", None)
            or _auth_code(exc, response.status_code)
            or _first_code(detail, "error")
        )
        message = str(detail.get("detail", detail)) if isinstance(detail, dict) else str(detail)
        fields = getattr(exc, "fields", None) or {}
    response.data = error_body(code, message, fields)
    return response
