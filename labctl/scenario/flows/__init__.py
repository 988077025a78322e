"""Traffic flow types, one module each (ping, iperf3, http): a Flow subclass registered with
@FLOWS.register("type") under the `type:` of a `traffic: start` step. Every module here is found on its own."""
from labctl.registry import Registry

FLOWS = Registry("traffic type", "kind", __name__)
