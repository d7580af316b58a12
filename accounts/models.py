from django.contrib.auth.models import AbstractUser, UserManager
from django.db import models
from django.utils import timezone

from accounts import session_cache


class Role(models.TextChoices):
    ADMIN = "admin", "Admin"
    VIEWER = "viewer", "Viewer"


class TopoForgeUserManager(UserManager):
    def create_superuser(self, username, email=None, password=None, **extra_fields):
        extra_fields.setdefault("role", Role.ADMIN)
        return super().create_superuser(username, email, password, **extra_fields)


class User(AbstractUser):
    """A person or service account. ``role`` is the source of truth for what it may do.

    Django admin access follows the role: an ``admin`` is staff and superuser, a ``viewer`` is
    neither, so the two can never disagree.
    """

    email = models.EmailField("email address", unique=True)
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.VIEWER)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    objects = TopoForgeUserManager()

    REQUIRED_FIELDS = ["email"]

    class Meta:
        ordering = ["username"]

    @property
    def is_admin(self):
        return self.role == Role.ADMIN

    def save(self, *args, **kwargs):
        self.is_staff = self.is_superuser = self.role == Role.ADMIN
        if self.email:
            self.email = self.email.strip().lower()
        super().save(*args, **kwargs)


class SessionQuerySet(models.QuerySet):
    def active(self, now=None):
        now = now or timezone.now()
        return self.filter(revoked_at__isnull=True, expires_at__gt=now)

    def revoke(self, reason="", now=None):
        """End these sessions; their tokens stop working at once (the session cache is cleared)."""
        session_ids = list(self.filter(revoked_at__isnull=True).values_list("pk", flat=True))
        if not session_ids:
            return 0
        count = self.model.objects.filter(pk__in=session_ids, revoked_at__isnull=True).update(
            revoked_at=now or timezone.now(), revoked_reason=reason
        )
        session_cache.forget(session_ids)
        return count


class Session(models.Model):
    """One login: the pair of tokens issued by it carry this session's id.

    ``jti`` is the id of the session's current refresh token; refreshing replaces it, so a refresh
    token whose jti no longer matches has been used already (a theft signal). Revoking the session
    kills its access and refresh tokens at once.
    """

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="sessions")
    jti = models.CharField("current refresh token id", max_length=64, unique=True)
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoked_reason = models.CharField(max_length=64, blank=True)
    user_agent = models.CharField(max_length=512, blank=True)
    ip_address = models.GenericIPAddressField(null=True, blank=True)

    objects = SessionQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["user", "revoked_at"], name="session_user_revoked"),
            models.Index(fields=["expires_at"], name="session_expires_at"),
        ]

    def __str__(self):
        return f"session of {self.user} from {self.created_at:%Y-%m-%d %H:%M}"

    @property
    def is_active(self):
        return self.revoked_at is None and self.expires_at > timezone.now()
