"""Which addresses a crawl may connect to: public ones, and the private ones its seeds and
proxies name (unless `allow_private_networks`). Checked on the address actually connected to,
after DNS, so a public name pointing at 10.0.0.1 or 169.254.169.254 is refused too.

It knows no session: `crawler.http` plugs its socket factory into the connector.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Callable, Iterable

RESOLVE_AT_ONCE = 64
AddrInfo = tuple[int, int, int, str, tuple[str, int] | tuple[str, int, int, int]]


IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class AddressBlocked(OSError):
    """Raised at connect time for a non-public address that the crawl may not reach."""


def is_public_address(address: IPAddress) -> bool:
    """False for loopback, private, link-local, shared, reserved and multicast addresses."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_global and not address.is_multicast


def guarded_socket_factory(allowed: frozenset[IPAddress]) -> Callable[[AddrInfo], socket.socket]:
    """A socket factory that refuses non-public addresses except `allowed` ones.

    It sees the address actually being connected to, after DNS, so a public name that
    resolves to 169.254.169.254 or 10.0.0.1 is refused too.
    """

    def create(addr_info: AddrInfo) -> socket.socket:
        family, kind, protocol, _, socket_address = addr_info
        address = ipaddress.ip_address(socket_address[0])
        if not is_public_address(address) and address not in allowed:
            raise AddressBlocked(f"{address} is not a public address")
        return socket.socket(family, kind, protocol)

    return create


async def resolve_addresses(hostnames: Iterable[str]) -> frozenset[IPAddress]:
    """Every address the hostnames resolve to now (unresolvable names give none), asking the
    resolver about RESOLVE_AT_ONCE names at a time."""
    loop = asyncio.get_running_loop()
    found: set[IPAddress] = set()
    gate = asyncio.Semaphore(RESOLVE_AT_ONCE)

    async def resolve(hostname: str) -> None:
        try:
            found.add(ipaddress.ip_address(hostname))
            return
        except ValueError:
            pass
        async with gate:
            try:
                infos = await loop.getaddrinfo(hostname, None, type=socket.SOCK_STREAM)
            except OSError:
                return
        found.update(ipaddress.ip_address(info[4][0]) for info in infos)

    await asyncio.gather(*(resolve(hostname) for hostname in hostnames))
    return frozenset(found)
