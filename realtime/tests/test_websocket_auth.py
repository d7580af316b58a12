"""Who may open /ws/anomalies, and how refusals are told apart (4401 auth, 4403 forbidden)."""
import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.test import Client

from accounts.models import Session
from accounts.session_cache import forget
from realtime.tests.factories import access_token_for
from realtime.tickets import issue_ticket
from realtime.identity import Identity
from topoforge.asgi import application

pytestmark = [pytest.mark.django_db(transaction=True)]

SITE = "http://127.0.0.1:8000"


def communicator(path="/ws/anomalies", origin=SITE, subprotocols=None, cookie=None):
    headers = [(b"host", b"127.0.0.1:8000")]
    if origin:
        headers.append((b"origin", origin.encode()))
    if cookie:
        headers.append((b"cookie", cookie.encode()))
    return WebsocketCommunicator(application, path, headers=headers, subprotocols=subprotocols)


async def refused_with(comm):
    connected, _ = await comm.connect()
    assert connected
    error = await comm.receive_json_from()
    closed = await comm.receive_output()
    assert closed["type"] == "websocket.close"
    return closed["code"], error["error"]["code"]


async def test_no_credentials_closes_4401():
    assert await refused_with(communicator()) == (4401, "auth_missing")


async def test_garbage_bearer_token_closes_4401():
    comm = communicator(subprotocols=["topoforge.v1", "bearer.not-a-jwt"])
    assert await refused_with(comm) == (4401, "token_invalid")


async def test_token_of_revoked_session_closes_4401(viewer):
    token = await sync_to_async(access_token_for)(viewer)
    await sync_to_async(lambda: Session.objects.filter(user=viewer).revoke("logout"))()
    await sync_to_async(forget)([s.pk for s in await sync_to_async(list)(Session.objects.all())])
    comm = communicator(subprotocols=["topoforge.v1", f"bearer.{token}"])
    assert await refused_with(comm) == (4401, "token_revoked")


async def test_bearer_subprotocol_connects_and_echoes_only_the_protocol_name(viewer):
    token = await sync_to_async(access_token_for)(viewer)
    comm = communicator(subprotocols=["topoforge.v1", f"bearer.{token}"])
    connected, subprotocol = await comm.connect()
    assert connected and subprotocol == "topoforge.v1"
    welcome = await comm.receive_json_from()
    assert welcome["type"] == "welcome" and welcome["user"] == "victor"
    await comm.disconnect()


async def test_ticket_works_once(viewer):
    ticket, _ = await sync_to_async(issue_ticket)(Identity(str(viewer.pk), viewer.username, django_session_key="k"))
    first = communicator(f"/ws/anomalies?ticket={ticket}")
    connected, _ = await first.connect()
    assert connected
    assert (await first.receive_json_from())["type"] == "welcome"
    await first.disconnect()

    again = communicator(f"/ws/anomalies?ticket={ticket}")
    assert await refused_with(again) == (4401, "ticket_invalid")


async def test_unknown_ticket_closes_4401():
    comm = communicator("/ws/anomalies?ticket=" + "x" * 43)
    assert await refused_with(comm) == (4401, "ticket_invalid")


async def _session_cookie(user):
    client = Client()
    await sync_to_async(client.force_login)(user)
    return f"sessionid={client.cookies['sessionid'].value}"


async def test_session_cookie_from_the_site_connects(viewer):
    comm = communicator(cookie=await _session_cookie(viewer))
    connected, _ = await comm.connect()
    assert connected
    assert (await comm.receive_json_from())["user"] == "victor"
    await comm.disconnect()


async def test_session_cookie_from_a_foreign_page_of_an_allowed_host_closes_4403(viewer):
    # localhost is an allowed host, but a page on another port is another origin.
    comm = communicator(origin="http://localhost:3000", cookie=await _session_cookie(viewer))
    assert await refused_with(comm) == (4403, "origin_forbidden")


async def test_origin_outside_allowed_hosts_is_refused_at_the_handshake(viewer):
    comm = communicator(origin="https://evil.example", cookie=await _session_cookie(viewer))
    connected, _ = await comm.connect()
    assert not connected


async def test_logout_closes_an_open_session_socket(viewer, settings):
    settings.REALTIME_SESSION_CHECK_SECONDS = 0.2
    client = Client()
    await sync_to_async(client.force_login)(viewer)
    comm = communicator(cookie=f"sessionid={client.cookies['sessionid'].value}")
    assert (await comm.connect())[0]
    assert (await comm.receive_json_from())["type"] == "welcome"

    await sync_to_async(client.logout)()

    error = await comm.receive_json_from(timeout=3)
    assert error["error"]["code"] == "session_ended"
    closed = await comm.receive_output(timeout=3)
    assert closed == {"type": "websocket.close", "code": 4401}


async def test_revoked_api_session_closes_an_open_token_socket(viewer, settings):
    settings.REALTIME_SESSION_CHECK_SECONDS = 0.2
    token = await sync_to_async(access_token_for)(viewer)
    comm = communicator(subprotocols=["topoforge.v1", f"bearer.{token}"])
    assert (await comm.connect())[0]
    await comm.receive_json_from()

    session = await sync_to_async(Session.objects.get)(user=viewer)
    await sync_to_async(lambda: Session.objects.filter(pk=session.pk).revoke("admin"))()
    await sync_to_async(forget)([session.pk])

    assert (await comm.receive_json_from(timeout=3))["error"]["code"] == "token_revoked"
    assert (await comm.receive_output(timeout=3))["code"] == 4401


async def test_pings_arrive_at_the_configured_interval(viewer, settings):
    settings.REALTIME_PING_SECONDS = 0.1
    comm = communicator(cookie=await _session_cookie(viewer))
    assert (await comm.connect())[0]
    assert (await comm.receive_json_from())["ping_seconds"] == 0.1
    ping = await comm.receive_json_from(timeout=2)
    assert ping["type"] == "ping" and ping["time"].endswith("Z")
    await comm.disconnect()
