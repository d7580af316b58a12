"""``/api/incidents``: consecutive alarms of one stream and series (anomalies/incidents.py)."""
from django.utils.dateparse import parse_datetime
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import generics, serializers, status
from rest_framework.exceptions import ValidationError
from rest_framework.generics import get_object_or_404
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response

from anomalies.api.feedback_views import FeedbackSerializer
from anomalies.api.pagination import PagePagination
from anomalies.feedback import record_feedback
from anomalies.models import AnomalyLog, FeedbackLabel, Incident
from topoforge import openapi
from topoforge.serializers import ModelSerializer, StringIdField

INCIDENT_ID = OpenApiParameter("id", OpenApiTypes.STR, OpenApiParameter.PATH, description="The incident's id.")
MAX_ROWS_IN_DETAIL = 1000


class IncidentSerializer(ModelSerializer):
    peak = StringIdField(source="peak_id", allow_null=True, help_text="The rarest row's detection id.")

    class Meta:
        model = Incident
        fields = ["id", "source_type", "series", "started_at", "ended_at", "peak_score", "peak", "row_count", "created_at"]


class IncidentRowSerializer(ModelSerializer):
    class Meta:
        model = AnomalyLog
        fields = ["id", "timestamp", "anomaly_score", "is_anomaly", "suppressed", "severity", "feedback_label"]


class IncidentDetailSerializer(IncidentSerializer):
    rows = serializers.SerializerMethodField(help_text=f"Its rows, oldest first (at most {MAX_ROWS_IN_DETAIL}).")

    class Meta(IncidentSerializer.Meta):
        fields = IncidentSerializer.Meta.fields + ["rows"]

    @staticmethod
    def get_rows(incident) -> list:
        rows = incident.rows.order_by("timestamp", "pk")[:MAX_ROWS_IN_DETAIL]
        return IncidentRowSerializer(rows, many=True).data


class IncidentFeedbackSerializer(serializers.Serializer):
    label = serializers.ChoiceField(choices=FeedbackLabel.choices, help_text="anomaly | expected | not_anomaly | new_trend.")


def _time_filter(request, name):
    text = request.query_params.get(name)
    if text is None:
        return None
    moment = parse_datetime(text)
    if moment is None:
        raise ValidationError({name: "An ISO 8601 date-time is required."})
    return moment


@extend_schema_view(
    get=extend_schema(
        tags=["incidents"],
        summary="List incidents",
        description="Newest first. An incident is a row that alarmed and the rows the alarm gate "
        "suppressed after it (the same incident) in one stream and series.",
        parameters=[
            OpenApiParameter("source", OpenApiTypes.STR, description="Only this source_type."),
            OpenApiParameter("series", OpenApiTypes.STR, description="Only this series."),
            OpenApiParameter("start_date", OpenApiTypes.DATETIME, description="Only incidents ending at or after this."),
            OpenApiParameter("end_date", OpenApiTypes.DATETIME, description="Only incidents starting before this."),
        ],
        responses={200: IncidentSerializer(many=True), **openapi.READ_ERRORS},
    )
)
class IncidentListView(generics.ListAPIView):
    serializer_class = IncidentSerializer
    pagination_class = PagePagination
    permission_classes = [IsAuthenticated]

    def get_queryset(self):
        params = self.request.query_params
        queryset = Incident.objects.order_by("-started_at", "-pk")
        if params.get("source"):
            queryset = queryset.filter(source_type=params["source"])
        if "series" in params:
            queryset = queryset.filter(series=params["series"])
        start, end = _time_filter(self.request, "start_date"), _time_filter(self.request, "end_date")
        if start is not None:
            queryset = queryset.filter(ended_at__gte=start)
        if end is not None:
            queryset = queryset.filter(started_at__lt=end)
        return queryset


@extend_schema(
    tags=["incidents"], summary="Get one incident, with its rows", parameters=[INCIDENT_ID],
    responses={200: IncidentDetailSerializer, 401: openapi.UNAUTHENTICATED, 404: openapi.NOT_FOUND},
)
class IncidentDetailView(generics.RetrieveAPIView):
    queryset = Incident.objects.all()
    serializer_class = IncidentDetailSerializer
    permission_classes = [IsAuthenticated]
    lookup_url_kwarg = "id"


@extend_schema(
    tags=["incidents"],
    summary="Give feedback on a whole incident",
    description="Recorded as feedback on the incident's peak row, pointing at the incident "
    "(`GET /api/anomalies/{peak}/feedback` lists it); the peak row's `feedback_label` follows.",
    parameters=[INCIDENT_ID],
    request=IncidentFeedbackSerializer,
    responses={201: FeedbackSerializer, 400: openapi.BAD_REQUEST, 401: openapi.UNAUTHENTICATED, 404: openapi.NOT_FOUND},
)
class IncidentFeedbackView(generics.GenericAPIView):
    serializer_class = IncidentFeedbackSerializer
    permission_classes = [IsAuthenticated]

    def post(self, request, id):
        incident = get_object_or_404(Incident.objects.all(), pk=id)
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        peak = incident.peak or incident.rows.order_by("timestamp", "pk").first()
        if peak is None:
            raise ValidationError({"id": "The incident has no stored rows left to label."})
        feedback = record_feedback(peak, request.user, serializer.validated_data["label"], incident=incident)
        return Response(FeedbackSerializer(feedback).data, status=status.HTTP_201_CREATED)
