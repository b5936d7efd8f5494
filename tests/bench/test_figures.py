"""The benchmarks' arithmetic: percentiles, per-batch latencies and rates, /proc parsing."""

from __future__ import annotations

import math
import os
from pathlib import Path

import pytest

from bench._figures import percentile, pod_run, ratio
from bench._procmem import parse_stat, usage_by_component


def test_percentile_interpolates_between_closest_ranks() -> None:
    values = [4.0, 1.0, 3.0, 2.0]  # unsorted on purpose
    assert percentile(values, 0) == 1.0
    assert percentile(values, 100) == 4.0
    assert percentile(values, 50) == 2.5
    assert percentile(values, 99) == pytest.approx(3.97)
    assert percentile([7.0], 99) == 7.0


@pytest.mark.parametrize(("values", "q"), [([], 50), ([1.0], -1), ([1.0], 100.5)])
def test_percentile_rejects_no_values_and_q_out_of_range(values: list[float], q: float) -> None:
    with pytest.raises(ValueError, match="percentile"):
        percentile(values, q)


def test_pod_run_counts_only_pods_seen_running() -> None:
    created = {"a": 10.0, "b": 10.5, "c": 11.0}
    running = {"a": 11.0, "b": 12.5, "other": 1.0}  # c never ran; "other" is not ours
    run = pod_run(created, running)
    assert (run.total, run.running) == (3, 2)
    assert run.p50_s == pytest.approx(1.5)  # latencies 1.0 and 2.0
    assert run.span_s == pytest.approx(2.5)  # first create 10.0 -> last Running 12.5
    assert run.pods_per_s == pytest.approx(2 / 2.5)


def test_pod_run_with_nothing_running_has_no_rate() -> None:
    run = pod_run({"a": 1.0}, {})
    assert (run.running, run.pods_per_s) == (0, 0.0)
    assert math.isnan(run.p50_s)


def test_ratio_of_zero_or_nan_denominator_is_nan() -> None:
    assert ratio(1.0, 4.0) == 0.25
    assert math.isnan(ratio(1.0, 0.0))
    assert math.isnan(ratio(1.0, math.nan))


def test_parse_stat_survives_parentheses_and_spaces_in_the_command_name() -> None:
    # pid (comm) state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt
    # utime stime cutime cstime priority nice threads itrealvalue starttime vsize rss
    line = "4242 (a) b (c) S 1 777 777 0 -1 4194560 100 0 0 0 30 20 5 1 20 0 4 0 99 1000 321"
    st = parse_stat(line)
    assert (st.pgid, st.cpu_ticks, st.rss_pages) == (777, 56, 321)


def test_usage_by_component_finds_this_process_group() -> None:
    pgid = os.getpgid(0)
    assert parse_stat(Path("/proc/self/stat").read_text()).pgid == pgid
    usage = usage_by_component({pgid: "me"})["me"]
    assert usage.processes >= 1 and usage.rss > 1024 * 1024  # at least this interpreter
    assert usage.cpu_s > 0
    assert usage_by_component({}) == {}
