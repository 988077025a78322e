"""Carving subnets out of address pools and numbering the ports of a segment."""
from __future__ import annotations

from dataclasses import dataclass, field
from ipaddress import IPv4Network, IPv6Network, ip_interface
from typing import Iterator

Network = IPv4Network | IPv6Network


@dataclass
class Pool:
    """Hands out subnets of a network in order, skipping any that overlap one already taken."""

    network: Network
    taken: list[Network]
    _cursors: dict[int, Iterator[Network]] = field(default_factory=dict)

    def take(self, prefixlen: int) -> Network | None:
        if prefixlen < self.network.prefixlen:
            return None
        cursor = self._cursors.setdefault(prefixlen, self.network.subnets(new_prefix=prefixlen))
        for candidate in cursor:
            if not any(candidate.overlaps(t) for t in self.taken):
                self.taken.append(candidate)
                return candidate
        return None


def lan_prefix(preferred: int, members: int, max_bits: int = 32) -> int:
    """The longest prefix, no longer than `preferred`, with room for `members` addresses."""
    prefix = preferred
    while prefix > 1 and (2 ** (max_bits - prefix)) - 2 < members:
        prefix -= 1
    return prefix


def number_ports(subnet: Network, fixed: dict[int, str], count: int) -> tuple[list[str | None], str | None]:
    """Addresses ("a.b.c.d/len") for `count` ports: fixed ones as given, the rest the lowest free hosts.

    Returns the list and an error message (or None).
    """
    taken = {str(ip_interface(a).ip) for a in fixed.values()}
    for port, address in fixed.items():
        iface = ip_interface(address)
        if iface.network != subnet:
            return [], f"address {address} is not in the link's subnet {subnet}"
    free = (str(h) for h in (subnet.hosts() if subnet.prefixlen < subnet.max_prefixlen - 1 else subnet)
            if str(h) not in taken)
    out: list[str | None] = []
    for port in range(count):
        if port in fixed:
            out.append(fixed[port])
            continue
        host = next(free, None)
        if host is None:
            return [], f"subnet {subnet} has no room for {count} addresses"
        out.append(f"{host}/{subnet.prefixlen}")
    return out, None
