"""`python -m controller`: the VPC Resource Controller (Windows IPAM) and its webhook.

Prints `listening on http://127.0.0.1:PORT` (health, metrics, introspection) first, then
`webhook on https://127.0.0.1:PORT` when the webhook runs. SIGTERM/SIGINT stop it.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import socket
import sys
import threading
from typing import Any

from controller.runner import ControllerRunner, RunnerOptions


def _bool(text: str) -> bool:
    low = text.strip().lower()
    if low in ("1", "t", "true", "yes", "on"):
        return True
    if low in ("0", "f", "false", "no", "off"):
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, got {text!r}")


def _non_negative(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number >= 0, got {text!r}") from None
    if not value >= 0:  # also rejects NaN
        raise argparse.ArgumentTypeError(f"expected a number >= 0, got {text!r}")
    return value


def build_parser() -> argparse.ArgumentParser:
    """Command-line options (names and defaults follow the real controller where it has them)."""
    p = argparse.ArgumentParser(prog="python -m controller", description=__doc__)
    p.add_argument("--kubeconfig", required=True, help="kubeconfig the controller runs with")
    p.add_argument("--ec2-endpoint", default="", help="EC2 endpoint URL (fake_ec2)")
    p.add_argument("--region", "--aws-region", dest="region", default="us-west-2")
    p.add_argument(
        "--components", default="controller,webhook", help="comma list of controller,webhook"
    )
    p.add_argument(
        "--metrics-port",
        type=int,
        default=0,
        help="health/metrics/introspection port on 127.0.0.1 (0: free)",
    )
    p.add_argument("--webhook-port", type=int, default=0)
    p.add_argument("--webhook-cert-dir", default="", help="directory with tls.crt and tls.key")
    p.add_argument(
        "--enable-windows-prefix-delegation",
        type=_bool,
        nargs="?",
        const=True,
        default=True,
        metavar="BOOL",
    )
    p.add_argument(
        "--cooldown-seconds",
        type=_non_negative,
        default=30.0,
        help="cool-down of released IPs and period of the delete-queue job (default 30)",
    )
    p.add_argument(
        "--retry-scale",
        type=_non_negative,
        default=1.0,
        help="multiplies the pod retry intervals 20s / 600ms / 2m (default 1.0)",
    )
    p.add_argument(
        "--resync-period-seconds",
        type=_non_negative,
        default=1800.0,
        help="period of the full resync of every node's pool and waiting pod "
        "(default 1800 = the real 30 min; 0: none)",
    )
    p.add_argument(
        "--leader-elect", type=_bool, nargs="?", const=True, default=True, metavar="BOOL"
    )
    p.add_argument("--leader-election-namespace", default="kube-system")
    p.add_argument("--leader-election-id", default="cp-vpc-resource-controller")
    p.add_argument("--identity", default=f"{socket.gethostname()}-{os.getpid()}")
    # The real controller: --leader-lease-duration-seconds 30, --leader-lease-renew-deadline 15,
    # --leader-lease-retry-period 5 (all seconds); the -seconds spellings are the harness's.
    p.add_argument(
        "--lease-duration",
        "--leader-lease-duration-seconds",
        dest="lease_duration",
        type=_non_negative,
        default=30.0,
        help="leader lease duration in seconds (default 30)",
    )
    p.add_argument(
        "--renew-deadline",
        "--leader-lease-renew-deadline",
        "--leader-lease-renew-deadline-seconds",
        dest="renew_deadline",
        type=_non_negative,
        default=15.0,
        help="leader renew deadline in seconds (default 15)",
    )
    p.add_argument(
        "--retry-period",
        "--leader-lease-retry-period",
        "--leader-lease-retry-period-seconds",
        dest="retry_period",
        type=_non_negative,
        default=5.0,
        help="leader election retry period in seconds (default 5)",
    )
    p.add_argument(
        "--apiserver-qps",
        type=_non_negative,
        default=20.0,
        help="API server client QPS (default 20; 0: no client rate limit)",
    )
    p.add_argument("--apiserver-burst", type=int, default=30, help="(default 30)")
    p.add_argument(
        "--ec2-qps",
        "--user-client-qps",
        dest="ec2_qps",
        type=_non_negative,
        default=12.0,
        help="EC2 client QPS (default 12; 0: no client rate limit)",
    )
    p.add_argument(
        "--ec2-burst",
        "--user-client-burst",
        dest="ec2_burst",
        type=int,
        default=18,
        help="(default 18)",
    )
    # The real binary's --max-pod-reconcile defaults to 20; 8 suits 2-core test machines.
    p.add_argument("--pod-workers", "--max-pod-reconcile", dest="pod_workers", type=int, default=8)
    p.add_argument(
        "--controller-username", default="system:serviceaccount:kube-system:vpc-resource-controller"
    )
    # Harness options the real binary does not have (docs/fidelity.md).
    p.add_argument(
        "--cidr-exhaustion",
        choices=("real", "intended"),
        default="real",
        help="no free /28: real = what the released binary does (its error-text test does "
        "not match the SDK v2 text: 600 ms retries, no node Event); intended = what its "
        "code was written for (node Event InsufficientCidrBlocks, 2 min retries)",
    )
    p.add_argument(
        "--seed",
        type=int,
        default=0,
        help="seeds the SDK retry jitter and the order pools walk their groups "
        "(Go's map order is random) (default 0)",
    )
    p.add_argument(
        "--ec2-backoff-scale",
        type=_non_negative,
        default=1.0,
        help="multiplies the EC2 SDK retry back-off and the attach poll (default 1.0 = the SDK's)",
    )
    p.add_argument("--log-level", default="INFO")
    return p


def _reset_signals(runner: ControllerRunner) -> None:
    """SIGUSR1 pauses the IPAM, SIGUSR2 rebuilds it with no state (the harness's
    environment reset; not an upstream interface). Each prints `ipam paused N` /
    `ipam rebuilt N` when done, N counting the signals of that kind."""
    done = {"paused": 0, "rebuilt": 0}
    lock = threading.Lock()

    def work(what: str, fn: Any) -> None:
        with lock:  # a rebuild never overtakes the pause before it
            fn()
            done[what] += 1
            print(f"ipam {what} {done[what]}", flush=True)

    def on(what: str, fn: Any) -> Any:
        def handler(_s: int, _f: Any) -> None:
            threading.Thread(target=work, args=(what, fn), name=f"ipam-{what}").start()

        return handler

    signal.signal(signal.SIGUSR1, on("paused", runner.pause_ipam))
    signal.signal(signal.SIGUSR2, on("rebuilt", runner.rebuild_ipam))


def main(argv: list[str] | None = None) -> int:
    """Run until SIGTERM/SIGINT (exit 0) or until leadership is lost (exit 1)."""
    args = build_parser().parse_args(argv)
    # --log-level is for this program's loggers; libraries (botocore, urllib3) stay at INFO.
    logging.basicConfig(
        level=logging.INFO,
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    for name in ("controller", "__main__"):
        logging.getLogger(name).setLevel(args.log_level.upper())
    try:
        options = RunnerOptions.from_args(args)
        runner = ControllerRunner(options)
    except ValueError as exc:
        raise SystemExit(str(exc)) from exc

    stop = threading.Event()

    def _signal(_s: int, _f: Any) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, _signal)
    signal.signal(signal.SIGINT, _signal)
    _reset_signals(runner)
    with runner:
        print(f"listening on {runner.health_url}", flush=True)
        if runner.webhook_url is not None:
            print(f"webhook on {runner.webhook_url}", flush=True)
        while not stop.is_set() and not runner.lost_leadership.is_set():
            stop.wait(0.5)
        code = 1 if runner.lost_leadership.is_set() and not stop.is_set() else 0
    return code


if __name__ == "__main__":
    exit_code = main()
    sys.stdout.flush()
    sys.stderr.flush()
    # A worker left blocked in a network call must not hold the process: exit at once.
    os._exit(exit_code)
