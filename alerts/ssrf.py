"""Keep user-supplied webhook URLs away from this server's own network.

A target is vetted by resolving its host and refusing it if ANY address it resolves to is not a
public unicast address (loopback, private, link-local, shared, multicast, reserved, unspecified,
or IPv4 smuggled inside IPv6: mapped, 6to4, Teredo, NAT64). The check runs when a config is saved
and again right before each send, and the sender connects to the address that was vetted (never
resolving the name a second time), so DNS rebinding between check and connect cannot redirect it.

``ALLOW_PRIVATE_WEBHOOKS`` lifts the restriction for tests and private deployments, except for
cloud metadata endpoints, which are never a legitimate alert receiver.
"""
import ipaddress
import socket
from urllib.parse import urlsplit

from django.conf import settings

# Instance metadata services (AWS, GCP, Azure, AWS ECS, AWS IPv6, Alibaba, Oracle).
METADATA_ADDRESSES = frozenset(
    ipaddress.ip_address(address)
    for address in (
        "169.254.169.254",
        "169.254.170.2",
        "169.254.169.123",
        "fd00:ec2::254",
        "100.100.100.200",
        "192.0.0.192",
    )
)
METADATA_HOSTNAMES = frozenset({"metadata.google.internal", "metadata", "instance-data"})

# Ranges Python's ``is_global`` lets through (or that hide an IPv4 address we must check).
_EXTRA_BLOCKED = tuple(
    ipaddress.ip_network(network) for network in ("100.64.0.0/10", "192.0.0.0/24", "198.18.0.0/15")
)
_NAT64 = ipaddress.ip_network("64:ff9b::/96")


class UnsafeTarget(Exception):
    """The URL may not be contacted; the message says why (shown to the user)."""


def _embedded_ipv4(address):
    if address.version != 6:
        return None
    if address.ipv4_mapped:
        return address.ipv4_mapped
    if address.sixtofour:
        return address.sixtofour
    if address.teredo:
        return address.teredo[1]
    if address in _NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def is_metadata_address(address):
    address = ipaddress.ip_address(address)
    inner = _embedded_ipv4(address)
    return address in METADATA_ADDRESSES or (inner is not None and inner in METADATA_ADDRESSES)


def is_public_address(address):
    """True only for a global unicast address (and any IPv4 embedded in it is one too)."""
    address = ipaddress.ip_address(address)
    inner = _embedded_ipv4(address)
    if inner is not None and not is_public_address(inner):
        return False
    return not (
        not address.is_global
        or address.is_private
        or address.is_loopback
        or address.is_link_local
        or address.is_multicast
        or address.is_reserved
        or address.is_unspecified
        or any(address in network for network in _EXTRA_BLOCKED if network.version == address.version)
    )


def _check_address(address, host):
    if is_metadata_address(address):
        raise UnsafeTarget(f"{host} resolves to a cloud metadata address ({address}).")
    if not settings.ALLOW_PRIVATE_WEBHOOKS and not is_public_address(address):
        raise UnsafeTarget(
            f"{host} resolves to a non-public address ({address}): loopback, private, "
            "link-local, multicast and reserved addresses are refused."
        )


def _host_and_port(url):
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UnsafeTarget("Only http and https URLs with a host can be contacted.")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise UnsafeTarget("The URL has an invalid port.") from None
    return parts.hostname.rstrip(".").lower(), port


def resolve(host, port):
    """All addresses of ``host`` (a literal address resolves to itself). Raises ``OSError``."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(info[4][0].split("%")[0] for info in infos))


def vetted_address(url):
    """The address to connect to for ``url``, after checking every address its host has.

    Raises ``UnsafeTarget`` when the host does not resolve or any address is refused.
    """
    host, port = _host_and_port(url)
    if host in METADATA_HOSTNAMES:
        raise UnsafeTarget(f"{host} is a cloud metadata host.")
    try:
        addresses = resolve(host, port)
    except OSError as error:
        raise UnsafeTarget(f"{host} does not resolve ({error}).") from None
    if not addresses:
        raise UnsafeTarget(f"{host} does not resolve.")
    for address in addresses:
        _check_address(address, host)
    return addresses[0]


def save_time_error(url):
    """Why ``url`` must not be saved as a target, or None.

    A host that does not resolve right now is accepted (it may be created later, or this machine
    may have no DNS); it is vetted again before every send, so it can never slip through.
    """
    try:
        host, port = _host_and_port(url)
    except UnsafeTarget as error:
        return str(error)
    if host in METADATA_HOSTNAMES:
        return f"{host} is a cloud metadata host."
    try:
        addresses = resolve(host, port)
    except OSError:
        return None
    try:
        for address in addresses:
            _check_address(address, host)
    except UnsafeTarget as error:
        return str(error)
    return None
