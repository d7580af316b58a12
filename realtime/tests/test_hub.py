"""The hub's sweep: one pass over the clients with detections waiting, that lets the loop run."""
import asyncio
import time

from realtime.hub import get_hub


class BusyClient:
    """Takes 1 ms of CPU per flush, as about 20 socket writes do in daphne."""

    def __init__(self, hub, loop_turns):
        self.hub, self.loop_turns, self.seen_turns = hub, loop_turns, None

    def offer(self, detection, encoded):
        self.hub.flush_soon(self)

    async def flush(self, frames):
        time.sleep(0.001)
        self.seen_turns = self.loop_turns[0]


async def test_a_long_sweep_lets_the_event_loop_turn_so_the_channel_layer_is_still_read():
    hub = get_hub()
    loop_turns = [0]
    clients = [BusyClient(hub, loop_turns) for _ in range(100)]
    for client in clients:
        await hub.add(client)

    async def count_turns():
        while True:
            loop_turns[0] += 1
            await asyncio.sleep(0)

    counter = asyncio.create_task(count_turns())
    hub.dispatch([{"id": "1"}])
    while any(client.seen_turns is None for client in clients):
        await asyncio.sleep(0.01)
    counter.cancel()

    # 100 ms of sending; without yielding, nothing else would have run until the end.
    turns = [client.seen_turns for client in clients]
    assert max(turns) - min(turns) >= 50
    for client in clients:
        await hub.remove(client)
