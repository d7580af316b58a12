"""Endpoints of detections: create (admin), list, detail, delete (admin), stats and export."""
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    PolymorphicProxySerializer,
    extend_schema,
    extend_schema_view,
)
from rest_framework import generics, status
from rest_framework.exceptions import ValidationError
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response

from accounts.permissions import IsAdminRole
from topoforge import openapi
from anomalies.api.bulk import store_detections
from anomalies.api.export import COLUMNS, FORMATS, export_filename, export_response
from anomalies.api.filters import AnomalyLogFilter, ordered
from anomalies.api.pagination import AnomalyPagination
from anomalies.api.rollup_scope import scope_of
from anomalies.api.parsers import LimitedJSONParser, reject_oversized_body
from anomalies.api.serializers import MAX_DETECTIONS_PER_REQUEST, AnomalyLogSerializer
from anomalies.api.stats import BucketSerializer, StatsSerializer, compute_stats
from anomalies.models import AnomalyLog

ID_PARAMETER = OpenApiParameter(
    "id", OpenApiTypes.STR, OpenApiParameter.PATH, description="The detection's id."
)

ONE_OR_MANY = PolymorphicProxySerializer(
    component_name="AnomalyLogOneOrMany",
    serializers=[AnomalyLogSerializer, AnomalyLogSerializer(many=True)],
    resource_type_field_name=None,
    many=False,
)


class AnomalyQueryMixin:
    """The filtered detections, shared by list, stats and export."""

    queryset = AnomalyLog.objects.all()
    filter_backends = [DjangoFilterBackend]
    filterset_class = AnomalyLogFilter

    rollup_scope = None

    def get_queryset(self):
        return ordered(AnomalyLog.objects.all())

    def filter_queryset(self, queryset):
        """The filtered detections; also notes whether the rollups can answer for them."""
        filterset = self.filterset_class(self.request.query_params, queryset=queryset, request=self.request)
        if not filterset.is_valid():
            raise ValidationError(filterset.errors)
        self.filter_values = filterset.form.cleaned_data
        self.rollup_scope = scope_of(self.filter_values)
        return filterset.qs


@extend_schema_view(
    get=extend_schema(
        tags=["anomalies"],
        summary="List detections",
        description="Newest first by default. Page mode (`page`, `limit`) gives `count`, added up "
        "from the hourly rollups (`count_exact` false) unless a score or feedback filter needs the "
        "rows counted (`count_exact` true); cursor "
        "mode (`cursor=` to start, then follow `next`) pages in constant time at any depth. "
        "`start_date` is inclusive, `end_date` exclusive.",
        responses={200: AnomalyLogSerializer(many=True), **openapi.READ_ERRORS, 404: openapi.NOT_FOUND},
    ),
    post=extend_schema(
        tags=["anomalies"],
        summary="Store detections (admin)",
        description=f"One detection, or a list of up to {MAX_DETECTIONS_PER_REQUEST} stored in one "
        "bulk write. Every item is validated first; if any is invalid nothing is stored and "
        "`fields` names each problem (`[3].anomaly_score`). `severity` defaults to the band of "
        "`anomaly_score`. The answer mirrors the request: an object or a list.",
        request=ONE_OR_MANY,
        responses={
            201: ONE_OR_MANY,
            400: openapi.BAD_REQUEST,
            401: openapi.UNAUTHENTICATED,
            403: openapi.FORBIDDEN,
            413: openapi.TOO_LARGE,
        },
    ),
)
class AnomalyListCreateView(AnomalyQueryMixin, generics.ListCreateAPIView):
    serializer_class = AnomalyLogSerializer
    pagination_class = AnomalyPagination
    parser_classes = [LimitedJSONParser]

    def get_permissions(self):
        if self.request.method == "POST":
            return [IsAdminRole()]
        return [IsAuthenticated()]

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        if request.method == "POST":
            reject_oversized_body(request)

    def create(self, request, *args, **kwargs):
        data = request.data
        many = isinstance(data, list)
        if many and not 1 <= len(data) <= MAX_DETECTIONS_PER_REQUEST:
            raise ValidationError(
                {"items": [f"Send between 1 and {MAX_DETECTIONS_PER_REQUEST} detections; got {len(data)}."]}
            )
        serializer = AnomalyLogSerializer(data=data, many=many)
        serializer.is_valid(raise_exception=True)
        stored = store_detections(serializer.validated_data if many else [serializer.validated_data])
        body = AnomalyLogSerializer(stored, many=True).data
        return Response(body if many else body[0], status=status.HTTP_201_CREATED)


@extend_schema_view(
    get=extend_schema(
        tags=["anomalies"],
        summary="Get one detection",
        parameters=[ID_PARAMETER],
        responses={200: AnomalyLogSerializer, 401: openapi.UNAUTHENTICATED, 404: openapi.NOT_FOUND},
    ),
    delete=extend_schema(
        tags=["anomalies"],
        summary="Delete one detection (admin)",
        parameters=[ID_PARAMETER],
        responses={
            204: OpenApiResponse(description="Deleted."),
            401: openapi.UNAUTHENTICATED,
            403: openapi.FORBIDDEN,
            404: openapi.NOT_FOUND,
        },
    ),
)
class AnomalyDetailView(generics.RetrieveDestroyAPIView):
    queryset = AnomalyLog.objects.all()
    serializer_class = AnomalyLogSerializer
    lookup_url_kwarg = "id"

    def get_permissions(self):
        if self.request.method == "DELETE":
            return [IsAdminRole()]
        return [IsAuthenticated()]


@extend_schema(
    tags=["anomalies"],
    summary="Aggregate detections",
    description="Over the detections matching the same filters as the list (`start_date` "
    "inclusive, `end_date` exclusive): totals, anomaly rate, counts by source and severity, mean "
    "and max score, mean Betti numbers, and a time series in UTC buckets.",
    filters=True,
    parameters=[BucketSerializer],
    responses={200: StatsSerializer, **openapi.READ_ERRORS},
)
class AnomalyStatsView(AnomalyQueryMixin, generics.GenericAPIView):
    serializer_class = StatsSerializer
    pagination_class = None

    def get(self, request):
        options = BucketSerializer(data=request.query_params)
        options.is_valid(raise_exception=True)
        queryset = self.filter_queryset(self.get_queryset())
        return Response(compute_stats(queryset, options.validated_data.get("bucket"), self.rollup_scope))


class IgnoreFormatParameter(BaseContentNegotiation):
    """``?format=`` is the export's own parameter here, not DRF's renderer override."""

    def select_parser(self, request, parsers):
        return parsers[0] if parsers else None

    def select_renderer(self, request, renderers, format_suffix=None):
        return renderers[0], renderers[0].media_type


@extend_schema(
    tags=["anomalies"],
    summary="Export detections (CSV or NDJSON, streamed)",
    description="The detections matching the list's filters and ordering, streamed in constant "
    "memory with `Content-Disposition: attachment; filename=\"anomalies_<start>_<end>.<ext>\"`. "
    f"CSV columns, in order: {', '.join(COLUMNS)}; JSON objects as JSON text, booleans "
    "`true`/`false`, times UTC ISO 8601 with `Z`; text cells starting with `= + - @`, tab or CR "
    "are prefixed with `'` so spreadsheets do not run them. Each NDJSON line is exactly one "
    "detection as the list returns it.",
    filters=True,
    parameters=[
        OpenApiParameter(
            "format", OpenApiTypes.STR, enum=list(FORMATS), default="csv", description="csv (the default) or ndjson."
        )
    ],
    responses={
        (200, "text/csv"): OpenApiResponse(OpenApiTypes.STR, description="CSV with a header row."),
        (200, "application/x-ndjson"): OpenApiResponse(OpenApiTypes.STR, description="One JSON object per line."),
        **openapi.READ_ERRORS,
    },
)
class AnomalyExportView(AnomalyQueryMixin, generics.GenericAPIView):
    pagination_class = None
    content_negotiation_class = IgnoreFormatParameter

    def get(self, request):
        export_format = request.query_params.get("format", "csv")
        if export_format not in FORMATS:
            raise ValidationError({"format": [f"Must be one of: {', '.join(FORMATS)}."]})
        queryset = self.filter_queryset(self.get_queryset())
        bounds = self.filter_values
        filename = export_filename(bounds.get("start_date"), bounds.get("end_date"), export_format)
        return export_response(request, queryset, export_format, filename)
