"""Alert configurations: a user sees and edits only their own, an admin sees and edits all."""
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import generics

from accounts.permissions import IsSelfOrAdmin, has_role
from accounts.models import Role
from topoforge import openapi
from anomalies.api.pagination import PagePagination
from anomalies.api.parsers import LimitedJSONParser, reject_oversized_body
from anomalies.api.serializers import AlertConfigCreatedSerializer, AlertConfigSerializer
from anomalies.models import AlertConfig

ID_PARAMETER = OpenApiParameter(
    "id", OpenApiTypes.STR, OpenApiParameter.PATH, description="The alert configuration's id."
)
WRITE_ERRORS = {400: openapi.BAD_REQUEST, 401: openapi.UNAUTHENTICATED, 413: openapi.TOO_LARGE}


def configs_of(user):
    """The configurations ``user`` may see: their own, or all for an admin.

    Other users' configurations do not exist for a viewer (404, not 403).
    """
    if has_role(user, Role.ADMIN):
        return AlertConfig.objects.all()
    return AlertConfig.objects.filter(user=user)


class AlertConfigQueryMixin:
    serializer_class = AlertConfigSerializer
    permission_classes = [IsSelfOrAdmin]
    parser_classes = [LimitedJSONParser]
    queryset = AlertConfig.objects.all()

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        if request.method in ("POST", "PUT", "PATCH"):
            reject_oversized_body(request)

    def get_queryset(self):
        return configs_of(self.request.user).order_by("-created_at", "-pk")


@extend_schema_view(
    get=extend_schema(
        tags=["alerts"],
        summary="List alert configurations",
        description="Your own; an admin sees everyone's. Newest first.",
        responses={200: AlertConfigSerializer(many=True), **openapi.READ_ERRORS, 404: openapi.NOT_FOUND},
    ),
    post=extend_schema(
        tags=["alerts"],
        summary="Create an alert configuration",
        description="Owned by the requesting user. `threshold` in [0, 1]; channels are email "
        "addresses or https URLs (http only to loopback when DEBUG is on).",
        responses={201: AlertConfigCreatedSerializer, **WRITE_ERRORS},
    ),
)
class AlertConfigListCreateView(AlertConfigQueryMixin, generics.ListCreateAPIView):
    pagination_class = PagePagination

    def get_serializer_class(self):
        """A create answers with the signing secret, the only time it is ever shown."""
        if self.request.method == "POST":
            return AlertConfigCreatedSerializer
        return AlertConfigSerializer

    def perform_create(self, serializer):
        serializer.save(user=self.request.user)


_DETAIL_ERRORS = {401: openapi.UNAUTHENTICATED, 404: openapi.NOT_FOUND}


@extend_schema_view(
    get=extend_schema(
        tags=["alerts"],
        summary="Get an alert configuration",
        parameters=[ID_PARAMETER],
        responses={200: AlertConfigSerializer, **_DETAIL_ERRORS},
    ),
    put=extend_schema(
        tags=["alerts"],
        summary="Replace an alert configuration",
        parameters=[ID_PARAMETER],
        responses={200: AlertConfigSerializer, **WRITE_ERRORS, **_DETAIL_ERRORS},
    ),
    patch=extend_schema(
        tags=["alerts"],
        summary="Change fields of an alert configuration",
        parameters=[ID_PARAMETER],
        responses={200: AlertConfigSerializer, **WRITE_ERRORS, **_DETAIL_ERRORS},
    ),
    delete=extend_schema(
        tags=["alerts"],
        summary="Delete an alert configuration",
        parameters=[ID_PARAMETER],
        responses={204: OpenApiResponse(description="Deleted."), **_DETAIL_ERRORS},
    ),
)
class AlertConfigDetailView(AlertConfigQueryMixin, generics.RetrieveUpdateDestroyAPIView):
    lookup_url_kwarg = "id"
