"""System checks of the accounts settings (``manage.py check``, and at ``runserver``/deploy)."""

from django.conf import settings
from django.core.checks import Warning, register

# RFC 7518 §3.2: an HS256 key must be at least as long as the hash output.
MIN_HS256_KEY_BYTES = 32


@register("security")
def check_jwt_secret_length(app_configs, **kwargs):
    if len(settings.JWT_SECRET.encode()) >= MIN_HS256_KEY_BYTES:
        return []
    return [
        Warning(
            f"JWT_SECRET (or SECRET_KEY, its default) is shorter than {MIN_HS256_KEY_BYTES} bytes;"
            " HS256 tokens signed with it are easier to brute-force.",
            hint="Set JWT_SECRET to 32 or more random bytes, e.g. the output of "
            '`python -c "import secrets; print(secrets.token_urlsafe(48))"`.',
            id="accounts.W001",
        )
    ]
