"""What a topology file (or an `impair` fault, or `labctl impair`) says about a link's conditions: rate, delay,
jitter, loss (random or bursty), queue (packets or bytes) and its management (AQM), for both directions at once
or for what one end sends (`from:`), compiled to the plan's Shaping, one per direction."""
from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from labctl.plan import BurstLoss, Shaping
from labctl.units import Duration, Percent, Rate, parse_percent, parse_size


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class BurstLossParams(_Strict):
    """Gilbert-Elliott loss: `p` turns the good state bad, `r` the bad state good (per packet)."""

    p: Percent
    r: Percent
    bad_loss: Percent = 100.0
    good_loss: Percent = 0.0


class AqmParams(_Strict):
    kind: Literal["none", "codel", "fq_codel", "red", "prio"]
    target: Duration | None = Field(None, description="CoDel's target sojourn time (default 5ms)")
    interval: Duration | None = Field(None, description="CoDel's interval (default 100ms)")


class QueueLimit(_Strict):
    """`queue: 100` is packets, `queue: 64kb` bytes."""

    packets: int | None = Field(None, ge=1, le=10**6)
    bytes: int | None = Field(None, ge=1500, le=10**9)

    @model_validator(mode="before")
    @classmethod
    def _written(cls, value: Any) -> Any:
        if isinstance(value, bool):
            raise ValueError("expected a number of packets, e.g. 100, or a size, e.g. 64kb")
        if isinstance(value, int) or isinstance(value, str) and value.strip().isdigit():
            return {"packets": int(value)}
        if isinstance(value, str):
            try:
                return {"bytes": parse_size(value)}
            except ValueError as exc:
                raise ValueError(f"{exc}; or a number of packets, e.g. 100") from None
        return value


class DirectionParams(_Strict):
    """The conditions of one direction (or of both, written at the link's level)."""

    rate: Rate | None = None
    delay: Duration | None = Field(None, description="one way")
    jitter: Duration | None = None
    loss: float | BurstLossParams | None = Field(None, description="a percentage, or {p, r, bad_loss, good_loss}")
    queue: QueueLimit | None = Field(None, description="packets (a number) or bytes (a size: 64kb)")
    aqm: AqmParams | None = Field(None, description="none, codel, fq_codel, red, or {kind, target, interval}")

    @field_validator("loss", mode="before")
    @classmethod
    def _loss(cls, value: Any) -> Any:
        """A percentage is random loss; a mapping, bursty loss."""
        return value if isinstance(value, dict) or value is None else parse_percent(value)

    @field_validator("aqm", mode="before")
    @classmethod
    def _aqm_name(cls, value: Any) -> Any:
        """`aqm: codel` is `aqm: {kind: codel}`."""
        return {"kind": value} if isinstance(value, str) else value

    def merged(self, over: DirectionParams) -> DirectionParams:
        """These conditions with those `over` sets replacing them."""
        return self.model_copy(update={k: getattr(over, k) for k in over.model_fields_set})

    def shaping(self) -> Shaping:
        """In the plan's units."""
        loss = self.loss
        return Shaping(rate_bps=self.rate, delay_ms=_ms(self.delay), jitter_ms=_ms(self.jitter),
                       loss_pct=loss if isinstance(loss, float) else None,
                       burst_loss=BurstLoss(p_pct=loss.p, r_pct=loss.r, bad_loss_pct=loss.bad_loss,
                                            good_loss_pct=loss.good_loss) if isinstance(loss, BurstLossParams) else None,
                       queue_packets=self.queue.packets if self.queue else None,
                       queue_bytes=self.queue.bytes if self.queue else None,
                       aqm=self.aqm.kind if self.aqm else None,
                       aqm_target_ms=_ms(self.aqm.target) if self.aqm else None,
                       aqm_interval_ms=_ms(self.aqm.interval) if self.aqm else None)


class LinkShaping(DirectionParams):
    """Conditions for both directions, and `from: {node: {...}}` for what that end sends, replacing them."""

    from_: dict[str, DirectionParams] = Field({}, alias="from")

    @model_validator(mode="after")
    def _jitter_needs_delay(self) -> LinkShaping:
        for sender, params in [("", self), *((n, self.merged(p)) for n, p in self.from_.items())]:
            if params.jitter and not params.delay:
                where = f" of what {sender} sends" if sender else ""
                raise ValueError(f"jitter{where} varies the delay, so it needs a delay too, e.g. delay: 10ms")
        return self

    def directions(self, a: str, b: str) -> tuple[Shaping, Shaping]:
        """(what a sends to b, what b sends to a)."""
        return tuple(self.merged(self.from_[n]).shaping() if n in self.from_ else self.shaping() for n in (a, b))


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else seconds * 1000
