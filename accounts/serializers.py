"""What the auth and users endpoints read and write.

Who may change what (role and is_active are the admin's) is decided in the views; these classes
validate values: unique usernames and emails (case-insensitively), Django's password validators,
the current password before a new one.
"""

from django.contrib.auth import get_user_model, password_validation
from django.contrib.auth.validators import UnicodeUsernameValidator
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError, transaction
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from accounts.models import Role, Session
from topoforge.serializers import ModelSerializer

User = get_user_model()

PASSWORD_MAX_LENGTH = 4096  # far above any real passphrase; bounds the hashing work per request


def password_field(**kwargs):
    return serializers.CharField(
        write_only=True,
        trim_whitespace=False,
        max_length=PASSWORD_MAX_LENGTH,
        style={"input_type": "password"},
        **kwargs,
    )


def _taken(field, value, instance=None):
    others = User.objects.filter(**{f"{field}__iexact": value})
    if instance is not None:
        others = others.exclude(pk=instance.pk)
    return others.exists()


def _validate_password(password, user):
    try:
        password_validation.validate_password(password, user=user)
    except DjangoValidationError as error:
        raise serializers.ValidationError(list(error.messages)) from None


class EmailMixin:
    def validate_email(self, value):
        value = value.strip().lower()
        if _taken("email", value, getattr(self, "instance", None)):
            raise serializers.ValidationError("A user with this email address already exists.")
        return value


class UserSerializer(EmailMixin, ModelSerializer):
    """A user as the API shows it. ``is_staff`` follows ``role`` and is never written."""

    email = serializers.EmailField(max_length=254)

    class Meta:
        model = User
        fields = [
            "id",
            "username",
            "email",
            "first_name",
            "last_name",
            "role",
            "is_active",
            "is_staff",
            "created_at",
            "last_login",
        ]
        read_only_fields = ["username", "is_staff", "created_at", "last_login"]


class RegisterSerializer(EmailMixin, serializers.Serializer):
    username = serializers.CharField(max_length=150, validators=[UnicodeUsernameValidator()])
    email = serializers.EmailField(max_length=254)
    password = password_field(help_text="Checked by the server's password validators.")

    def validate_username(self, value):
        if _taken("username", value):
            raise serializers.ValidationError("A user with this username already exists.")
        return value

    def validate(self, attrs):
        candidate = User(username=attrs["username"], email=attrs["email"])
        try:
            _validate_password(attrs["password"], candidate)
        except serializers.ValidationError as error:
            raise serializers.ValidationError({"password": error.detail}) from None
        return attrs

    def create(self, validated_data):
        """A new viewer. A concurrent registration of the same name loses with a 400, not a 500."""
        try:
            with transaction.atomic():
                return User.objects.create_user(role=Role.VIEWER, **validated_data)
        except IntegrityError:
            for field in ("username", "email"):
                if _taken(field, validated_data[field]):
                    raise serializers.ValidationError(
                        {field: [f"A user with this {field} already exists."]}
                    ) from None
            raise


class LoginSerializer(serializers.Serializer):
    username = serializers.CharField(
        required=False, max_length=254, help_text="Username or email address."
    )
    email = serializers.CharField(
        required=False, max_length=254, help_text="Email address (instead of `username`)."
    )
    password = password_field()

    def validate(self, attrs):
        identifier = (attrs.get("username") or attrs.get("email") or "").strip()
        if not identifier:
            raise serializers.ValidationError(
                {"username": ["Give your username or your email address."]}
            )
        attrs["identifier"] = identifier
        return attrs


class RefreshSerializer(serializers.Serializer):
    refresh = serializers.CharField(help_text="The refresh token from login or the last refresh.")


class TokenPairSerializer(serializers.Serializer):
    """Reads an ``accounts.tokens.TokenPair``."""

    access = serializers.CharField(help_text="Send as `Authorization: Bearer <access>`.")
    refresh = serializers.CharField(help_text="Exchange at /api/auth/refresh; works once.")
    token_type = serializers.CharField(help_text="Always `Bearer`.")
    access_expires_at = serializers.DateTimeField()
    refresh_expires_at = serializers.DateTimeField()
    session_id = serializers.CharField(source="session.pk", help_text="This login's session.")


class LoginResponseSerializer(TokenPairSerializer):
    user = UserSerializer(source="session.user")


class MeSerializer(UserSerializer):
    """Your own account: profile fields, and a password change that needs the current one."""

    current_password = password_field(required=False)
    new_password = password_field(required=False)

    class Meta(UserSerializer.Meta):
        fields = UserSerializer.Meta.fields + ["current_password", "new_password"]
        read_only_fields = UserSerializer.Meta.read_only_fields + ["role", "is_active"]

    def validate(self, attrs):
        current, new = attrs.pop("current_password", None), attrs.get("new_password")
        if new is None:
            if current is not None:
                raise serializers.ValidationError(
                    {"new_password": ["Give the new password to change it."]}
                )
            return attrs
        if current is None:
            raise serializers.ValidationError(
                {"current_password": ["The current password is needed to set a new one."]}
            )
        if not self.instance.check_password(current):
            raise serializers.ValidationError(
                {"current_password": ["The current password is not correct."]}
            )
        try:
            _validate_password(new, self.instance)
        except serializers.ValidationError as error:
            raise serializers.ValidationError({"new_password": error.detail}) from None
        return attrs

    def update(self, instance, validated_data):
        new_password = validated_data.pop("new_password", None)
        if new_password is not None:
            instance.set_password(new_password)
        return super().update(instance, validated_data)


class SessionSerializer(ModelSerializer):
    current = serializers.SerializerMethodField(
        help_text="True for the session of the token that made this request."
    )

    class Meta:
        model = Session
        fields = [
            "id",
            "created_at",
            "last_used_at",
            "expires_at",
            "user_agent",
            "ip_address",
            "current",
        ]
        read_only_fields = fields

    @extend_schema_field(OpenApiTypes.BOOL)
    def get_current(self, session):
        return session.pk == self.context.get("current_session_id")
