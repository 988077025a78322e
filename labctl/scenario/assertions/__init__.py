"""The assertion catalogue: one module per family, each registering its assertions (subclasses of AssertStep, in
labctl/scenario/steps/assert_.py) with @ASSERTIONS.register("name"). Every module here is found on its own."""
from labctl.registry import Registry

ASSERTIONS = Registry("assertion", "assertion", __name__)
