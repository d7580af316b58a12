"""``POST /api/events``: clients push their own events or metrics for detection.

The endpoint validates a batch (up to 1,000 events) and stores it in the durable inbox
(``IngestedEvent``); ``manage.py detect --source http --stream <name>`` reads the inbox in
order, buckets the events like any other stream and stores detections as usual. Pushing
never waits for detection, a restart of either side loses nothing, and the answer (202) means
"stored, will be evaluated".
"""
import math
from datetime import datetime, timedelta, timezone

from django.utils import timezone as django_timezone
from drf_spectacular.utils import OpenApiExample, extend_schema, extend_schema_field
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.permissions import IsAdminRole
from anomalies.api.parsers import LimitedJSONParser, reject_oversized_body
from streams.sources.event_time import parse_time
from anomalies.models import IngestedEvent
from topoforge import openapi

MAX_EVENTS_PER_REQUEST = 1000
MAX_FUTURE = timedelta(days=1)  # clocks drift, but an event a day ahead is a client bug


@extend_schema_field({"oneOf": [{"type": "string", "format": "date-time"}, {"type": "number"}]})
class EventTimeField(serializers.Field):
    """ISO 8601 (``2026-01-01T12:00:00Z``; no zone = UTC) or epoch seconds/milliseconds."""

    default_error_messages = {
        "invalid": "Use an ISO 8601 time or epoch seconds.",
        "future": "More than a day in the future.",
    }

    def to_internal_value(self, data):
        if not isinstance(data, (str, int, float)) or isinstance(data, bool):
            self.fail("invalid")
        moment = parse_time(data)
        if moment is None or not math.isfinite(moment):
            self.fail("invalid")
        try:
            when = datetime.fromtimestamp(moment, tz=timezone.utc)
        except (OverflowError, OSError, ValueError):
            self.fail("invalid")
        if when > django_timezone.now() + MAX_FUTURE:
            self.fail("future")
        return when

    def to_representation(self, value):
        return value.isoformat().replace("+00:00", "Z")


class PushedEventSerializer(serializers.Serializer):
    timestamp = EventTimeField(required=False, help_text="Event time; default: when it was received.")
    value = serializers.FloatField(required=False, allow_null=True, help_text="A measurement; default 1 (a count).")
    key = serializers.CharField(required=False, allow_blank=True, max_length=200,
                                help_text="Who or what it is about (user, host, ...): counted distinct.")
    type = serializers.CharField(required=False, allow_blank=True, max_length=64,
                                 help_text="A category: counted distinct.")
    data = serializers.DictField(required=False, help_text="Anything else; stored with the event, not used.")

    def to_internal_value(self, data):
        if isinstance(data, dict):
            unknown = sorted(set(data) - set(self.fields))
            if unknown:
                raise serializers.ValidationError(
                    {name: [f"Unknown field; use {', '.join(self.fields)} (extras go in data)."] for name in unknown}
                )
        return super().to_internal_value(data)

    def validate_value(self, value):
        if value is not None and not math.isfinite(value):
            raise serializers.ValidationError("Must be a finite number.")
        return value


@extend_schema_field(PushedEventSerializer(many=True))
class EventListField(serializers.ListField):
    """The raw list; ``EventBatchSerializer.validate_events`` validates the items."""


class EventBatchSerializer(serializers.Serializer):
    stream = serializers.RegexField(
        r"^[A-Za-z0-9_.-]{1,64}$", required=False, default="default",
        error_messages={"invalid": "1 to 64 letters, digits, '.', '_' or '-'."},
        help_text="The stream (one detector per stream: detect --source http --stream NAME).",
    )
    events = EventListField(allow_empty=False, max_length=MAX_EVENTS_PER_REQUEST,
                            help_text=f"1 to {MAX_EVENTS_PER_REQUEST} events.")

    def validate_events(self, items):
        """Each event on its own, so an error names it: ``events[3].timestamp``."""
        valid, errors = [], []
        for item in items:
            event = PushedEventSerializer(data=item)
            if event.is_valid():
                valid.append(event.validated_data)
                errors.append({})
            else:
                errors.append(event.errors)
        if any(errors):
            raise serializers.ValidationError(errors)
        return valid


class EventBatchAcceptedSerializer(serializers.Serializer):
    stream = serializers.CharField()
    accepted = serializers.IntegerField(help_text="Events stored in the inbox.")
    first_id = serializers.CharField(allow_null=True, help_text="Inbox id of the first event.")
    last_id = serializers.CharField(allow_null=True, help_text="Inbox id of the last event.")


class EventBatchView(APIView):
    permission_classes = [IsAdminRole]
    parser_classes = [LimitedJSONParser]

    @extend_schema(
        tags=["events"],
        summary="Push a batch of events for detection",
        description=(
            "Admin or a service account with the admin role. Up to 1,000 events per request; "
            "the batch is validated as a whole (nothing is stored if one event is invalid; "
            "`fields` names it, e.g. `events[3].timestamp`) and stored in the durable inbox of "
            "`stream`. `manage.py detect --source http --stream <stream>` turns them into "
            "buckets and detections like any other stream. 202 means stored, not yet evaluated."
        ),
        request=EventBatchSerializer,
        responses={
            202: EventBatchAcceptedSerializer,
            400: openapi.BAD_REQUEST,
            401: openapi.UNAUTHENTICATED,
            403: openapi.FORBIDDEN,
            413: openapi.TOO_LARGE,
        },
        examples=[
            OpenApiExample(
                "Two latency measurements",
                request_only=True,
                value={"stream": "checkout", "events": [
                    {"timestamp": "2026-01-01T12:00:00Z", "value": 182.5, "key": "web-1", "type": "latency_ms"},
                    {"timestamp": 1767268801, "value": 240.0, "key": "web-2", "type": "latency_ms"},
                ]},
            )
        ],
    )
    def post(self, request):
        reject_oversized_body(request)
        batch = EventBatchSerializer(data=request.data)
        batch.is_valid(raise_exception=True)
        stream = batch.validated_data["stream"]
        received = django_timezone.now()
        rows = [
            IngestedEvent(
                stream=stream,
                event_time=event.get("timestamp") or received,
                value=event.get("value"),
                key=event.get("key") or "",
                type=event.get("type") or "",
                data=event.get("data") or {},
                received_at=received,
            )
            for event in batch.validated_data["events"]
        ]
        created = IngestedEvent.objects.bulk_create(rows)
        ids = [str(row.pk) for row in created if row.pk is not None]
        body = {"stream": stream, "accepted": len(created),
                "first_id": ids[0] if ids else None, "last_id": ids[-1] if ids else None}
        return Response(body, status=status.HTTP_202_ACCEPTED)
