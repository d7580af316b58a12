from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "accounts"
    verbose_name = "Accounts"

    def ready(self):
        from accounts import checks  # noqa: F401  (registers the system checks)
        from topoforge import openapi  # noqa: F401  (registers SessionJWTAuthentication's scheme)
