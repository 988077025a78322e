"""One rule for quantities in topology and scenario files: a duration or a rate carries its unit (`20ms`, `2s`,
`10mbit`); percentages and counts are plain numbers. Durations are seconds inside labctl, rates bits per second."""
from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import BeforeValidator

DURATION_UNITS = {"us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "min": 60.0, "h": 3600.0}
RATE_UNITS = {"bit": 1, "kbit": 10**3, "mbit": 10**6, "gbit": 10**9}
_QUANTITY = re.compile(r"^\s*([0-9]*\.?[0-9]+)\s*([a-zA-Z%]*)\s*$")


def _quantity(value: Any, units: dict[str, float], what: str, example: str) -> float:
    accepted = f"e.g. {example}; units: {', '.join(units)}"
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise ValueError(f"expected {what} with a unit, {accepted}")
    match = _QUANTITY.match(str(value))
    unit = match.group(2).lower() if match else ""
    if match and unit in units:
        return float(match.group(1)) * units[unit]
    if match and not unit:
        raise ValueError(f"{what} needs a unit, {accepted}")
    raise ValueError(f"expected {what}, {accepted}")


def parse_duration(value: Any) -> float:
    """'20ms', '2s', '250us', '1m' -> seconds."""
    return _quantity(value, DURATION_UNITS, "a duration", "20ms")


def parse_rate(value: Any) -> int:
    """'10mbit', '500kbit', '1gbit' -> bits per second."""
    if isinstance(value, str) and value.strip().lower().endswith("bps"):
        raise ValueError(f"'{value}' is ambiguous (tc reads 'mbps' as megabytes per second): write bits, e.g. "
                         f"10mbit; units: {', '.join(RATE_UNITS)}")
    return round(_quantity(value, RATE_UNITS, "a rate", "10mbit"))


SIZE_UNITS = {"b": 1, "kb": 10**3, "kib": 2**10, "mb": 10**6, "mib": 2**20}


def parse_size(value: Any) -> int:
    """'64kb', '1500b', '1mib' -> bytes."""
    return round(_quantity(value, SIZE_UNITS, "a size", "64kb"))


def parse_percent(value: Any) -> float:
    """1.5, '1.5%' -> 1.5 (percent, 0..100)."""
    if isinstance(value, bool):
        raise ValueError("expected a percentage, e.g. 1.5 or 1.5%")
    match = _QUANTITY.match(str(value))
    if not match or match.group(2) not in ("", "%"):
        raise ValueError("expected a percentage, e.g. 1.5 or 1.5%")
    pct = float(match.group(1))
    if not 0 <= pct <= 100:
        raise ValueError("expected a percentage between 0 and 100")
    return pct


def format_duration(seconds: float) -> str:
    """1.5 -> '1.5 s', 0.02 -> '20 ms', 0.00025 -> '250 us'."""
    if seconds >= 1 or seconds == 0:
        return f"{seconds:g} s"
    return f"{seconds * 1e3:g} ms" if seconds >= 1e-3 else f"{seconds * 1e6:g} us"


def format_rate(bps: float, digits: int = 4) -> str:
    """10_000_000 -> '10 Mbit/s'; measurements with 3 significant digits."""
    for unit, scale in (("Gbit/s", 1e9), ("Mbit/s", 1e6), ("kbit/s", 1e3)):
        if bps >= scale:
            return f"{bps / scale:.{digits}g} {unit}"
    return f"{bps:.{digits}g} bit/s"


Duration = Annotated[float, BeforeValidator(parse_duration)]    # seconds
Rate = Annotated[int, BeforeValidator(parse_rate)]              # bits per second
Percent = Annotated[float, BeforeValidator(parse_percent)]
Size = Annotated[int, BeforeValidator(parse_size)]                # bytes
