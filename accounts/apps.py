from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "accounts"
    verbose_name = "Accounts"

    def ready(self):
        # Registers the OpenAPI description of SessionJWTAuthentication with drf-spectacular.
        from topoforge import openapi  # noqa: F401
