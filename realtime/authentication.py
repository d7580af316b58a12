"""``?ticket=`` authentication for the SSE stream (EventSource cannot send headers)."""
from django.contrib.auth import get_user_model
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework.authentication import BaseAuthentication
from rest_framework.exceptions import AuthenticationFailed

from realtime.tickets import redeem_ticket


class TicketInvalid(AuthenticationFailed):
    error_code = "ticket_invalid"
    default_detail = "The ticket is unknown, expired or already used."

    def __init__(self, detail=None):
        super().__init__(detail, code=self.error_code)


class TicketAuthentication(BaseAuthentication):
    def authenticate(self, request):
        ticket = request.query_params.get("ticket")
        if not ticket:
            return None
        identity = redeem_ticket(ticket)
        if identity is None:
            raise TicketInvalid()
        user = get_user_model().objects.filter(pk=identity.user_id, is_active=True).first()
        if user is None:
            raise TicketInvalid("The account of this ticket is disabled.")
        return user, identity

    def authenticate_header(self, request):
        return 'Bearer realm="api"'


class TicketScheme(OpenApiAuthenticationExtension):
    """``?ticket=`` from POST /api/realtime/ticket (single use, short-lived)."""

    target_class = "realtime.authentication.TicketAuthentication"
    name = "ticketAuth"

    def get_security_definition(self, auto_schema):
        return {"type": "apiKey", "in": "query", "name": "ticket"}
