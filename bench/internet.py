"""A CAIDA-style Internet of N ASes, one router each, as a topology the normal compiler reads: a clique of tier-1s
peering with each other; tier-2 transits, each buying transit from 1-2 higher ASes (tier-1s, or tier-2s made
before it) and peering with some others of its tier; stubs (about 80 %), each a customer of 1-2 transit ASes, each
with a host. Deterministic for a given seed. `python bench/internet.py --ases 50 > internet.yml` writes one for
`labctl up`."""
from __future__ import annotations

import argparse
import random
import sys

import yaml

ASN_BASE = 64512            # private 16-bit ASNs: r1 is AS64513
MIN_ASES = 4                # 2 tier-1s, a tier-2, a stub
MAX_ASES = 250              # the default loopback pool (10.254.0.0/24) and LAN pool (256 /24s)
STUB_SHARE = 0.8
TIER1_SHARE = 0.06          # 3 tier-1s in 50 ASes
MULTIHOMED = 0.5            # the chance that a tier-2 or a stub has a second provider
TIER2_PEERING = 0.25        # the chance that two tier-2s (not already linked) peer


def tiers(ases: int) -> tuple[int, int, int]:
    """How many tier-1s, tier-2s and stubs: at least 2 tier-1s and 1 tier-2."""
    tier1 = max(2, round(TIER1_SHARE * ases))
    stubs = min(round(STUB_SHARE * ases), ases - tier1 - 1)
    return tier1, ases - tier1 - stubs, stubs


def internet(ases: int, seed: int = 1, name: str = "internet", routing: dict | None = None) -> dict:
    """The topology as a dict (what `load_topology` makes of a YAML file). Routers r1.. in tier order (tier-1s
    first), stub k's host is h<k>."""
    if not MIN_ASES <= ases <= MAX_ASES:
        raise ValueError(f"an Internet of {MIN_ASES} to {MAX_ASES} ASes, not {ases}")
    rng = random.Random(seed)
    n1, n2, n3 = tiers(ases)
    tier1 = [f"r{k}" for k in range(1, n1 + 1)]
    tier2 = [f"r{k}" for k in range(n1 + 1, n1 + n2 + 1)]
    stubs = [f"r{k}" for k in range(n1 + n2 + 1, ases + 1)]
    nodes: dict = {r: {"kind": "router", "asn": ASN_BASE + int(r[1:])} for r in tier1 + tier2 + stubs}
    links: list[dict] = []
    linked: set[frozenset] = set()

    def link(a: str, b: str, relationship: str) -> None:
        links.append({"endpoints": [a, b], "relationship": relationship})
        linked.add(frozenset((a, b)))

    for k, a in enumerate(tier1):
        for b in tier1[k + 1:]:
            link(a, b, "peer")
    for k, customer in enumerate(tier2):
        higher = tier1 + tier2[:k]
        for provider in rng.sample(higher, min(len(higher), 1 + (rng.random() < MULTIHOMED))):
            link(provider, customer, "provider")
    for k, a in enumerate(tier2):
        for b in tier2[k + 1:]:
            if frozenset((a, b)) not in linked and rng.random() < TIER2_PEERING:
                link(a, b, "peer")
    for stub in stubs:
        for provider in rng.sample(tier1 + tier2, 1 + (rng.random() < MULTIHOMED)):
            link(provider, stub, "provider")
        host = f"h{stub[1:]}"
        nodes[host] = "host"
        links.append({"endpoints": [stub, host]})
    return {"name": name,
            "description": f"{ases} ASes (seed {seed}): {n1} tier-1s in a clique, {n2} tier-2 transits, {n3} stubs",
            "routing": routing or {"bgp": {"keepalive": "1s", "hold": "3s"}}, "nodes": nodes, "links": links}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ases", type=int, default=50)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--name", default="internet")
    args = parser.parse_args(argv)
    yaml.safe_dump(internet(args.ases, args.seed, args.name), sys.stdout, sort_keys=False, width=120)
    return 0


if __name__ == "__main__":
    sys.exit(main())
