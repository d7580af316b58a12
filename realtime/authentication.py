"""``?ticket=`` authentication for the SSE stream (EventSource cannot send headers)."""
from django.contrib.auth import get_user_model
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
