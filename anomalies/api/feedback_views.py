"""``/api/anomalies/{id}/feedback``: any signed-in user labels a detection; everyone sees the history."""
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import generics, serializers, status
from rest_framework.generics import get_object_or_404
from rest_framework.response import Response

from anomalies.api.pagination import PagePagination
from anomalies.api.views import ID_PARAMETER as ANOMALY_ID
from anomalies.feedback import record_feedback
from anomalies.models import AnomalyLog, Feedback, FeedbackLabel
from topoforge import openapi
from topoforge.serializers import ModelSerializer, StringIdField

class FeedbackSerializer(ModelSerializer):
    anomaly = StringIdField(source="anomaly_id", help_text="The detection's id.")
    user = StringIdField(source="user_id", allow_null=True, help_text="Who said it (null: deleted user).")
    username = serializers.CharField(source="user.username", read_only=True, allow_null=True, default=None)
    label = serializers.ChoiceField(
        choices=FeedbackLabel.choices,
        help_text="anomaly | expected | not_anomaly | new_trend. The latest becomes the "
        "detection's `feedback_label`.",
    )

    class Meta:
        model = Feedback
        fields = ["id", "anomaly", "label", "user", "username", "created_at", "incident"]
        read_only_fields = ["created_at", "incident"]


@extend_schema_view(
    get=extend_schema(
        tags=["anomalies"],
        summary="Feedback history of a detection",
        description="Every label given to the detection, newest first, with who and when.",
        parameters=[ANOMALY_ID],
        responses={200: FeedbackSerializer(many=True), **openapi.READ_ERRORS, 404: openapi.NOT_FOUND},
    ),
    post=extend_schema(
        tags=["anomalies"],
        summary="Give feedback on a detection",
        description="Viewers and admins. Records the label with the user and the time, and makes "
        "it the detection's current `feedback_label`; earlier labels stay in the history. "
        "`anomaly` and `new_trend` confirm the detection, `expected` and `not_anomaly` call it a "
        "false alarm (see `feedback.precision` in the stats).",
        parameters=[ANOMALY_ID],
        responses={
            201: FeedbackSerializer,
            400: openapi.BAD_REQUEST,
            401: openapi.UNAUTHENTICATED,
            404: openapi.NOT_FOUND,
            413: openapi.TOO_LARGE,
        },
    ),
)
class AnomalyFeedbackView(generics.ListCreateAPIView):
    serializer_class = FeedbackSerializer
    pagination_class = PagePagination
    queryset = Feedback.objects.none()  # for the schema; get_queryset scopes to the detection

    def get_anomaly(self):
        """The detection, or 404 (also when the id is not an id at all)."""
        return get_object_or_404(AnomalyLog.objects.only("pk"), pk=self.kwargs["id"])

    def get_queryset(self):
        return (
            Feedback.objects.filter(anomaly=self.get_anomaly())
            .select_related("user")
            .order_by("-created_at", "-pk")
        )

    def create(self, request, *args, **kwargs):
        anomaly = self.get_anomaly()
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        feedback = record_feedback(anomaly, request.user, serializer.validated_data["label"])
        return Response(self.get_serializer(feedback).data, status=status.HTTP_201_CREATED)
