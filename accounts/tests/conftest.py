"""Fixtures of the accounts tests: fast password hashing, tokens, authenticated clients."""

import pytest
from rest_framework.test import APIClient

from accounts.tokens import issue_token_pair


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    """bcrypt at cost 12 takes ~0.4 s a hash; test_passwords.py checks the real hashers."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def bearer_client():
    """An API client sending ``Authorization: Bearer <access>``."""

    def make(access):
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {access}")
        return client

    return make


@pytest.fixture
def login_pair():
    """A fresh session of ``user`` and its tokens, as POST /api/auth/login would issue them."""

    def make(user):
        return issue_token_pair(user, user_agent="pytest", ip_address="127.0.0.1")

    return make
