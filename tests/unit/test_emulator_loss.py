"""The emulator's loss at a pipe's entrance: independent random loss within its binomial interval, and
Gilbert-Elliott's bursty loss with the mean loss and burst length its parameters say."""
from __future__ import annotations

import random

import pytest

from labctl.impair.emulator import Packet, Pipe
from labctl.plan import BurstLoss, Shaping


def losses(shaping: Shaping, count: int, seed: int = 11) -> list[bool]:
    """Whether each of `count` packets, arriving 1 ms apart on an unshaped link, was lost."""
    link = Pipe(shaping, random.Random(seed))
    lost = [not link.enqueue(i / 1000, Packet(i, 1000)) for i in range(count)]
    assert link.counters.lost == sum(lost) == len(link.take_drops())
    return lost


def bursts(lost: list[bool]) -> list[int]:
    runs, current = [], 0
    for gone in lost + [False]:
        if gone:
            current += 1
        elif current:
            runs.append(current)
            current = 0
    return runs


def test_random_loss_lies_in_the_binomial_interval():
    n, p = 100_000, 0.01
    lost = sum(losses(Shaping(loss_pct=1), n))
    half_width = 1.96 * (n * p * (1 - p)) ** 0.5
    assert n * p - half_width <= lost <= n * p + half_width


def test_gilbert_elliott_losses_come_in_bursts_of_mean_length_one_over_r():
    lost = losses(Shaping(burst_loss=BurstLoss(p_pct=1, r_pct=25)), 300_000)
    assert sum(lost) / len(lost) == pytest.approx(1 / 26, rel=0.08)         # p / (p + r) of the packets
    assert sum(bursts(lost)) / len(bursts(lost)) == pytest.approx(4, rel=0.05)  # 1 / r

    independent = losses(Shaping(loss_pct=100 / 26), 300_000)                # the same mean, without bursts
    assert sum(bursts(independent)) / len(bursts(independent)) < 1.1


def test_gilbert_elliott_mean_loss_counts_both_states():
    model = BurstLoss(p_pct=2, r_pct=20, bad_loss_pct=50, good_loss_pct=1)
    lost = losses(Shaping(burst_loss=model), 300_000)
    assert sum(lost) / len(lost) == pytest.approx(2 / 22 * 0.5 + 20 / 22 * 0.01, rel=0.08)


def test_random_and_bursty_loss_together():
    lost = losses(Shaping(loss_pct=10, burst_loss=BurstLoss(p_pct=1, r_pct=25)), 300_000)
    assert sum(lost) / len(lost) == pytest.approx(1 - (1 - 1 / 26) * 0.9, rel=0.05)
