"""The assertion catalogue: one module per family, each registering its assertions with @assertion."""
from labctl.scenario.assertions import command, outage, path, reach, rtt, tcp, throughput  # noqa: F401
