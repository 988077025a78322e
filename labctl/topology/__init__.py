"""Topology files: schema, loading with line numbers, validation, addressing, and compilation to a plan."""
from labctl.plan import Plan
from labctl.topology.compile import compile_plan
from labctl.topology.validate import load_topology

__all__ = ["compile_plan", "load_topology", "Plan"]
