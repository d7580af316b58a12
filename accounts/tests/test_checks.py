"""System checks of the accounts settings."""

from accounts.checks import check_jwt_secret_length


def test_a_short_jwt_secret_is_flagged(settings):
    settings.JWT_SECRET = "too-short"

    assert [warning.id for warning in check_jwt_secret_length(None)] == ["accounts.W001"]


def test_a_32_byte_jwt_secret_passes(settings):
    settings.JWT_SECRET = "x" * 32

    assert check_jwt_secret_length(None) == []


def test_pyjwt_is_not_older_than_2_13():
    """PyJWT below 2.13 has three published CVEs; requirements.txt pins a newer one."""
    from importlib.metadata import version

    installed = tuple(int(part) for part in version("PyJWT").split(".")[:2])

    assert installed >= (2, 13)
