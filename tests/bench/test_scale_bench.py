"""bench.scale's plain parts: the write counter over /metrics text, the size options."""

from __future__ import annotations

import pytest

from bench import scale
from bench.__main__ import main

METRICS = """\
# HELP apiserver_request_total Counter of apiserver requests
apiserver_request_total{code="200",component="apiserver",dry_run="",group="coordination.k8s.io",resource="leases",scope="resource",subresource="",verb="PUT",version="v1"} 120
apiserver_request_total{code="200",component="apiserver",dry_run="",group="",resource="nodes",scope="resource",subresource="status",verb="PATCH",version="v1"} 7
apiserver_request_total{code="200",component="apiserver",dry_run="",group="",resource="pods",scope="cluster",subresource="",verb="LIST",version="v1"} 99
apiserver_request_total{code="201",component="apiserver",dry_run="",group="",resource="pods",scope="namespace",subresource="",verb="POST",version="v1"} 3
apiserver_request_total{code="409",component="apiserver",dry_run="",group="",resource="pods",scope="namespace",subresource="",verb="POST",version="v1"} 1
"""


def test_write_requests_counts_write_verbs_per_resource() -> None:
    assert scale.write_requests(METRICS) == {"leases": 120, "nodes/status": 7, "pods": 4}


def test_scale_is_not_in_plain_bench_and_bad_sizes_are_usage_errors(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert scale.DEFAULT is False
    assert main(["scale", "--nodes", "10,x"]) == 2
    assert "--nodes '10,x'" in capsys.readouterr().err
    assert main(["scale", "--timing", "slow"]) == 2
