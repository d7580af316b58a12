"""The 401s of token authentication, each with the ``error.code`` clients branch on.

They are DRF ``AuthenticationFailed`` errors, so a view that raises one answers 401 with a
``WWW-Authenticate`` header and the shared error shape; the realtime consumers catch
``TokenError`` and read ``error_code`` to close a socket with the same reason.
"""

from rest_framework.exceptions import AuthenticationFailed


class TokenError(AuthenticationFailed):
    error_code = "token_invalid"
    default_detail = "The token is invalid."

    def __init__(self, detail=None):
        super().__init__(detail, code=self.error_code)


class TokenMissing(TokenError):
    error_code = "token_missing"
    default_detail = "Authentication credentials were not provided."


class TokenInvalid(TokenError):
    error_code = "token_invalid"
    default_detail = "The token is invalid."


class TokenExpired(TokenError):
    error_code = "token_expired"
    default_detail = "The token has expired."


class TokenRevoked(TokenError):
    error_code = "token_revoked"
    default_detail = "The session of this token has ended; log in again."
