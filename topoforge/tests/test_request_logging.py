"""A 4xx answer is one line in the server's log (daphne's access line), not three; a 5xx still
gets its traceback. Checked on a real daphne with DEBUG on, as `make run` starts it."""
import httpx
import pytest

from realtime.tests.live import live_server

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


@pytest.mark.parametrize("debug", ["1", "0"])
def test_each_4xx_is_logged_once(tmp_path, debug):
    with live_server(tmp_path, DEBUG=debug) as server:
        assert httpx.get(server.url + "/no-such-page-here").status_code == 404
        assert httpx.get(server.url + "/api/anomalies?marker=unauthorised").status_code == 401
        server.stop()  # flush the log
        log = server.log()
    assert len([line for line in log.splitlines() if "/no-such-page-here" in line]) == 1, log
    assert len([line for line in log.splitlines() if "/api/anomalies" in line]) == 1, log
    assert '"GET /no-such-page-here" 404' in log
