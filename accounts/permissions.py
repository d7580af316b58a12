"""Reusable permission rules: the admin role, and "yourself or an admin"."""
from functools import wraps

from rest_framework.permissions import BasePermission
from rest_framework.exceptions import NotAuthenticated, PermissionDenied

from accounts.models import Role


def has_role(user, role):
    if not (user and user.is_authenticated):
        return False
    return user.role == Role.ADMIN or user.role == role


class IsAdminRole(BasePermission):
    """Only users whose role is ``admin``."""

    message = "This needs the admin role."

    def has_permission(self, request, view):
        return has_role(request.user, Role.ADMIN)


class IsSelfOrAdmin(BasePermission):
    """Object-level: the object is the user (or belongs to them via ``.user``), or the user is an admin."""

    def has_permission(self, request, view):
        return bool(request.user and request.user.is_authenticated)

    def has_object_permission(self, request, view, obj):
        if has_role(request.user, Role.ADMIN):
            return True
        owner = getattr(obj, "user", obj)
        return owner.pk == request.user.pk


def require_role(role):
    """Decorator for DRF function views (``@api_view``): 401 when anonymous, 403 without ``role``."""

    def decorator(view):
        @wraps(view)
        def wrapped(request, *args, **kwargs):
            if not (request.user and request.user.is_authenticated):
                raise NotAuthenticated()
            if not has_role(request.user, role):
                raise PermissionDenied(f"This needs the {role} role.")
            return view(request, *args, **kwargs)

        return wrapped

    return decorator
