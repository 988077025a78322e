"""The fault catalogue: one module per family (links, nodes), each registering its faults (subclasses of
FaultStep, in labctl/scenario/steps/fault.py) with @FAULTS.register("name"). Every module here is found on its
own."""
from labctl.registry import Registry

FAULTS = Registry("fault", "fault", __name__)
