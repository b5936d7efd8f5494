"""bench.scale's plain parts: the write counter over /metrics text, the size options."""

from __future__ import annotations

import pytest

from bench import scale
from bench.__main__ import main


def _line(resource: str, verb: str, value: int, sub: str = "", code: str = "200") -> str:
    labels = (
        f'code="{code}",component="apiserver",dry_run="",group="",resource="{resource}",'
        f'scope="resource",subresource="{sub}",verb="{verb}",version="v1"'
    )
    return f"apiserver_request_total{{{labels}}} {value}"


METRICS = "\n".join(
    [
        "# HELP apiserver_request_total Counter of apiserver requests",
        _line("leases", "PUT", 120),
        _line("nodes", "PATCH", 7, sub="status"),
        _line("pods", "LIST", 99),
        _line("pods", "POST", 3, code="201"),
        _line("pods", "POST", 1, code="409"),
    ]
)


def test_write_requests_counts_write_verbs_per_resource() -> None:
    assert scale.write_requests(METRICS) == {"leases": 120, "nodes/status": 7, "pods": 4}


def test_scale_is_not_in_plain_bench_and_bad_sizes_are_usage_errors(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert scale.DEFAULT is False
    assert main(["scale", "--nodes", "10,x"]) == 2
    assert "--nodes '10,x'" in capsys.readouterr().err
    assert main(["scale", "--timing", "slow"]) == 2
