"""Services: daemons on lab nodes. Each is one module here (with its templates under templates/<name>/) that
subclasses `Service`; importing this package registers them all in SERVICES."""
from __future__ import annotations

import importlib
import pkgutil

from labctl.services.base import SERVICES, Service

for _module in pkgutil.iter_modules(__path__):
    if _module.name != "base":
        importlib.import_module(f"{__name__}.{_module.name}")

__all__ = ["SERVICES", "Service"]
