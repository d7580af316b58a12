"""``POST /api/realtime/ticket``: a single-use credential for opening a WebSocket or SSE stream."""
from django.conf import settings
from drf_spectacular.utils import OpenApiExample, extend_schema
from rest_framework import serializers, status
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.throttling import UserRateThrottle
from rest_framework.views import APIView

from realtime.identity import identity_from_request
from realtime.tickets import issue_ticket
from topoforge.openapi import RETRY_AFTER, THROTTLED, UNAUTHENTICATED


class TicketSerializer(serializers.Serializer):
    ticket = serializers.CharField(help_text="Opaque, single use. Pass as `?ticket=`.")
    expires_at = serializers.DateTimeField(help_text="UTC; unused tickets die then.")
    expires_in = serializers.IntegerField(help_text="Seconds of validity (REALTIME_TICKET_TTL_SECONDS).")
    websocket_url = serializers.CharField(help_text="Path of the WebSocket with the ticket.")
    stream_url = serializers.CharField(help_text="Path of the SSE stream with the ticket.")


class TicketRateThrottle(UserRateThrottle):
    scope = "realtime_ticket"
    rate = "60/min"


class TicketView(APIView):
    permission_classes = [IsAuthenticated]
    throttle_classes = [TicketRateThrottle]

    @extend_schema(
        tags=["realtime"],
        summary="Issue a single-use ticket for /ws/anomalies or /api/realtime/stream",
        description=(
            "Browsers cannot put an Authorization header on a WebSocket or an EventSource, and a "
            "long-lived token in a URL ends up in logs. A ticket is valid for "
            "REALTIME_TICKET_TTL_SECONDS (30 s by default), works once, and carries the caller's "
            "login: revoking that login closes the stream opened with it."
        ),
        request=None,
        responses={201: TicketSerializer, 401: UNAUTHENTICATED, 429: THROTTLED},
        parameters=[RETRY_AFTER],
        examples=[
            OpenApiExample(
                "Ticket",
                value={
                    "ticket": "kq0c1T8z2k3Yx9vLr2yq3Jb6Qm0pWfJ8dC4sA1nHhVw",
                    "expires_at": "2026-11-25T15:00:30Z",
                    "expires_in": 30,
                    "websocket_url": "/ws/anomalies?ticket=kq0c1T8z2k3Yx9vLr2yq3Jb6Qm0pWfJ8dC4sA1nHhVw",
                    "stream_url": "/api/realtime/stream?ticket=kq0c1T8z2k3Yx9vLr2yq3Jb6Qm0pWfJ8dC4sA1nHhVw",
                },
                response_only=True,
            )
        ],
    )
    def post(self, request):
        ticket, expires_at = issue_ticket(identity_from_request(request))
        body = {
            "ticket": ticket,
            "expires_at": expires_at,
            "expires_in": settings.REALTIME_TICKET_TTL_SECONDS,
            "websocket_url": f"/ws/anomalies?ticket={ticket}",
            "stream_url": f"/api/realtime/stream?ticket={ticket}",
        }
        return Response(TicketSerializer(body).data, status=status.HTTP_201_CREATED)
