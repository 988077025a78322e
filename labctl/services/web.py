"""`web`: nginx answering HTTP with the node's name (`curl h4` says `h4`), so load balancers, DNS failover and
hijacks show which origin answered; `/health` answers `ok`. Its access and error logs are the service's log."""
from __future__ import annotations

from pydantic import Field

from labctl.plan import ServicePlan
from labctl.services import SERVICES
from labctl.services.base import Params, Service


class WebParams(Params):
    port: int = Field(80, ge=1, le=65535)


@SERVICES.register("web")
class Web(Service):
    Params = WebParams
    programs = {"nginx": "nginx", "curl": "curl"}

    def render(self) -> ServicePlan:
        ipv6 = any(intf.ipv6 for intf in self.node.interfaces)
        return self.plan_of(
            ports={"http": self.params.port},
            files=[self.file("/etc/nginx/nginx.conf", self.template("nginx.conf.j2", ipv6=ipv6)),
                   self.file(self.dir / "html" / "index.txt", f"{self.node.name}\n")],
            command=["nginx", "-e", "stderr"],
            health=["curl", "-fsS", "-o", "/dev/null", "--max-time", "1",
                    f"http://127.0.0.1:{self.params.port}/health"],
            stop_signal="QUIT")     # nginx's graceful shutdown
