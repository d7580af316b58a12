import pytest
from channels.layers import channel_layers


@pytest.fixture(autouse=True)
def _fresh_channel_layer():
    """Each test gets a new channel layer: the in-memory one binds its queues to an event loop."""
    channel_layers.backends.clear()
    yield
    channel_layers.backends.clear()
