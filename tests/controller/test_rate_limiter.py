"""client-go's DefaultControllerRateLimiter as the pod controller uses it (no I/O)."""

from __future__ import annotations

import pytest

from controller.workqueue import ControllerRateLimiter


class _Clock:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


def test_per_key_exponential_from_5ms_capped_at_1000s_and_forget() -> None:
    clock = _Clock()
    rl = ControllerRateLimiter(clock=clock)
    got = []
    for _ in range(5):
        got.append(rl.when("a"))
        clock.t += 10.0  # the bucket refills: only the per-key delay counts
    assert got == pytest.approx([0.005, 0.01, 0.02, 0.04, 0.08])
    assert rl.failures("a") == 5 and rl.when("b") == pytest.approx(0.005)
    rl.forget("a")
    assert rl.when("a") == pytest.approx(0.005)
    for _ in range(40):
        clock.t += 10.0
        last = rl.when("c")
    assert last == 1000.0


def test_the_shared_bucket_spaces_keys_after_a_burst_of_100() -> None:
    clock = _Clock()
    rl = ControllerRateLimiter(clock=clock)
    delays = [rl.when(f"k{i}") for i in range(102)]
    assert delays[99] == pytest.approx(0.005)  # within the burst: per-key only
    assert delays[100] == pytest.approx(0.1) and delays[101] == pytest.approx(0.2)


def test_scale_shortens_only_the_per_key_wait() -> None:
    rl = ControllerRateLimiter(scale=0.05, clock=_Clock())
    assert rl.when("a") == pytest.approx(0.005 * 0.05)
