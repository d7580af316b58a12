"""Alert endpoints beside the configs: delivery history, test notifications, secret rotation.

A viewer sees only deliveries of their own configs and may act only on their own configs (other
people's are 404, as in the config endpoints); an admin sees and acts on all.
"""
import django_filters
from django.core.exceptions import ValidationError as DjangoValidationError
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.utils import extend_schema
from rest_framework import generics, serializers, status
from rest_framework.exceptions import ValidationError
from rest_framework.generics import get_object_or_404
from rest_framework.response import Response

from accounts.models import Role
from accounts.permissions import has_role
from alerts.delivery import send_test
from anomalies.api.alert_views import ID_PARAMETER as CONFIG_ID
from anomalies.api.alert_views import configs_of
from anomalies.api.pagination import PagePagination
from anomalies.models import (
    AlertConfig,
    AlertDelivery,
    DeliveryKind,
    DeliveryStatus,
    new_alert_secret,
)
from topoforge import openapi
from topoforge.serializers import ModelSerializer, StringIdField

class AlertDeliverySerializer(ModelSerializer):
    config = StringIdField(source="config_id", help_text="The alert configuration's id.")

    class Meta:
        model = AlertDelivery
        fields = [
            "id",
            "config",
            "channel",
            "kind",
            "status",
            "attempts",
            "last_error",
            "next_attempt_at",
            "detection_count",
            "max_score",
            "first_detection_at",
            "last_detection_at",
            "payload",
            "created_at",
            "sent_at",
        ]
        read_only_fields = fields
        extra_kwargs = {
            "channel": {"help_text": 'The channel as configured: {"type", "target"}.'},
            "kind": {"help_text": "alert (detections reached the threshold) or test."},
            "status": {"help_text": "pending (waiting or retrying), sent, or failed for good."},
            "next_attempt_at": {"help_text": "When a pending delivery is (re)tried."},
            "detection_count": {"help_text": "Detections folded into this alert (0 for a test)."},
            "payload": {"help_text": "The config and the detection that opened the alert."},
        }


class DeliveryFilter(django_filters.FilterSet):
    status = django_filters.ChoiceFilter(choices=DeliveryStatus.choices)
    kind = django_filters.ChoiceFilter(choices=DeliveryKind.choices)
    config = django_filters.CharFilter(method="filter_config", help_text="An alert config's id.")

    class Meta:
        model = AlertDelivery
        fields = ["status", "kind", "config"]

    def filter_config(self, queryset, name, value):
        try:
            config_id = AlertConfig._meta.pk.to_python(value)
        except DjangoValidationError:
            raise ValidationError({"config": ["Not a valid id."]}) from None
        return queryset.filter(config_id=config_id)


@extend_schema(
    tags=["alerts"],
    summary="List alert deliveries",
    description="Notifications sent, waiting or failed, newest first: deliveries of your own "
    "configs (an admin sees all). Filter by `status`, `kind` and `config`.",
    responses={200: AlertDeliverySerializer(many=True), **openapi.READ_ERRORS, 404: openapi.NOT_FOUND},
)
class AlertDeliveryListView(generics.ListAPIView):
    serializer_class = AlertDeliverySerializer
    pagination_class = PagePagination
    filter_backends = [DjangoFilterBackend]
    filterset_class = DeliveryFilter
    queryset = AlertDelivery.objects.none()  # for the schema; get_queryset scopes to the user

    def get_queryset(self):
        deliveries = AlertDelivery.objects.order_by("-created_at", "-pk")
        if has_role(self.request.user, Role.ADMIN):
            return deliveries
        return deliveries.filter(config__user=self.request.user)


def _own_config(request, config_id):
    """The config, or 404 when it is someone else's or ``config_id`` is not an id at all."""
    return get_object_or_404(configs_of(request.user), pk=config_id)


@extend_schema(
    tags=["alerts"],
    summary="Send a test notification",
    description="Sends a test message to every channel of the configuration now (one attempt "
    "each, no retries) and returns the resulting deliveries, with `status` sent or failed and "
    "`last_error` saying why. Works on inactive configurations too.",
    parameters=[CONFIG_ID],
    request=None,
    responses={
        201: AlertDeliverySerializer(many=True),
        400: openapi.BAD_REQUEST,
        401: openapi.UNAUTHENTICATED,
        404: openapi.NOT_FOUND,
    },
)
class AlertConfigTestView(generics.GenericAPIView):
    serializer_class = AlertDeliverySerializer
    queryset = AlertConfig.objects.none()  # for the schema; _own_config scopes to the user

    def post(self, request, id):
        config = _own_config(request, id)
        if not config.notification_channels:
            raise ValidationError(
                {"notification_channels": ["This configuration has no channels to test."]}
            )
        deliveries = send_test(config)
        return Response(
            AlertDeliverySerializer(deliveries, many=True).data, status=status.HTTP_201_CREATED
        )


class AlertSecretSerializer(serializers.Serializer):
    secret = serializers.CharField(
        read_only=True,
        help_text="Key of the X-TopoForge-Signature HMAC-SHA256. Shown only here and when the "
        "configuration is created; store it in your receiver.",
    )


@extend_schema(
    tags=["alerts"],
    summary="Rotate the webhook signing secret",
    description="Replaces the configuration's secret with a new random one and returns it, once. "
    "Deliveries sent from now on are signed with it.",
    parameters=[CONFIG_ID],
    request=None,
    responses={200: AlertSecretSerializer, 401: openapi.UNAUTHENTICATED, 404: openapi.NOT_FOUND},
)
class AlertConfigSecretView(generics.GenericAPIView):
    serializer_class = AlertSecretSerializer
    queryset = AlertConfig.objects.none()  # for the schema; _own_config scopes to the user

    def post(self, request, id):
        config = _own_config(request, id)
        config.secret = new_alert_secret()
        config.save(update_fields=["secret", "updated_at"])
        return Response({"secret": config.secret})
