"""`stayrtr`: the lab's RPKI cache. It serves the topology's ROAs (`rpki: roas:`) to routers over the RTR
protocol (RFC 8210) from the `rpki: validator:` host; the compiler adds it there. Routers connect to it from
their FRR's `rpki` section; those with `rov: true` drop what it makes invalid."""
from __future__ import annotations

import json

from labctl.plan import ServicePlan
from labctl.services import SERVICES
from labctl.services.base import Service


def vrps(plan) -> str:
    """The ROAs in rpki-client's JSON form, which stayrtr reads."""
    roas = [{"prefix": r.prefix, "maxLength": r.max_length, "asn": f"AS{r.asn}"} for r in plan.roas]
    return json.dumps({"roas": roas}, indent=1) + "\n"


@SERVICES.register("stayrtr")
class StayRtr(Service):
    programs = {"stayrtr": "stayrtr", "rtrdump": "stayrtr"}
    kinds = ("host",)
    implied = "on the host named by `rpki: validator:`"

    def render(self) -> ServicePlan:
        port = int(next(n.routing.rpki_cache.split()[1] for n in self.plan.nodes.values()
                        if n.routing and n.routing.rpki_cache))
        cache = self.dir / "vrps.json"
        return self.plan_of(
            ports={"rtr": port},
            files=[self.file(cache, vrps(self.plan))],
            command=["stayrtr", "-cache", str(cache), "-bind", f":{port}", "-checktime=false", "-protocol", "1",
                     "-refresh", "60", "-metrics.addr", "", "-log.verbose=false"],
            health=["rtrdump", "-connect", f"127.0.0.1:{port}", "-rtr.version", "1", "-file", "/dev/null"])
