"""Outgoing addresses a tenant chooses (webhooks, sinks, proxies): refuse the inside network.

A key holder sets the URL; the gateway connects from inside the operator's network. So every
such connection is checked here: the host is resolved when the connection is made, every
address it resolves to must be public, and the connection goes to the address that was
checked (`connect`), so a DNS answer that changes between the check and the connect (DNS
rebinding) cannot steer it inside. Refused: loopback, private (RFC 1918), link-local (cloud
metadata at 169.254.169.254), unique-local (fc00::/7), multicast, unspecified, reserved and
shared (100.64/10) ranges, also inside IPv4-mapped, 6to4, Teredo and NAT64 IPv6 addresses.
Odd spellings of an address (`2130706433`, `0x7f.1`, `0177.0.0.1`, `127.1`) are the address
they mean, as the resolver reads them.

WEBHOOK_ALLOW_PRIVATE opens every address (for every outgoing URL a tenant sets, not only
webhooks); WEBHOOK_ALLOW opens some: networks (`10.1.2.0/24`, `fd00::/8`, one address) and
host names (`hooks.lan`, or `.lan` for every name under it).

    guard = Guard.from_config(config)
    guard.check_url(url)                       # at set time: names and literal addresses
    sock = guard.connect(host, port, timeout)  # at connect time: resolve, check, pin
    infos = guard.resolve(host, port)          # or resolve and check once, then
    sock = connect_to(infos, timeout)          # connect to those addresses (broker clients)
    conn = guard.http_connection(url, timeout) # http.client connection pinned the same way
"""

from __future__ import annotations

import http.client
import ipaddress
import socket
import urllib.parse
from dataclasses import dataclass

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_SHARED = ipaddress.ip_network("100.64.0.0/10")


class AddressRefused(ValueError):
    """The URL's host is, or resolves to, an address the gateway does not connect to.

    `reason` is the class of address (loopback, private, link-local, …), never the address
    or the port, so a message shown to a tenant does not map the inside network."""

    def __init__(self, host: str, reason: str):
        super().__init__(f"{host}: a {reason} address is not allowed for outgoing connections "
                         "(WEBHOOK_ALLOW_PRIVATE, WEBHOOK_ALLOW)")
        self.host = host
        self.reason = reason


def embedded(ip: Address) -> Address:
    """The IPv4 address an IPv6 address carries (mapped, 6to4, Teredo, NAT64), else itself."""
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped:
            return ip.ipv4_mapped
        if ip.sixtofour:
            return ip.sixtofour
        if ip.teredo:
            return ip.teredo[1]
        if ip in _NAT64:
            return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return ip


def address_class(ip: Address) -> str | None:
    """Why an address is inside (loopback, private, …), or None for a public address."""
    ip = embedded(ip)
    for reason, inside in (("unspecified", ip.is_unspecified), ("loopback", ip.is_loopback),
                           ("link-local", ip.is_link_local), ("multicast", ip.is_multicast),
                           ("shared", ip in _SHARED), ("reserved", ip.is_reserved)):
        if inside:
            return reason
    if isinstance(ip, ipaddress.IPv6Address) and ip in ipaddress.ip_network("fc00::/7"):
        return "unique-local"
    if ip.is_private or not ip.is_global:
        return "private"
    return None


def literal(host: str) -> Address | None:
    """The address a host name spells, in any spelling the resolver takes, else None."""
    host = host.strip("[]")
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        pass
    if host and all(c in "0123456789abcdefxABCDEFX." for c in host):
        try:  # inet_aton reads 2130706433, 0x7f.1, 0177.0.0.1 and 127.1 as glibc does
            return ipaddress.IPv4Address(socket.inet_aton(host))
        except OSError:
            return None
    return None


@dataclass(frozen=True)
class Guard:
    allow_private: bool = False
    networks: tuple = ()
    names: tuple = ()

    @classmethod
    def from_config(cls, config: dict) -> Guard:
        return cls.parse(bool(config.get("WEBHOOK_ALLOW_PRIVATE")), config.get("WEBHOOK_ALLOW"))

    @classmethod
    def parse(cls, allow_private: bool, allow) -> Guard:
        """A guard from the allow-list: `10.1.2.0/24,hooks.lan,.corp` (ValueError if bad)."""
        entries = allow.split(",") if isinstance(allow, str) else list(allow or ())
        networks, names = [], []
        for entry in (e.strip() for e in entries):
            if not entry:
                continue
            try:
                networks.append(ipaddress.ip_network(entry.strip("[]"), strict=False))
            except ValueError:
                name = entry.lower().rstrip(".")
                if not name or not all(c.isalnum() or c in "-._" for c in name):
                    raise ValueError(f"WEBHOOK_ALLOW entry {entry!r} is neither a network "
                                     "nor a host name") from None
                names.append(name)
        return cls(allow_private, tuple(networks), tuple(names))

    def _name_allowed(self, host: str) -> bool:
        host = host.lower().rstrip(".")
        return any(host == n or (n.startswith(".") and host.endswith(n)) for n in self.names)

    def check_ip(self, host: str, ip: Address) -> None:
        """Raise AddressRefused unless `ip` (what `host` resolved to) may be connected to."""
        if self.allow_private or self._name_allowed(host):
            return
        reason = address_class(ip)
        if reason and not any(ip in net or embedded(ip) in net for net in self.networks):
            raise AddressRefused(host, reason)

    def check_url(self, url: str) -> None:
        """At set time: refuse a URL whose host is an inside address or a localhost name.

        Names are resolved at connect time (`connect`): DNS may change, and a set-time answer
        proves nothing about the connect-time one."""
        host = urllib.parse.urlsplit(url).hostname or ""
        self.check_host(host)

    def check_host(self, host: str) -> None:
        ip = literal(host)
        if ip is not None:
            self.check_ip(host, ip)
        elif host.lower().rstrip(".") in ("localhost", "localhost.localdomain") \
                or host.lower().rstrip(".").endswith(".localhost"):
            self.check_ip(host, ipaddress.IPv4Address("127.0.0.1"))

    def resolve(self, host: str, port: int) -> list[tuple]:
        """getaddrinfo's TCP answers for host, each checked; AddressRefused if any is inside."""
        infos = socket.getaddrinfo(host.strip("[]"), port, type=socket.SOCK_STREAM)
        for *_, sockaddr in infos:
            # Every answer, not only the first: a name with one public and one inside address
            # would otherwise reach inside whenever the resolver's order changes.
            self.check_ip(host, ipaddress.ip_address(sockaddr[0].split("%")[0]))
        return infos

    def connect(self, host: str, port: int, timeout: float | None) -> socket.socket:
        """A TCP connection to a checked address of host (tried in the resolver's order)."""
        return connect_to(self.resolve(host, port), timeout)

    def http_connection(self, url: str, timeout: float) -> http.client.HTTPConnection:
        """An http.client connection for url that connects only through `connect`.

        The Host header and the TLS server name and certificate check keep the host name."""
        parts = urllib.parse.urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("not an http(s) URL")
        cls = _PinnedHTTPS if parts.scheme == "https" else _PinnedHTTP
        conn = cls(parts.hostname, parts.port, timeout=timeout)
        conn.guard = self
        return conn


def connect_to(infos: list[tuple], timeout: float | None,
               prepare=None) -> socket.socket:
    """A TCP connection to the first of `infos` (getaddrinfo answers `resolve` checked) that
    takes it; never a new lookup. `prepare(sock)` sets options before the connect."""
    error: OSError | None = None
    for family, kind, proto, _, sockaddr in infos:
        sock = socket.socket(family, kind, proto)
        try:
            if prepare is not None:
                prepare(sock)
            sock.settimeout(timeout)
            sock.connect(sockaddr)
            return sock
        except OSError as e:
            sock.close()
            error = e
    raise error or OSError("no address")


class _PinnedHTTP(http.client.HTTPConnection):
    guard: Guard

    def connect(self):
        # HTTPConnection.connect would resolve the host again by itself.
        self.sock = self.guard.connect(self.host, self.port, self.timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


class _PinnedHTTPS(http.client.HTTPSConnection):
    guard: Guard

    def connect(self):
        # As HTTPSConnection.connect, but the TCP connection comes from the guard.
        self.sock = self.guard.connect(self.host, self.port, self.timeout)
        self.sock = self._context.wrap_socket(self.sock, server_hostname=self.host)
