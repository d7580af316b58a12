import pytest
from channels.layers import channel_layers
from django.conf import settings as django_settings


@pytest.fixture(autouse=True)
def _fresh_channel_layer():
    """Each test gets a new channel layer: the in-memory one binds its queues to an event loop."""
    channel_layers.backends.clear()
    yield
    channel_layers.backends.clear()


@pytest.fixture(autouse=True)
def _store_follower_off_in_process(request):
    """In-process tests push through the broadcast, deterministically; the store follower polls
    on a timer and is tested on its own (test_store_follower.py, ``@pytest.mark.follow_store``).
    Live servers (realtime/tests/live.py) run their own settings: the follower on, as deployed."""
    saved = django_settings.REALTIME_FOLLOW_STORE_SECONDS, django_settings.CHANNEL_LAYERS
    if request.node.get_closest_marker("follow_store") is None:
        django_settings.REALTIME_FOLLOW_STORE_SECONDS = 0
    else:
        # The follower is the no-Redis path: test it on the layer it serves, also when the
        # suite runs with REDIS_URL set (a Redis layer would carry the row by itself).
        django_settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    yield
    django_settings.REALTIME_FOLLOW_STORE_SECONDS, django_settings.CHANNEL_LAYERS = saved
