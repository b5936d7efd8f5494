"""`python -m controller`: its flags, their defaults, and the process's output lines."""

from __future__ import annotations

import signal
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from controller.__main__ import build_parser, main
from controller.ec2 import EC2Api
from controller.ratelimit import TokenBucket, Unlimited, rate_limiter
from controller.runner import RunnerOptions
from harness.servers import ServerGroup

# What the harness passes (values differ from the defaults on purpose).
HARNESS_FLAGS = [
    "--kubeconfig=k",
    "--cooldown-seconds=2",
    "--retry-scale=0.1",
    "--apiserver-qps=0",
    "--apiserver-burst=5",
    "--ec2-qps=0",
    "--ec2-burst=7",
    "--leader-lease-duration-seconds=6",
    "--leader-lease-renew-deadline-seconds=4",
    "--leader-lease-retry-period-seconds=1",
    "--resync-period-seconds=60",
]


def test_defaults_are_the_real_controllers() -> None:
    opts = RunnerOptions.from_args(build_parser().parse_args(["--kubeconfig", "k"]))
    assert (opts.cooldown_seconds, opts.retry_scale) == (30.0, 1.0)
    assert (opts.apiserver_qps, opts.apiserver_burst) == (20.0, 30)
    assert (opts.ec2_qps, opts.ec2_burst) == (12.0, 18)
    assert (opts.lease_duration, opts.renew_deadline, opts.retry_period) == (30.0, 15.0, 5.0)
    assert opts.resync_period_seconds == 1800.0
    assert opts.components == frozenset({"controller", "webhook"})
    assert opts.leader_elect is True


def test_harness_flags_parse() -> None:
    opts = RunnerOptions.from_args(build_parser().parse_args(HARNESS_FLAGS))
    assert (opts.cooldown_seconds, opts.retry_scale) == (2.0, 0.1)
    assert (opts.apiserver_qps, opts.apiserver_burst, opts.ec2_qps, opts.ec2_burst) == (0, 5, 0, 7)
    assert (opts.lease_duration, opts.renew_deadline, opts.retry_period) == (6.0, 4.0, 1.0)
    assert opts.resync_period_seconds == 60.0


def test_real_lease_flag_spellings() -> None:
    args = build_parser().parse_args(
        ["--kubeconfig=k", "--leader-lease-renew-deadline=9", "--leader-lease-retry-period=2"]
    )
    assert (args.renew_deadline, args.retry_period) == (9.0, 2.0)


@pytest.mark.parametrize(
    "flag", ["--ec2-qps=-1", "--apiserver-qps=-0.5", "--cooldown-seconds=x", "--retry-scale=nan"]
)
def test_negative_or_bad_numbers_are_rejected(
    flag: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit):
        build_parser().parse_args(["--kubeconfig=k", flag])
    name = flag.split("=")[0]
    assert name in capsys.readouterr().err


def test_unknown_component_names_the_flag() -> None:
    with pytest.raises(SystemExit, match="--components: unknown"):
        main(["--kubeconfig=k", "--components=controller,dns"])


def test_controller_needs_an_ec2_endpoint(tmp_path: Path) -> None:
    with pytest.raises(SystemExit, match="--ec2-endpoint is required"):
        main(["--kubeconfig", str(_kubeconfig(tmp_path)), "--components=controller"])


def test_qps_zero_means_no_client_limit() -> None:
    assert isinstance(rate_limiter(0, 0), Unlimited)
    assert all(rate_limiter(0, 1).acquire() == 0.0 for _ in range(1000))
    bucket = rate_limiter(12, 18)
    assert isinstance(bucket, TokenBucket) and (bucket.qps, bucket.burst) == (12.0, 18)
    with pytest.raises(ValueError, match="qps -1"):
        rate_limiter(-1, 1)
    with pytest.raises(ValueError, match="burst 0"):
        rate_limiter(5, 0)
    api = EC2Api("http://127.0.0.1:9", "us-west-2", qps=0, burst=0)
    assert isinstance(api._bucket, Unlimited)


def _kubeconfig(tmp_path: Path) -> Path:
    """A kubeconfig for an API server that is not there (a closed loopback port)."""
    path = tmp_path / "kubeconfig"
    path.write_text(
        "apiVersion: v1\nkind: Config\ncurrent-context: c\n"
        "clusters:\n- name: c\n  cluster:\n    server: https://127.0.0.1:9\n"
        "    insecure-skip-tls-verify: true\n"
        "contexts:\n- name: c\n  context:\n    cluster: c\n    user: u\n"
        "users:\n- name: u\n  user:\n    token: t\n"
    )
    return path


def test_process_prints_both_urls_and_exits_cleanly(
    tmp_path: Path, listening_servers: ServerGroup
) -> None:
    srv = listening_servers.start(
        "controller",
        ["--kubeconfig", str(_kubeconfig(tmp_path)), "--components", "webhook"],
    )
    assert srv.url.startswith("http://127.0.0.1:")
    line = srv.process.wait_for_line(r"(?m)^webhook on (\S+)$", 30).group(1)
    assert line.startswith("https://127.0.0.1:")
    with urllib.request.urlopen(srv.url + "/healthz", timeout=5) as r:
        assert r.status == 200
    # The ConfigMap informer cannot sync without an API server: not ready.
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(srv.url + "/readyz", timeout=5)
    assert err.value.code == 503
    srv.popen.send_signal(signal.SIGTERM)
    assert srv.popen.wait(timeout=15) == 0
    out = (tmp_path / f"{srv.process.name}.stdout").read_text().splitlines()
    assert out[0] == f"listening on {srv.url}" and out[1] == f"webhook on {line}"


def test_real_flag_spellings_and_harness_options() -> None:
    """The real binary's names are accepted (docs/fidelity.md, Controller flags)."""
    args = build_parser().parse_args(
        [
            "--kubeconfig=k",
            "--aws-region=eu-west-1",
            "--user-client-qps=3",
            "--user-client-burst=4",
            "--max-pod-reconcile=20",
        ]
    )
    opts = RunnerOptions.from_args(args)
    assert (opts.region, opts.ec2_qps, opts.ec2_burst, opts.pod_workers) == ("eu-west-1", 3, 4, 20)
    assert opts.cidr_exhaustion == "real" and opts.seed == 0 and opts.ec2_backoff_scale == 1.0
    intended = RunnerOptions.from_args(
        build_parser().parse_args(["--kubeconfig=k", "--cidr-exhaustion=intended", "--seed=7"])
    )
    assert intended.cidr_exhaustion == "intended" and intended.seed == 7
    with pytest.raises(SystemExit):
        build_parser().parse_args(["--kubeconfig=k", "--cidr-exhaustion=sometimes"])
