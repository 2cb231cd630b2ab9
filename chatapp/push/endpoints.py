"""No request forgery through push: a subscription's endpoint is a URL anybody can
submit, and the server POSTs to it. Only ``https`` URLs whose host resolves to
public addresses, only, are accepted, at subscription time and again at every
send (DNS may have changed since), and the send connects to exactly the address
checked (transport.py). ``allow_insecure`` (CHAT_PUSH_ALLOW_INSECURE=1, refused
in production) lets development and tests use ``http`` and local services.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from urllib.parse import SplitResult, urlsplit

from ..services.errors import field_error

MAX_ENDPOINT_CHARS = 2048
_NAT64 = ipaddress.ip_network("64:ff9b::/96")  # RFC 6052: the IPv4 address in the last 32 bits

_NOT_PUBLIC = "must be on a public host (not a loopback, private or link-local address)"

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class EndpointRefused(Exception):
    """Why an endpoint is not one the server POSTs to. ``temporary``: its name did
    not resolve (worth retrying at send time; refused at subscription time)."""

    def __init__(self, reason: str, *, temporary: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.temporary = temporary


def is_public(address: IPAddress) -> bool:
    """Globally routable unicast. IPv6 forms that carry an IPv4 address (mapped,
    NAT64, 6to4, Teredo) are judged by the address they carry, so
    ``::ffff:127.0.0.1`` is loopback. ``is_global`` already excludes private,
    loopback, link-local, unspecified, reserved, documentation, benchmarking and
    CGNAT (100.64/10) space; multicast is excluded on top (ff0e:: is "global")."""
    if isinstance(address, ipaddress.IPv6Address):
        carried = address.ipv4_mapped or address.sixtofour or (address.teredo[1] if address.teredo else None)
        if carried is None and address in _NAT64:
            carried = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
        if carried is not None:
            if not is_public(carried):
                return False
            if address.ipv4_mapped is not None:
                return True
    return address.is_global and not address.is_multicast


# Any whitespace (str.isspace: Unicode spaces too), C0 controls, DEL. One regex
# search instead of a Python loop over the URL: parse runs at every push.
_SPACE_OR_CONTROL = re.compile(r"[\s\x00-\x1f\x7f]")


def parse(url: str, *, allow_insecure: bool) -> SplitResult:
    """The URL's own shape (no lookup): scheme, no credentials, a host, a port."""
    if not isinstance(url, str) or not url or len(url) > MAX_ENDPOINT_CHARS:
        raise EndpointRefused(f"must be a URL of at most {MAX_ENDPOINT_CHARS} characters")
    if _SPACE_OR_CONTROL.search(url):
        raise EndpointRefused("must not contain spaces or control characters")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise EndpointRefused("is not a valid URL") from None
    schemes = ("https", "http") if allow_insecure else ("https",)
    if parts.scheme.lower() not in schemes:
        raise EndpointRefused("must be an https URL")
    if parts.username is not None or parts.password is not None:
        raise EndpointRefused("must not carry credentials")
    if not parts.hostname:
        raise EndpointRefused("has no host")
    if port == 0:
        raise EndpointRefused("has an invalid port")
    return parts


def resolve(parts: SplitResult, *, allow_insecure: bool) -> list[str]:
    """Every address the host stands for, each checked (one private answer among
    public ones refuses the endpoint: the connection could land on any of them)."""
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme.lower() == "https" else 80)
    try:
        literal: IPAddress | None = ipaddress.ip_address(host)
    except ValueError:
        literal = None
    if literal is None:
        try:
            infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP)
        except (socket.gaierror, UnicodeError) as exc:
            # A name that does not resolve now may later (a retry at send time);
            # one that cannot be a DNS name never will.
            raise EndpointRefused("its host does not resolve", temporary=not isinstance(exc, UnicodeError)) from None
        # Connect to what getaddrinfo said ("fe80::1%eth0" keeps its scope); judge it without the scope.
        texts = list(dict.fromkeys(str(info[4][0]) for info in infos))
        for text in texts:
            if not allow_insecure and not is_public(ipaddress.ip_address(text.split("%")[0])):
                raise EndpointRefused(_NOT_PUBLIC)
        if not texts:
            raise EndpointRefused("its host does not resolve", temporary=True)
        return texts
    if not allow_insecure and not is_public(literal):
        raise EndpointRefused(_NOT_PUBLIC)
    return [str(literal)]


def validate_webpush_endpoint(url: str, *, allow_insecure: bool) -> None:
    """At subscription time: a ``validation_error`` on ``endpoint`` naming the reason."""
    try:
        resolve(parse(url, allow_insecure=allow_insecure), allow_insecure=allow_insecure)
    except EndpointRefused as refused:
        raise field_error("endpoint", refused.reason) from None
