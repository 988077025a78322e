"""Step kinds, one module each: a step model registered with @STEP_KINDS.register("key") under the key that names
its kind in a file (assert, fault, traffic, wait, exec, config). Each kind parses its own mapping and executes
itself, so the loader and the runner only dispatch. Every module here is found on its own."""
from labctl.registry import Registry

STEP_KINDS = Registry("step kind", "kind", __name__)
