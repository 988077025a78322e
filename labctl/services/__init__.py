"""Services: daemons on lab nodes. Each is one module here (with its templates under templates/<name>/) that
registers a subclass of `Service` in SERVICES; every module of the package is found on its own."""
from labctl.registry import Registry

SERVICES = Registry("service", "name", __name__)
