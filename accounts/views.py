"""The auth endpoints (/api/auth/...) and user management (/api/users...)."""

import ipaddress

from django.contrib.auth import authenticate, get_user_model, logout, update_session_auth_hash
from django.contrib.auth.models import update_last_login
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import generics, status
from rest_framework.exceptions import AuthenticationFailed, PermissionDenied, ValidationError
from rest_framework.filters import OrderingFilter, SearchFilter
from rest_framework.generics import get_object_or_404
from rest_framework.pagination import PageNumberPagination
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.response import Response
from rest_framework.throttling import BaseThrottle
from rest_framework.views import APIView

from accounts import serializers, throttles
from accounts.authentication import current_session_id
from accounts.models import Session
from accounts.permissions import IsAdminRole, IsSelfOrAdmin
from accounts.tokens import issue_token_pair, rotate_refresh_token
from topoforge.openapi import (
    BAD_REQUEST,
    FORBIDDEN,
    NOT_FOUND,
    RETRY_AFTER,
    THROTTLED,
    UNAUTHENTICATED,
    error_response,
)

User = get_user_model()

ID_PARAMETER = OpenApiParameter(
    "id", str, OpenApiParameter.PATH, description="The id, as a string, of the object."
)
NO_CONTENT = OpenApiResponse(description="Done; no body.")


class InvalidCredentials(AuthenticationFailed):
    error_code = "invalid_credentials"
    default_detail = "The username or email, or the password, is not correct."


class AdminOnlyFields(PermissionDenied):
    """403 naming the fields only an admin may change."""

    def __init__(self, fields):
        super().__init__("Only an admin can change " + ", ".join(sorted(fields)) + ".")
        self.fields = {field: ["Only an admin can change this."] for field in sorted(fields)}


class Pagination(PageNumberPagination):
    """``?page=N&limit=M`` as in the other listings: 50 per page, at most 1,000."""

    page_size = 50
    page_size_query_param = "limit"
    max_page_size = 1000


def client_ip(request):
    """The client address, through at most NUM_PROXIES trusted proxies; None if not an IP."""
    ident = BaseThrottle().get_ident(request)
    try:
        return str(ipaddress.ip_address(ident))
    except ValueError:
        return None


class PublicAuthView(APIView):
    """Ignores any Authorization header (a stale token must not block logging in again)."""

    authentication_classes = []
    permission_classes = [AllowAny]

    def get_authenticate_header(self, request):
        return 'Bearer realm="api"'  # keeps DRF from turning our 401s into 403s


class RegisterView(PublicAuthView):
    throttle_classes = [throttles.RegisterIPThrottle, throttles.RegisterAccountThrottle]

    @extend_schema(
        tags=["auth"],
        summary="Create an account",
        description="A new account always gets the `viewer` role. Throttled per IP and per name.",
        auth=[],
        request=serializers.RegisterSerializer,
        responses={
            201: serializers.UserSerializer,
            400: BAD_REQUEST,
            429: THROTTLED,
        },
        parameters=[RETRY_AFTER],
    )
    def post(self, request):
        serializer = serializers.RegisterSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        user = serializer.save()
        return Response(serializers.UserSerializer(user).data, status=status.HTTP_201_CREATED)


class LoginView(PublicAuthView):
    throttle_classes = [throttles.LoginIPThrottle, throttles.LoginAccountThrottle]

    @extend_schema(
        tags=["auth"],
        summary="Log in: start a session and get its tokens",
        description="Give `username` (a username or an email address) or `email`, and "
        "`password`. The access token authenticates requests; the refresh token gets a new "
        "pair at /api/auth/refresh. Throttled per IP and per account.",
        auth=[],
        request=serializers.LoginSerializer,
        responses={
            200: serializers.LoginResponseSerializer,
            400: BAD_REQUEST,
            401: error_response("`invalid_credentials`: wrong name or password, or disabled."),
            429: THROTTLED,
        },
        parameters=[RETRY_AFTER],
    )
    def post(self, request):
        serializer = serializers.LoginSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        user = self._authenticate(request, **serializer.validated_data)
        if user is None:
            raise InvalidCredentials()
        pair = issue_token_pair(
            user,
            user_agent=request.META.get("HTTP_USER_AGENT", ""),
            ip_address=client_ip(request),
        )
        update_last_login(None, user)
        return Response(serializers.LoginResponseSerializer(pair).data)

    def _authenticate(self, request, identifier, password, **_):
        """A username wins over someone else's identical email address (usernames may hold @)."""
        match = (
            User.objects.filter(username__iexact=identifier).first()
            or User.objects.filter(email__iexact=identifier).first()
        )
        username = match.username if match else identifier
        # Django's backend hashes even for an unknown name, so timing does not tell names apart.
        return authenticate(request._request, username=username, password=password)


class RefreshView(PublicAuthView):
    @extend_schema(
        tags=["auth"],
        summary="Rotate the refresh token: get a new pair",
        description="The refresh token sent stops working. Sending an already-used refresh "
        "token again ends the whole session (its newer tokens too): someone copied it.",
        auth=[],
        request=serializers.RefreshSerializer,
        responses={200: serializers.TokenPairSerializer, 400: BAD_REQUEST, 401: UNAUTHENTICATED},
    )
    def post(self, request):
        serializer = serializers.RefreshSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        pair = rotate_refresh_token(serializer.validated_data["refresh"])
        return Response(serializers.TokenPairSerializer(pair).data)


class LogoutView(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(
        tags=["auth"],
        summary="Log out: end this session",
        description="The session's access and refresh tokens stop working at once.",
        request=None,
        responses={204: NO_CONTENT, 401: UNAUTHENTICATED},
    )
    def post(self, request):
        session_id = current_session_id(request)
        if session_id is not None:
            Session.objects.filter(pk=session_id).revoke("logout")
        else:  # logged in with a Django session (the dashboard)
            logout(request._request)
        return Response(status=status.HTTP_204_NO_CONTENT)


class MeView(APIView):
    permission_classes = [IsAuthenticated]
    throttle_classes = [throttles.PasswordCheckThrottle]
    http_method_names = ["get", "patch", "options"]

    @extend_schema(
        tags=["auth"],
        summary="Your account",
        responses={200: serializers.UserSerializer, 401: UNAUTHENTICATED},
    )
    def get(self, request):
        return Response(serializers.UserSerializer(request.user).data)

    @extend_schema(
        tags=["auth"],
        summary="Change your email, name or password",
        description="A new password needs `current_password`; it ends your other sessions and "
        "keeps this one. `role` and `is_active` are not yours to change here. Attempts with "
        "`current_password` are throttled like logins.",
        request=serializers.MeSerializer,
        responses={
            200: serializers.UserSerializer,
            400: BAD_REQUEST,
            401: UNAUTHENTICATED,
            429: THROTTLED,
        },
        parameters=[RETRY_AFTER],
    )
    def patch(self, request):
        serializer = serializers.MeSerializer(request.user, data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        changes_password = "new_password" in serializer.validated_data
        user = serializer.save()
        if changes_password:
            this_session = current_session_id(request)
            user.sessions.exclude(pk=this_session).revoke("password_changed")
            if this_session is None:  # a Django session login stays logged in
                update_session_auth_hash(request._request, user)
        return Response(serializers.UserSerializer(user).data)


class SessionListView(generics.ListAPIView):
    serializer_class = serializers.SessionSerializer
    pagination_class = Pagination
    filter_backends = []

    def get_queryset(self):
        return self.request.user.sessions.active().order_by("-created_at", "-pk")

    def get_serializer_context(self):
        context = super().get_serializer_context()
        return {**context, "current_session_id": current_session_id(self.request)}

    @extend_schema(
        tags=["auth"],
        summary="Your active sessions",
        description="Every login that has not ended; `current` marks the one making this call.",
        responses={200: serializers.SessionSerializer(many=True), 401: UNAUTHENTICATED},
    )
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)


class SessionDetailView(APIView):
    http_method_names = ["delete", "options"]

    @extend_schema(
        tags=["auth"],
        summary="End one of your sessions",
        description="Its tokens stop working at once. Ending the current session logs you out.",
        parameters=[ID_PARAMETER],
        responses={204: NO_CONTENT, 401: UNAUTHENTICATED, 404: NOT_FOUND},
    )
    def delete(self, request, id):
        session = get_object_or_404(request.user.sessions.all(), pk=id)
        Session.objects.filter(pk=session.pk).revoke("ended_by_user")
        return Response(status=status.HTTP_204_NO_CONTENT)


class UserListView(generics.ListAPIView):
    permission_classes = [IsAdminRole]
    serializer_class = serializers.UserSerializer
    queryset = User.objects.order_by("username")
    pagination_class = Pagination
    filter_backends = [DjangoFilterBackend, SearchFilter, OrderingFilter]
    filterset_fields = ["role", "is_active"]
    search_fields = ["username", "email", "first_name", "last_name"]
    ordering_fields = ["username", "email", "created_at", "last_login"]

    @extend_schema(
        tags=["users"],
        summary="All users (admin)",
        description="`search` matches username, email and names; filter by `role`, "
        "`is_active`; sort with `ordering` (username, email, created_at, last_login).",
        responses={
            200: serializers.UserSerializer(many=True),
            400: BAD_REQUEST,
            401: UNAUTHENTICATED,
            403: FORBIDDEN,
        },
    )
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)


ADMIN_ONLY_FIELDS = ("role", "is_active")

UPDATE_USER_DOC = dict(
    tags=["users"],
    description="Yourself: email and names. Only an admin changes `role` and `is_active` "
    "(403 naming the field otherwise); an admin cannot demote or deactivate themself. "
    "Deactivating a user ends their sessions.",
    parameters=[ID_PARAMETER],
    request=serializers.UserSerializer,
    responses={
        200: serializers.UserSerializer,
        400: BAD_REQUEST,
        401: UNAUTHENTICATED,
        403: FORBIDDEN,
        404: NOT_FOUND,
    },
)


class UserDetailView(generics.RetrieveUpdateDestroyAPIView):
    """One user: an admin sees and manages everyone; a viewer sees only themself (others 404)."""

    permission_classes = [IsSelfOrAdmin]
    serializer_class = serializers.UserSerializer
    lookup_url_kwarg = "id"

    def get_queryset(self):
        user = self.request.user
        return User.objects.all() if user.is_admin else User.objects.filter(pk=user.pk)

    @extend_schema(
        tags=["users"],
        summary="One user (admin, or yourself)",
        parameters=[ID_PARAMETER],
        responses={200: serializers.UserSerializer, 401: UNAUTHENTICATED, 404: NOT_FOUND},
    )
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    @extend_schema(summary="Replace a user's editable fields", **UPDATE_USER_DOC)
    def put(self, request, *args, **kwargs):
        return super().put(request, *args, **kwargs)

    @extend_schema(summary="Change some of a user's fields", **UPDATE_USER_DOC)
    def patch(self, request, *args, **kwargs):
        return super().patch(request, *args, **kwargs)

    @extend_schema(
        tags=["users"],
        summary="Delete a user (admin; not yourself)",
        description="The user's sessions end with it.",
        parameters=[ID_PARAMETER],
        responses={204: NO_CONTENT, 401: UNAUTHENTICATED, 403: FORBIDDEN, 404: NOT_FOUND},
    )
    def delete(self, request, *args, **kwargs):
        return super().delete(request, *args, **kwargs)

    def perform_update(self, serializer):
        actor, target = self.request.user, serializer.instance
        changed = {
            field
            for field in ADMIN_ONLY_FIELDS
            if field in serializer.validated_data
            and serializer.validated_data[field] != getattr(target, field)
        }
        if changed and not actor.is_admin:
            raise AdminOnlyFields(changed)
        if actor.pk == target.pk and "role" in changed:
            raise ValidationError({"role": ["You cannot remove your own admin role."]})
        if actor.pk == target.pk and "is_active" in changed:
            raise ValidationError({"is_active": ["You cannot deactivate yourself."]})
        user = serializer.save()
        if not user.is_active:
            user.sessions.revoke("user_deactivated")

    def perform_destroy(self, user):
        if not self.request.user.is_admin:
            raise PermissionDenied("Only an admin can delete users.")
        if user.pk == self.request.user.pk:
            raise PermissionDenied("You cannot delete your own account.")
        user.sessions.revoke("user_deleted")
        user.delete()
