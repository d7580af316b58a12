"""What /api/realtime/stream refuses before streaming, and the rate limiter's arithmetic."""
import pytest

from realtime.sse import RateLimiter, format_event
from realtime.tests.factories import access_token_for

pytestmark = pytest.mark.django_db


def stream(api_client, user=None, **params):
    if user is not None:
        api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {access_token_for(user)}")
    headers = params.pop("headers", {})
    return api_client.get("/api/realtime/stream", params, HTTP_ACCEPT="text/event-stream", **headers)


@pytest.mark.parametrize(
    "params, field",
    [
        ({"min_score": "1.01"}, "min_score"),
        ({"min_score": "nan"}, "min_score"),
        ({"anomalies_only": "yes please"}, "anomalies_only"),
        ({"source": "x" * 65}, "source"),
        ({"headers": {"HTTP_LAST_EVENT_ID": "not-an-id"}}, "Last-Event-ID"),
    ],
)
def test_bad_filters_are_400_json_naming_the_parameter(api_client, viewer, params, field):
    response = stream(api_client, viewer, **params)
    assert response.status_code == 400
    assert response["Content-Type"] == "application/json"
    error = response.json()["error"]
    assert error["code"] == "invalid" and list(error["fields"]) == [field]


def test_without_credentials_the_stream_is_401(api_client):
    response = stream(api_client)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "token_missing"


def test_an_unknown_ticket_is_401_ticket_invalid(api_client):
    response = stream(api_client, ticket="y" * 43)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "ticket_invalid"


def test_a_valid_request_answers_an_event_stream(api_client, viewer):
    response = stream(api_client, viewer, source="wikipedia", min_score="0.5", anomalies_only="true")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/event-stream")
    assert response["Cache-Control"] == "no-cache"
    assert response.streaming


def test_event_format_has_id_event_and_one_data_line():
    assert format_event({"id": "7", "x": [1, 2]}, "anomaly", "7") == (
        'id: 7\nevent: anomaly\ndata: {"id":"7","x":[1,2]}\n\n'
    )


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


def test_rate_limiter_counts_what_it_skips_and_summarises_when_the_window_ends():
    clock = Clock()
    limiter = RateLimiter(limit=3, window=60, clock=clock)
    assert [limiter.allow() for _ in range(3)] == [True, True, True]
    assert limiter.allow() is False
    limiter.skip("14")
    limiter.skip("15")
    assert limiter.due_summary() is None  # the window is not over yet

    clock.now += 60
    assert limiter.due_summary() == {
        "skipped": 2, "from_id": "14", "to_id": "15", "limit": 3, "window_seconds": 60,
    }
    assert limiter.due_summary() is None  # told once
    assert limiter.allow() is True  # a fresh window


def test_rate_limiter_window_rolls_over_quietly_when_nothing_was_skipped():
    clock = Clock()
    limiter = RateLimiter(limit=1, window=60, clock=clock)
    assert limiter.allow() is True
    clock.now += 61
    assert limiter.allow() is True
    assert limiter.due_summary() is None
