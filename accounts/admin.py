"""Admin for people and their logins.

``role`` decides everything (``User.save`` derives staff and superuser from it), so the forms edit
the role and show the two flags read-only. Sessions come from logins only: the admin lists and
revokes them, it never creates one or shows more of a token than its id.
"""
from django.contrib import admin, messages
from django.contrib.auth import forms as auth_forms
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.utils import timezone
from django.utils.translation import ngettext

from accounts.models import Session, User

ADMIN_REVOKE_REASON = "admin_revoked"  # a code, like the other revocation reasons


class _NormalisedEmailMixin:
    """Lower-case the e-mail before the unique check, as ``User.save`` does, so a duplicate
    differing only in case is a form error instead of a database error."""

    def clean_email(self):
        return (self.cleaned_data.get("email") or "").strip().lower()


class UserCreationForm(_NormalisedEmailMixin, auth_forms.AdminUserCreationForm):
    class Meta(auth_forms.AdminUserCreationForm.Meta):
        model = User
        fields = ("username", "email", "role")


class UserChangeForm(_NormalisedEmailMixin, auth_forms.UserChangeForm):
    class Meta(auth_forms.UserChangeForm.Meta):
        model = User


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    form = UserChangeForm
    add_form = UserCreationForm
    list_display = ("username", "email", "role", "is_active", "created_at", "last_login")
    list_filter = ("role", "is_active")
    search_fields = ("username", "email", "first_name", "last_name")
    date_hierarchy = "created_at"
    ordering = ("username",)
    readonly_fields = ("is_staff", "is_superuser", "last_login", "date_joined", "created_at")
    fieldsets = (
        (None, {"fields": ("username", "password")}),
        ("Personal info", {"fields": ("first_name", "last_name", "email")}),
        (
            "Access",
            {
                "fields": ("role", "is_active", "is_staff", "is_superuser"),
                "description": "Staff and superuser status follow the role: admin has both.",
            },
        ),
        ("Dates", {"fields": ("last_login", "date_joined", "created_at")}),
    )
    add_fieldsets = (
        (
            None,
            {
                "classes": ("wide",),
                "fields": ("username", "email", "role", "usable_password", "password1", "password2"),
            },
        ),
    )


class SessionStateFilter(admin.SimpleListFilter):
    title = "state"
    parameter_name = "state"

    def lookups(self, request, model_admin):
        return (("active", "Active"), ("expired", "Expired"), ("revoked", "Revoked"))

    def queryset(self, request, queryset):
        now = timezone.now()
        if self.value() == "active":
            return queryset.active(now)
        if self.value() == "expired":
            return queryset.filter(revoked_at__isnull=True, expires_at__lte=now)
        if self.value() == "revoked":
            return queryset.filter(revoked_at__isnull=False)
        return queryset


@admin.register(Session)
class SessionAdmin(admin.ModelAdmin):
    list_display = (
        "user", "created_at", "expires_at", "last_used_at", "state", "ip_address", "short_user_agent"
    )
    list_filter = (SessionStateFilter, "revoked_reason")
    list_select_related = ("user",)
    search_fields = ("user__username", "user__email", "ip_address", "user_agent", "jti")
    date_hierarchy = "created_at"
    fields = (
        "user", "jti", "created_at", "expires_at", "last_used_at", "revoked_at", "revoked_reason",
        "ip_address", "user_agent",
    )
    readonly_fields = fields  # a session changes only by use, expiry or revocation
    actions = ["revoke_selected"]

    def has_add_permission(self, request):
        return False  # a session without the tokens a login issues would mean nothing

    @admin.display(description="state")
    def state(self, session):
        if session.revoked_at:
            return "revoked"
        return "active" if session.is_active else "expired"

    @admin.display(description="user agent")
    def short_user_agent(self, session):
        agent = session.user_agent
        return agent if len(agent) <= 60 else f"{agent[:59]}…"

    @admin.action(description="Revoke selected sessions", permissions=["change"])
    def revoke_selected(self, request, queryset):
        selected = queryset.count()
        revoked = queryset.revoke(reason=ADMIN_REVOKE_REASON)
        self.message_user(
            request,
            ngettext("Revoked %d session.", "Revoked %d sessions.", revoked) % revoked,
            messages.SUCCESS,
        )
        if selected > revoked:
            self.message_user(
                request, f"{selected - revoked} of the selected were revoked already.", messages.INFO
            )
