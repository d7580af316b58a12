"""Re-export of the project's shared OpenAPI error pieces (``topoforge/openapi.py``).

Kept so modules that import ``anomalies.api.openapi`` keep working; new code imports
``topoforge.openapi`` directly.
"""
from topoforge.openapi import (  # noqa: F401
    BAD_REQUEST,
    FORBIDDEN,
    NOT_FOUND,
    READ_ERRORS,
    TOO_LARGE,
    UNAUTHENTICATED,
    ErrorDetailSerializer,
    ErrorSerializer,
    error_response,
)
