"""Small helpers shared by the accounts tests."""

import jwt
from django.conf import settings

PASSWORD = "correct horse battery staple"  # the root conftest's make_user default


def error_code(response):
    return response.json()["error"]["code"]


def claims(token):
    """The verified payload of a token we issued."""
    return jwt.decode(token, settings.JWT_SECRET, algorithms=["HS256"])
