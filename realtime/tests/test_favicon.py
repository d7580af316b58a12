"""/favicon.ico is served (browsers ask for it whatever the page links), to anyone, cacheably."""
import struct

import pytest


@pytest.mark.django_db
def test_favicon_ico_is_a_small_icon_for_everyone(client):
    response = client.get("/favicon.ico")

    assert response.status_code == 200
    assert response["Content-Type"] == "image/x-icon"
    assert "max-age=86400" in response["Cache-Control"]
    reserved, kind, count = struct.unpack("<HHH", response.content[:6])
    assert (reserved, kind) == (0, 1) and count == 2  # an icon with two sizes
    sizes = [response.content[6 + 16 * i] for i in range(count)]
    assert sizes == [16, 32]
    assert len(response.content) < 4096
