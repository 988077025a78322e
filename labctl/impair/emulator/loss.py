"""Loss at a pipe's entrance, decided for each arriving packet before it meets the queue: independent random loss
(loss_pct) and Gilbert-Elliott's two-state model (burst_loss), as netem's `loss random` and `loss gemodel` do."""
from __future__ import annotations

import random
from collections.abc import Callable

from labctl.plan import BurstLoss, Shaping


class GilbertElliott:
    """Each packet is lost with the loss probability of the state it finds; then the good state turns bad with
    probability p, the bad good with probability r (netem's loss_gilb_ell). Bursts in the bad state last 1/r packets
    on average, and the mean loss is p/(p+r) * bad_loss + r/(p+r) * good_loss."""

    __slots__ = ("random", "p", "r", "bad_loss", "good_loss", "bad")

    def __init__(self, model: BurstLoss, rng: random.Random):
        self.random = rng.random
        self.p, self.r = model.p_pct / 100, model.r_pct / 100
        self.bad_loss, self.good_loss = model.bad_loss_pct / 100, model.good_loss_pct / 100
        self.bad = False

    def __call__(self) -> bool:
        rnd = self.random
        if self.bad:
            lost = rnd() < self.bad_loss
            self.bad = rnd() >= self.r
        else:
            lost = rnd() < self.good_loss
            self.bad = rnd() < self.p
        return lost


def loss_model(shaping: Shaping, rng: random.Random) -> Callable[[], bool] | None:
    """Whether the next packet is lost; None where the shaping loses none. With both models a packet is lost when
    either says so, the bursty one's state advancing on every packet."""
    rnd = rng.random
    chance = (shaping.loss_pct or 0) / 100
    bursty = GilbertElliott(shaping.burst_loss, rng) if shaping.burst_loss else None
    if bursty and chance:
        return lambda: bursty() | (rnd() < chance)
    if chance:
        return lambda: rnd() < chance
    return bursty
