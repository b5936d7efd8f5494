"""The `ekswin` command line: up, down, status, restart.

Exit status for every command: 0 ok, 1 failure (including a start that failed),
2 bad usage, bad input or a missing prerequisite.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness import kubeconfig as kc
from harness import rundir
from harness.spec.model import DEFAULT_INSTANCE_TYPE, DEFAULT_MAX_PODS, DEFAULT_SUBNET_CIDR

if TYPE_CHECKING:
    from harness.spec import EnvSpec

EXIT_OK, EXIT_FAIL, EXIT_USAGE = 0, 1, 2


class UsageError(Exception):
    """Bad usage, bad input or a missing prerequisite (exit status 2)."""


def _err(msg: str) -> None:
    print(f"ekswin: error: {msg}", file=sys.stderr)


def _positive(max_value: int | None) -> Any:
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
        if max_value is None and value < 0:
            raise argparse.ArgumentTypeError(f"expected 0 or more, got {value}")
        if max_value is not None and not 0 <= value <= max_value:
            raise argparse.ArgumentTypeError(f"expected 0..{max_value}, got {value}")
        return value

    return parse


def add_controller_flags(sp: argparse.ArgumentParser) -> None:
    """--controller / --controller-binary (up and scenario run)."""
    sp.add_argument(
        "--controller",
        choices=["python", "upstream"],
        help="controller implementation (default: the spec's, else python); upstream runs "
        "the real aws/amazon-vpc-resource-controller-k8s binary",
    )
    sp.add_argument(
        "--controller-binary",
        type=Path,
        metavar="PATH",
        help="the upstream controller binary (default: $EKSWIN_UPSTREAM_CONTROLLER)",
    )


def use_upstream_binary(args: argparse.Namespace, spec: EnvSpec) -> None:
    """For an upstream spec: check the binary and the host (UsageError, exit 2)."""
    from harness.upstream.plan import UpstreamUnavailable
    from harness.upstream.select import prepare

    try:
        prepare(spec, getattr(args, "controller_binary", None), not args._supervise)
    except UpstreamUnavailable as e:
        raise UsageError(str(e)) from None


def build_parser() -> argparse.ArgumentParser:
    """The argument parser for every subcommand."""
    from harness.clihelp import version_text

    p = argparse.ArgumentParser(prog="ekswin", description="Local emulated EKS-Windows harness.")
    p.add_argument("--version", action="version", version=version_text())
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def where(sp: argparse.ArgumentParser) -> None:
        sp.add_argument(
            "--name",
            default=os.environ.get("EKSWIN_NAME", "ekswin"),
            help="environment name (default: $EKSWIN_NAME, else ekswin)",
        )
        sp.add_argument("--run-dir", type=Path, help="run directory (default: per-name state dir)")

    up = sub.add_parser("up", help="start an environment")
    where(up)
    up.add_argument(
        "--backend",
        choices=["auto", "local", "existing", "kind"],
        help="cluster backend (default: $EKSWIN_BACKEND, else the spec's, else auto)",
    )
    up.add_argument(
        "--bare",
        action="store_true",
        help="the local control plane alone, nothing of the pipeline (a plain cluster)",
    )
    up.add_argument(
        "--kubeconfig",
        type=Path,
        metavar="PATH",
        help="existing: the cluster's kubeconfig (default: $EKSWIN_KUBECONFIG)",
    )
    up.add_argument("--context", help="existing: kubeconfig context (default: its current one)")
    up.add_argument(
        "--webhook-host",
        metavar="HOST",
        help="existing/kind: address at which the API server reaches this host's webhooks "
        "(default: loopback for a loopback API server, kind: the Docker network gateway)",
    )
    up.add_argument(
        "--join-address",
        metavar="HOST",
        help="existing/kind: address at which node agents on other hosts (`ekswin agent "
        "--join`) reach this host's fake EC2 (default: loopback for an API server on "
        "loopback, else this host's address toward the API server)",
    )
    up.add_argument("--reuse", action="store_true", help="kind: reuse the cluster if it exists")
    up.add_argument(
        "--keep-cluster", action="store_true", help="kind: `down` keeps the cluster it created"
    )
    up.add_argument("--node-image", metavar="IMAGE", help="kind: node image (kindest/node:...)")
    up.add_argument("--detach", action="store_true", help="return once ready; `ekswin down` stops")
    up.add_argument(
        "--no-merge",
        action="store_true",
        help="do not merge the ekswin-<name> context into your kubeconfig",
    )
    up.add_argument(
        "--no-select",
        action="store_true",
        help="merge the ekswin-<name> context but keep your current context selected",
    )
    up.add_argument(
        "-f",
        "--file",
        type=Path,
        metavar="FILE",
        help="environment spec (YAML; a scenario file's steps are ignored); "
        "only --timing, --seed, --backend and --controller may be combined with it",
    )
    up.add_argument(
        "--timing",
        choices=["real", "fast"],
        help="timing profile (default: real, the real system's waits and rate limits)",
    )
    up.add_argument(
        "--seed", type=_positive(2**31), help="seed of all harness randomness (default: 0)"
    )
    up.add_argument(
        "--windows-nodes",
        type=_positive(None),  # no cap: the subnets' room is the limit (checked)
        metavar="N",
        help="number of fake Windows nodes (default: 0)",
    )
    up.add_argument(
        "--agents",
        type=_positive(None),
        metavar="K",
        help="node-agent shards, each driving a slice of the nodes "
        "(default: one per 200 nodes, at most one per core)",
    )
    up.add_argument(
        "--instance-type", help=f"EC2 instance type of the nodes (default: {DEFAULT_INSTANCE_TYPE})"
    )
    up.add_argument(
        "--prefix-delegation",
        action="store_true",
        default=None,
        help="enable Windows prefix delegation (/28 prefixes)",
    )
    up.add_argument(
        "--subnet",
        help=f"node subnet CIDR (default: {DEFAULT_SUBNET_CIDR}, larger when the nodes need it)",
    )
    up.add_argument(
        "--max-pods",
        type=_positive(250),
        help=f"kubelet max-pods (default: {DEFAULT_MAX_PODS})",
    )
    up.add_argument(
        "--dsr", action="store_true", default=None, help="kube-proxy --enable-dsr (WinDSR=true)"
    )
    add_controller_flags(up)
    up.add_argument("--_supervise", action="store_true", help=argparse.SUPPRESS)
    up.add_argument("--_lock-fd", type=int, help=argparse.SUPPRESS)

    ag = sub.add_parser(
        "agent",
        help="run fake Windows nodes on this host for another host's environment "
        "(its `up` wrote the join file)",
        description="Add N fake Windows nodes to the environment whose `ekswin up` (existing "
        "or kind backend) wrote the join file: a fake_hns and node-agent shards on this host, "
        "fake EC2 and the controller on the first host. Runs in the foreground; Ctrl-C or "
        "SIGTERM scales the nodes in (drained, instances terminated, Nodes deleted). Exit "
        "status: 0 stopped cleanly, 1 start failed or nodes did not leave, 2 bad input.",
    )
    ag.add_argument(
        "--join",
        type=Path,
        required=True,
        metavar="FILE",
        help="the join file: <run dir>/join.json of the first host's `ekswin up` "
        "(existing or kind backend), copied here with mode 0600",
    )
    ag.add_argument(
        "--nodes", type=_positive(None), required=True, metavar="N", help="nodes on this host"
    )
    ag.add_argument(
        "--name-prefix",
        metavar="PREFIX",
        help="node names PREFIX-0 ... PREFIX-<N-1> (default: the join file's prefix and "
        "this host's name, e.g. win-myhost); each agent needs its own",
    )
    ag.add_argument(
        "--agents",
        type=_positive(None),
        metavar="K",
        help="node-agent shards on this host (default: the environment's node_agent.agents, "
        "else one per 200 nodes, at most one per core)",
    )
    ag.add_argument(
        "--subnet",
        metavar="NAME",
        help="the environment's subnet to launch into (default: its first node group's)",
    )
    ag.add_argument(
        "--run-dir",
        type=Path,
        help="this agent's run directory (default: <state dir>/agents/<prefix>)",
    )

    st = sub.add_parser("status", help="show a running environment")
    where(st)
    st.add_argument("--json", action="store_true", help="machine-readable output")

    dn = sub.add_parser("down", help="stop an environment (also after a crashed up)")
    where(dn)

    from harness.supervision import COMPONENTS

    rs = sub.add_parser("restart", help="restart one component of a running environment")
    where(rs)
    rs.add_argument(
        "component", choices=COMPONENTS, metavar="COMPONENT", help=", ".join(COMPONENTS)
    )
    rs.add_argument(
        "--timeout", type=float, default=120.0, help="seconds to wait until it is ready"
    )

    from harness.pictures.cli import add_parser as add_inspect

    where(add_inspect(sub))

    sc = sub.add_parser("scenario", help="run or validate scenario files (SCENARIOS.md)")
    scsub = sc.add_subparsers(dest="scenario_command", required=True, metavar="ACTION")
    run = scsub.add_parser("run", help="run a scenario: exit 0 when it holds, 1 when not")
    run.add_argument("file", type=Path, metavar="FILE")
    run.add_argument("--seed", type=_positive(2**31), help="override the scenario's seed")
    run.add_argument("--timing", choices=["real", "fast"], help="override the timing profile")
    run.add_argument(
        "--json", metavar="OUT", help="write the report to OUT (`-`: stdout, nothing else there)"
    )
    run.add_argument("--run-dir", type=Path, help="run directory (default: per-scenario state dir)")
    run.add_argument(
        "--keep", action="store_true", help="keep the run directory and write a bundle on success"
    )
    run.add_argument(
        "--bundle-dir",
        type=Path,
        metavar="DIR",
        help="write the repro bundle to DIR (default: <state dir>/_bundles/<scenario>-<time>)",
    )
    run.add_argument("--zip", action="store_true", help="also write the bundle as DIR.zip")
    run.add_argument("--html", type=Path, metavar="OUT", help="write the report as an HTML page")
    add_controller_flags(run)
    run.add_argument(
        "--compare",
        action="store_true",
        help="run once with each controller (python, upstream) and print the differences "
        "of the reports (table on stderr, JSON on stdout or --json OUT); exit 1 when any",
    )
    rep = scsub.add_parser(
        "replay",
        help="re-run a bundle: exit 0 when its first failure shows again, 1 when not, 2 bad bundle",
    )
    rep.add_argument("bundle", type=Path, metavar="BUNDLE", help="a bundle directory or .zip")
    rep.add_argument("--json", metavar="OUT", help="write the replay's report to OUT (`-`: stdout)")
    rep.add_argument("--run-dir", type=Path, help="run directory (default: per-scenario state dir)")
    val = scsub.add_parser("validate", help="check a scenario file without running it")
    val.add_argument("file", type=Path, metavar="FILE")
    from harness import stepcli

    stepcli.add_export_parser(scsub, where)
    stepcli.add_parsers(sub, where)

    from harness.why.cli import add_parser as add_why

    where(add_why(sub))
    kcp = sub.add_parser("kubeconfig", help="print the path of an environment's kubeconfig")
    where(kcp)
    from harness.clihelp import show_defaults

    show_defaults(p)
    return p


def _run_dir(args: argparse.Namespace) -> Path:
    """Where environment `args.name` lives: --run-dir, else the registered run directory,
    else the per-name default."""
    from harness import registry

    try:
        rundir.check_name(args.name)
    except ValueError as e:
        raise UsageError(str(e)) from e
    if args.run_dir is not None:
        return Path(args.run_dir).resolve()
    return (registry.lookup(args.name) or rundir.default_run_dir(args.name)).resolve()


def _known(args: argparse.Namespace, run_dir: Path) -> bool:
    """True when `down`/`status` have an environment to talk about: --run-dir given, the
    name is registered, or the default run directory exists (made before the registry)."""
    from harness import registry

    return args.run_dir is not None or registry.lookup(args.name) is not None or run_dir.exists()


# -- up ---------------------------------------------------------------------------------
SPEC_FLAGS = ("windows_nodes", "instance_type", "prefix_delegation", "subnet", "max_pods", "dsr")


def build_spec(args: argparse.Namespace) -> EnvSpec:
    """The environment spec `up` was asked for: `-f FILE`, else the flags (UsageError)."""
    from harness.spec import SpecError, load_spec, spec_from_flags

    try:
        if args.file is not None:
            given = [f"--{f.replace('_', '-')}" for f in SPEC_FLAGS if getattr(args, f) is not None]
            if given:
                raise UsageError(f"-f/--file cannot be combined with {', '.join(given)}")
            from harness.upstream.select import with_controller

            spec = with_controller(load_spec(args.file), getattr(args, "controller", None))
            if args.timing:
                spec = spec.with_timing(args.timing)
            if args.seed is not None:
                from dataclasses import replace

                spec = replace(spec, seed=args.seed)
        else:
            spec = spec_from_flags(
                windows_nodes=args.windows_nodes or 0,
                instance_type=args.instance_type or DEFAULT_INSTANCE_TYPE,
                prefix_delegation=bool(args.prefix_delegation),
                subnet=args.subnet,
                max_pods=args.max_pods or DEFAULT_MAX_PODS,
                dsr=bool(args.dsr),
                timing=args.timing or "real",
                seed=args.seed or 0,
                controller=getattr(args, "controller", None) or "python",
            )
    except SpecError as e:
        raise UsageError(f"invalid environment spec:\n{e}") from None
    if getattr(args, "agents", None):  # also with -f: how to run, not what to run
        from dataclasses import replace

        spec = replace(spec, node_agent=replace(spec.node_agent, agents=args.agents))
    from harness.backends import requested_backend

    backend = requested_backend(args.backend, spec.backend)
    if getattr(args, "bare", False):
        if args.file is not None or args.windows_nodes:
            raise UsageError(
                "--bare starts the control plane alone: no -f/--file, no --windows-nodes"
            )
        if backend not in ("auto", "local"):
            raise UsageError(f"--bare runs the local control plane; got --backend {backend}")
        backend = "local"
    if backend != spec.backend:
        from dataclasses import replace

        spec = replace(spec, backend=backend)
    return spec


def cmd_up(args: argparse.Namespace) -> int:
    """`ekswin up`: start, print where things are, then wait (or detach)."""
    from harness.backends import BackendUnavailable, choose

    run_dir = _run_dir(args)
    spec = build_spec(args)
    use_upstream_binary(args, spec)
    try:
        backend = choose(spec.backend)
    except BackendUnavailable as e:
        raise UsageError(str(e)) from e
    if backend == "existing" and _backend_options(args).kubeconfig is None:
        raise UsageError(
            "--backend existing needs --kubeconfig PATH (or EKSWIN_KUBECONFIG): the cluster "
            "to install into"
        )
    args.resolved_backend = backend
    lock = _own_run_dir(args, run_dir)
    if lock is None:
        return EXIT_FAIL
    try:
        if args.detach and not args._supervise:
            return _up_detached(args, run_dir, spec, lock)
        return _up_foreground(args, run_dir, spec)
    finally:
        lock.release()


def _own_run_dir(args: argparse.Namespace, run_dir: Path) -> rundir.RunDirLock | None:
    """Lock the run directory for this `up` and register the name; None (with the
    holder's pid printed) when another `up` owns it. Nothing in it is touched before."""
    from harness import registry

    try:
        if args._lock_fd is not None:  # the detached supervisor: its parent locked it
            lock = rundir.RunDirLock.adopt(run_dir, args._lock_fd)
            lock.set_owner(os.getpid())
        else:
            rundir.prepare_run_dir(run_dir)
            elsewhere = registry.lookup(args.name)
            if elsewhere is not None and elsewhere.resolve() != run_dir:
                pid = rundir.locked_by(elsewhere)
                if pid is not None:
                    _err(_already_running(args.name, pid, elsewhere))
                    return None
            lock = rundir.RunDirLock(run_dir)
            if not lock.acquire():
                _err(_already_running(args.name, lock.holder(), run_dir))
                return None
        try:
            registry.register(args.name, run_dir)
        except BaseException:
            lock.release()
            raise
    except rundir.RunDirError as e:
        raise UsageError(str(e)) from None
    return lock


def _already_running(name: str, pid: int | None, run_dir: Path) -> str:
    from harness import registry

    owner = next((n for n in registry.names() if registry.lookup(n) == run_dir), name)
    who = f"`ekswin up` pid {pid}" if pid and pid > 0 else "another `ekswin up`"
    return (
        f"environment {owner!r} is already running in run directory {run_dir} "
        f"(locked by {who}); run `ekswin down --name {owner}` first"
    )


def _up_foreground(args: argparse.Namespace, run_dir: Path, spec: EnvSpec) -> int:
    from harness.env import Environment, remove_runtime_state
    from harness.process import ComponentFailed, PidRegistry

    # A crashed earlier run may have left processes behind: reap them first.
    PidRegistry(run_dir).reap()
    remove_runtime_state(run_dir)
    _reset_run_dir(run_dir)
    (run_dir / rundir.SUPERVISOR_PID).write_text(str(os.getpid()))
    from harness.backends import Refused, make_backend

    backend = getattr(args, "resolved_backend", None) or spec.backend
    cluster = make_backend(backend, run_dir, args.name, _backend_options(args))
    env = Environment(spec, run_dir, name=args.name, cluster=cluster)
    stop = threading.Event()

    def on_signal(signum: int, frame: Any) -> None:
        stop.set()
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    t0 = time.monotonic()
    try:
        env.start(progress=lambda msg: print(msg, file=sys.stderr, flush=True))
    except Refused as e:  # this cluster cannot be used (as it is): bad input, exit 2
        _err(str(e))
        _cleanup(run_dir, args)
        return EXIT_USAGE
    except ComponentFailed as e:
        _err(f"start failed: {e}")
        _cleanup(run_dir, args)
        return EXIT_FAIL
    except KeyboardInterrupt:
        print("interrupted; tearing down", file=sys.stderr)
        _cleanup(run_dir, args)
        return EXIT_FAIL
    except Exception as e:  # a failed start is exit 1 with its reason, not a traceback
        _err(f"start failed: {type(e).__name__}: {e}")
        _cleanup(run_dir, args)
        return EXIT_FAIL
    kubeconfig = env.cluster.kubeconfig
    merged = ""
    if not args.no_merge and env.cluster.backend != "existing":  # yours has it already
        target = kc.user_kubeconfig_path()
        config = kc.renamed(kc.flatten(kubeconfig), f"ekswin-{args.name}")
        select = not getattr(args, "no_select", False)
        kc.merge(config, target, select=select)
        (run_dir / "merged-into").write_text(str(target))
        chosen = "and selected" if select else "(not selected: --no-select)"
        merged = f"Context ekswin-{args.name} merged into {target} {chosen}.\n"
    elapsed = time.monotonic() - t0
    lines = [
        f"ekswin {args.name!r} is up ({elapsed:.1f} s). Run directory: {run_dir}",
        merged.rstrip(),
    ]
    for name, url in env.endpoints.items():
        lines.append(f"  {name:<12} {url}")
    lines += [
        f"Kubeconfig: {kubeconfig}",
        f"  export KUBECONFIG={kubeconfig}",
        "  kubectl get nodes",
    ]
    if "ec2" in env.endpoints:
        lines.append(f"  aws --endpoint-url {env.endpoints['ec2']} ec2 describe-network-interfaces")
    if env.join is not None:
        lines += [
            f"Join file for node agents on other hosts (0600, holds a credential): {env.join.path}",
            f"  ekswin agent --join {env.join.path.name} --nodes N   # on the other host",
        ]
    lines.append(
        f"Stop with: ekswin down --name {args.name}" if args._supervise else "Press Ctrl-C to stop."
    )
    summary = "\n".join(line for line in lines if line) + "\n"
    (run_dir / "summary.txt").write_text(summary)
    if not args._supervise:
        sys.stdout.write(summary)
        sys.stdout.flush()
    from harness.scenario.session import Session

    session = Session(env).serve()  # `ekswin step` / `ekswin bundle` requests
    (run_dir / "ready").write_text(str(time.time()))
    try:
        while not stop.is_set():
            stop.wait(1.0)
    except KeyboardInterrupt:
        pass
    print("stopping ...", file=sys.stderr, flush=True)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not abort teardown
    try:
        session.close()
        env.stop()
    finally:
        _cleanup(run_dir, args)
    print("stopped", file=sys.stderr, flush=True)
    return EXIT_OK


def _reset_run_dir(run_dir: Path) -> None:
    for stale in ("ready", "env.json", "cluster.json", "summary.txt", "supervision.json"):
        (run_dir / stale).unlink(missing_ok=True)
    logs = run_dir / "logs"
    if logs.is_dir():
        for f in logs.iterdir():
            if f.is_file():
                f.unlink()


def _cleanup(run_dir: Path, args: argparse.Namespace) -> None:
    from harness.env import remove_runtime_state
    from harness.process import PidRegistry

    PidRegistry(run_dir).reap()
    remove_runtime_state(run_dir)
    _unmerge(run_dir, args.name)
    (run_dir / "ready").unlink(missing_ok=True)
    pidfile = run_dir / rundir.SUPERVISOR_PID
    try:
        if pidfile.read_text().strip() == str(os.getpid()):
            pidfile.unlink()
    except FileNotFoundError:
        pass


def _unmerge(run_dir: Path, name: str) -> None:
    marker = run_dir / "merged-into"
    if marker.exists():
        kc.unmerge(f"ekswin-{name}", Path(marker.read_text().strip()))
        marker.unlink()


def _supervisor_argv(args: argparse.Namespace, run_dir: Path, spec_file: Path) -> list[str]:
    """`ekswin up` in the foreground with the same resolved spec: the detached supervisor.
    Built from the parsed options (not sys.argv), so main(argv) callers work too."""
    argv = [
        sys.executable, "-m", "harness.cli", "up", "--_supervise",
        "--name", args.name, "--run-dir", str(run_dir), "--file", str(spec_file),
    ]  # fmt: skip
    if args.no_merge:
        argv.append("--no-merge")
    if getattr(args, "no_select", False):
        argv.append("--no-select")
    opts = _backend_options(args)
    for flag, value in (
        ("--kubeconfig", opts.kubeconfig and str(opts.kubeconfig.resolve())),
        ("--context", opts.context),
        ("--webhook-host", opts.webhook_host),
        ("--join-address", opts.join_address),
        ("--node-image", opts.node_image),
    ):
        if value:
            argv += [flag, value]
    argv += ["--reuse"] if opts.reuse else []
    argv += ["--keep-cluster"] if opts.keep_cluster else []
    return argv


def _backend_options(args: argparse.Namespace) -> Any:
    """The existing/kind options: flags over EKSWIN_* variables."""
    from dataclasses import replace

    from harness.backends import BackendOptions

    opts = BackendOptions.from_env()
    given: dict[str, Any] = {
        "kubeconfig": getattr(args, "kubeconfig", None),
        "context": getattr(args, "context", None),
        "webhook_host": getattr(args, "webhook_host", None),
        "join_address": getattr(args, "join_address", None),
        "node_image": getattr(args, "node_image", None),
        "reuse": getattr(args, "reuse", False) or None,
        "keep_cluster": getattr(args, "keep_cluster", False) or None,
    }
    return replace(opts, **{k: v for k, v in given.items() if v is not None})


def _up_detached(
    args: argparse.Namespace, run_dir: Path, spec: EnvSpec, lock: rundir.RunDirLock
) -> int:
    """Re-run `up` as a background supervisor and relay its progress until ready.

    The supervisor inherits the locked descriptor, so the run directory stays owned
    from this check until the supervisor exits; ours is closed by the caller."""
    (run_dir / "ready").unlink(missing_ok=True)
    spec_file = run_dir / "spec.json"
    spec_file.write_text(json.dumps(spec.to_dict(), indent=1))
    log = run_dir / "ekswin-up.log"
    assert lock.fd is not None
    with log.open("wb") as out:
        child = subprocess.Popen(
            [*_supervisor_argv(args, run_dir, spec_file), "--_lock-fd", str(lock.fd)],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            pass_fds=(lock.fd,),
        )
    printed = 0
    try:
        while True:
            text = log.read_text(errors="replace")
            if len(text) > printed:
                sys.stderr.write(text[printed:])
                sys.stderr.flush()
                printed = len(text)
            if (run_dir / "ready").exists():
                sys.stdout.write((run_dir / "summary.txt").read_text())
                return EXIT_OK
            if child.poll() is not None:
                sys.stderr.write(log.read_text(errors="replace")[printed:])
                return EXIT_FAIL if child.returncode in (0, EXIT_FAIL) else child.returncode
            time.sleep(0.1)
    except KeyboardInterrupt:
        child.send_signal(signal.SIGTERM)
        child.wait()
        return EXIT_FAIL


# -- agent ------------------------------------------------------------------------------
def cmd_agent(args: argparse.Namespace) -> int:
    """`ekswin agent --join FILE --nodes N`: this host's nodes for another host's
    environment, in the foreground; Ctrl-C / SIGTERM scale them in (harness.join.host).
    0 once stopped cleanly, 1 when starting failed or nodes did not leave, 2 for bad
    input (the join file, its fields, an endpoint it names that does not answer)."""
    from harness.join.host import JoinedNodeGroup, JoinRefused
    from harness.join.joinfile import JoinFileError

    def say(msg: str) -> None:
        print(msg, file=sys.stderr, flush=True)

    try:
        group = JoinedNodeGroup.prepare(
            args.join,
            nodes=args.nodes,
            prefix=args.name_prefix,
            run_dir=args.run_dir,
            agents=args.agents,
            subnet=args.subnet,
        )
    except (JoinFileError, JoinRefused) as e:
        raise UsageError(str(e)) from None
    stop = threading.Event()

    def on_signal(signum: int, frame: Any) -> None:
        stop.set()
        raise KeyboardInterrupt

    def quiet(signum: int, frame: Any) -> None:
        stop.set()  # already stopping: a second Ctrl-C must not abort the scale-in

    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT)}
    for sig in previous:
        signal.signal(sig, on_signal)
    try:
        return _agent_run(args, group, stop, quiet, say)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _agent_run(
    args: argparse.Namespace, group: Any, stop: threading.Event, quiet: Any, say: Any
) -> int:
    """`ekswin agent` from the start to the end of the scale-in (signals handled)."""
    from harness.join.host import JoinRefused
    from harness.join.joinfile import JoinFileError

    t0 = time.monotonic()
    server = group.join.kubernetes.server
    title = (
        f"Joining {args.nodes} Windows node(s) ({group.prefix}-0 ...) to environment "
        f"{group.join.environment!r} at {server}"
    )
    code = EXIT_OK
    try:
        say(f"• {title} ...")
        group.open()
        group.start(say)
        say(f"✓ {title} ({time.monotonic() - t0:.1f} s)")
    except (JoinFileError, JoinRefused) as e:
        _err(str(e))
        code = EXIT_USAGE
    except KeyboardInterrupt:
        say("interrupted; removing this host's nodes")
        code = EXIT_FAIL
    except Exception as e:  # a failed start is exit 1 with its reason, not a traceback
        _err(f"start failed: {type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}")
        code = EXIT_FAIL
    if code == EXIT_OK:
        shown = ", ".join(group.names[:4]) + (" ..." if len(group.names) > 4 else "")
        try:
            sys.stdout.write(
                f"{len(group.names)} Windows node(s) of this host joined environment "
                f"{group.join.environment!r}: {shown}\n"
                f"  run directory  {group.run_dir} (logs in {group.run_dir / 'logs'})\n"
                f"  kubectl get nodes -l eks.amazonaws.com/nodegroup={group.prefix}\n"
                "Press Ctrl-C to stop: the nodes leave as in a node group scale-in "
                "(drained, instances terminated, Nodes deleted).\n"
            )
            sys.stdout.flush()
            while not stop.is_set():
                stop.wait(1.0)
        except KeyboardInterrupt:
            pass
    signal.signal(signal.SIGTERM, quiet)
    signal.signal(signal.SIGINT, quiet)
    if code == EXIT_OK:
        say(f"stopping: scale-in of {len(group.names)} node(s) ...")
    try:
        left = group.stop(say)
    except Exception as e:
        _err(f"stop: {type(e).__name__}: {e}")
        return EXIT_FAIL
    if left:
        _err(f"{len(left)} node(s) did not leave the cluster: {', '.join(left[:5])}")
        return code or EXIT_FAIL
    if code == EXIT_OK:
        say("stopped")
    return code


# -- status -----------------------------------------------------------------------------
def gather_status(run_dir: Path, name: str) -> dict[str, Any]:
    """What `ekswin status` shows, as data."""
    from harness.process import PidRegistry, _group_alive

    status: dict[str, Any] = {"name": name, "run_dir": str(run_dir), "running": False}
    try:
        info = json.loads((run_dir / "cluster.json").read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return status
    status["supervisor_pid"] = rundir.supervisor_pid(run_dir)
    status["kubeconfig"] = info["kubeconfig"]
    status["server"] = info["server"]
    from harness.supervision import by_component, is_live
    from harness.supervision import read_state as read_supervision

    sv_state = read_supervision(run_dir)
    units = (sv_state.get("units") or {}) if is_live(sv_state) else {}
    comps = {}
    for comp, entry in PidRegistry(run_dir).entries().items():
        pid = entry.get("pid")
        comps[comp] = {"pid": pid, "alive": isinstance(pid, int) and _group_alive(pid)}
    for comp, unit in units.items():  # supervised, even while not running
        comps.setdefault(comp, {"pid": None, "alive": False})
        comps[comp].update(
            {k: unit.get(k) for k in ("component", "state", "restarts", "last_exit", "restart")}
        )
    status["components"] = comps
    status["supervision"] = by_component({"units": units})
    status["down"] = [c for c, v in status["supervision"].items() if v["state"] != "running"]
    try:
        env = json.loads((run_dir / "env.json").read_text())
        status["endpoints"] = env.get("endpoints", {})
        status["spec"] = env.get("spec")
    except (FileNotFoundError, json.JSONDecodeError):
        status["endpoints"] = {"kubernetes": info["server"]}
    status["api_ready"] = _api_ready(run_dir, info["server"])
    status["backend"] = info.get("backend", "local")
    # Someone else's cluster answers after `down` too: the environment runs while `up` is.
    ours = status["backend"] == "local" or (run_dir / "ready").exists()
    status["running"] = bool(status["api_ready"]) and ours
    if status["running"]:
        from harness.status import controller_pools, pods_missed_by_webhook, summarize_nodes

        try:
            status["pods_missed_by_webhook"] = pods_missed_by_webhook(run_dir)
            status["nodes"] = summarize_nodes(run_dir)
            status["controller"] = controller_pools(run_dir)
            pools = {r["name"]: r for r in (status["controller"] or {}).get("nodes", [])}
            for n in status["nodes"]:
                if n["name"] in pools:  # the controller's own view of the mode
                    n["pool"] = pools[n["name"]]
                    n["mode"] = pools[n["name"]].get("mode") or "unmanaged"
            from harness.status import node_problems, stuck_summary

            node_problems(run_dir, status["nodes"])
            status["stuck"] = stuck_summary(run_dir)
        except Exception as e:  # status must still print the rest
            status["nodes_error"] = str(e)
        status["invariants"] = invariants_now(run_dir)
    return status


def invariants_now(run_dir: Path) -> dict[str, Any]:
    """The invariants checked on the environment's state now (report shape plus a line)."""
    from harness.invariants import check, report, summary_line
    from harness.observe import observe_run_dir

    try:
        violations = check(observe_run_dir(run_dir))
    except Exception as e:  # an unreachable component: say so, do not guess
        return {"ok": None, "violations": [], "line": f"invariants not checked: {e}"}
    return {**report(violations), "line": summary_line(violations)}


def _api_ready(run_dir: Path, server: str) -> bool:
    from harness.backends import api_ready

    return api_ready(run_dir)


def cmd_status(args: argparse.Namespace) -> int:
    """`ekswin status`: 0 when the environment answers, 1 otherwise."""
    run_dir = _run_dir(args)
    status = gather_status(run_dir, args.name)
    ok = status["running"] and not status.get("down")
    if args.json:
        print(json.dumps(status, indent=2))
        return EXIT_OK if ok else EXIT_FAIL
    from rich.console import Console
    from rich.table import Table

    console = Console()
    if not console.is_terminal:  # piped or captured: wide tables instead of wrapped cells
        console = Console(width=200)
    if "server" not in status:
        console.print(f"ekswin {args.name!r}: not running (no run directory state in {run_dir})")
        return EXIT_FAIL
    state = "[green]running[/]" if status["running"] else "[red]not answering[/]"
    console.print(f"ekswin {args.name!r}: {state}  run dir {run_dir}")
    for comp, url in status.get("endpoints", {}).items():
        console.print(f"  {comp:<12} {url}")
    console.print(f"  kubeconfig   {status['kubeconfig']}")
    table = Table("process", "component", "pid", "state", "restarts", "last exit")
    for comp, c in status["components"].items():
        state = c.get("state") or ("running" if c["alive"] else "not running")
        colour = "green" if state == "running" and c["alive"] else "red"
        if c.get("restart") is False:
            state += " (restarts off)"
        table.add_row(
            comp,
            c.get("component") or "-",
            str(c["pid"] or "-"),
            f"[{colour}]{state}[/]",
            str(c.get("restarts", "-")),
            c.get("last_exit") or "",
        )
    console.print(table)
    if status.get("down"):
        console.print(f"[red]down: {', '.join(status['down'])}[/]")
    nodes = status.get("nodes") or []
    if nodes:
        nt = Table(
            "node", "instance type", "mode", "capacity", "IPs in use", "free", "prefixes",
            "pool used/warm/cooling", "pending", "waiting", "last EC2 error",
        )  # fmt: skip
        for n in nodes:
            pool = n.get("pool") or {}
            pending = pool.get("pending_create", 0) + pool.get("pending_delete", 0)
            nt.add_row(
                n["name"],
                n.get("instance_type", "?"),
                n.get("mode", "?"),
                str(n.get("capacity", "")),
                str(n.get("assigned_ips", "")),
                str(n.get("free_ips", "")),
                str(len(n.get("eni", {}).get("prefixes", []))),
                f"{pool['used']}/{pool['warm']}/{pool['cooling']}" if pool else "-",
                str(pending) if pool else "-",
                str(pool.get("waiting") or "") if pool else "",
                str(pool.get("last_ec2_error") or "") if pool else "",
            )
        console.print(nt)
        if status.get("controller") is None:
            console.print("[yellow]controller introspection not answering[/]")
        from harness.status import problem_lines

        for line in problem_lines(status):
            console.print(line)
    missed = status.get("pods_missed_by_webhook") or []
    if missed:
        console.print(
            f"[red]{len(missed)} pod(s) admitted while the webhook was down[/] (failurePolicy "
            "Ignore: no vpc.amazonaws.com/PrivateIPv4Address request, so they never get an "
            "IP; delete and create them again):"
        )
        for name in missed:
            console.print(f"  {name}")
    inv = status.get("invariants")
    if inv:
        colour = "green" if inv["ok"] else ("yellow" if inv["ok"] is None else "red")
        console.print(f"[{colour}]{inv['line']}[/]")
        for v in inv["violations"]:
            console.print(f"  [red]{v['id']}[/] ({v['node'] or 'cluster'}): {v['message']}")
    return EXIT_OK if ok else EXIT_FAIL


# -- restart ----------------------------------------------------------------------------
def cmd_restart(args: argparse.Namespace) -> int:
    """`ekswin restart COMPONENT`: ask the environment's supervisor to restart every
    process of the component; 0 once they run again, 1 when they do not."""

    from harness.supervision import is_live, post_request
    from harness.supervision import read_state as read_supervision

    run_dir = _run_dir(args)
    state = read_supervision(run_dir)
    if not is_live(state):
        _err(f"ekswin {args.name!r} is not running ({run_dir}); nothing to restart")
        return EXIT_FAIL
    units = {
        n: u for n, u in (state.get("units") or {}).items() if u["component"] == args.component
    }
    if not units:
        _err(f"ekswin {args.name!r} runs no {args.component}")
        return EXIT_FAIL
    before = {n: int(u.get("restarts") or 0) for n, u in units.items()}
    post_request(run_dir, "restart", {"component": args.component})
    deadline = time.monotonic() + args.timeout
    while time.monotonic() < deadline:
        now = read_supervision(run_dir).get("units") or {}
        if all(
            n in now and now[n]["state"] == "running" and int(now[n]["restarts"]) > before[n]
            for n in units
        ):
            print(
                f"{args.component} restarted: "
                + ", ".join(f"{n} pid {now[n]['pid']}" for n in units)
            )
            return EXIT_OK
        if not is_live(read_supervision(run_dir)):
            break
        time.sleep(0.2)
    _err(f"{args.component} did not run again within {args.timeout:g} s; see `ekswin status`")
    return EXIT_FAIL


# -- down -------------------------------------------------------------------------------
def cmd_down(args: argparse.Namespace) -> int:
    """`ekswin down`: stop the owner, reap anything left, unmerge the context, remove
    runtime state (etcd data, sockets). 1 for a name nothing knows; 0 when it is
    already stopped."""
    from harness import registry
    from harness.env import remove_runtime_state
    from harness.process import PidRegistry

    run_dir = _run_dir(args)
    if not _known(args, run_dir):
        known = registry.names()
        _err(
            f"no environment named {args.name!r} (known: {', '.join(known) or 'none'}); "
            "give --run-dir for one started elsewhere"
        )
        return EXIT_FAIL
    if not run_dir.exists():
        print(f"ekswin {args.name!r}: nothing to stop ({run_dir} does not exist)", file=sys.stderr)
        registry.forget(args.name)
        return EXIT_OK
    # The lock holder is the owner even before it wrote supervisor.pid (still starting).
    holder = rundir.locked_by(run_dir)
    pid = rundir.supervisor_pid(run_dir) or (holder if holder and holder > 0 else None)
    if pid is not None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
        if not rundir.wait_exit(pid, timeout_s=30):
            os.kill(pid, signal.SIGKILL)
            rundir.wait_exit(pid, timeout_s=5)
    reaped = PidRegistry(run_dir).reap()
    remove_runtime_state(run_dir)
    from harness.backends import cleanup_run_dir

    left = cleanup_run_dir(run_dir)  # what a crashed existing/kind run installed
    _unmerge(run_dir, args.name)
    for f in ("ready", rundir.SUPERVISOR_PID):
        (run_dir / f).unlink(missing_ok=True)
    if pid is None and not reaped:
        print(f"ekswin {args.name!r} is not running; nothing to stop ({run_dir})", file=sys.stderr)
        return EXIT_OK
    extra = f" (reaped leftovers: {', '.join(reaped)})" if reaped else ""
    if left:
        _err(f"{args.name!r}: could not remove from the cluster: {'; '.join(left)}")
        return EXIT_FAIL
    print(f"ekswin {args.name!r} stopped{extra}; logs kept in {run_dir / 'logs'}", file=sys.stderr)
    return EXIT_OK


def cmd_why(args: argparse.Namespace) -> int:
    """`ekswin why` (harness.why.cli) for the environment `--name` / `--run-dir`."""
    from harness.why.cli import cmd_why as why

    return why(args, _run_dir(args))


def cmd_kubeconfig(args: argparse.Namespace) -> int:
    """`ekswin kubeconfig`: the environment's kubeconfig path (exit 1 when it has none)."""
    run_dir = _run_dir(args)
    path = run_dir / "kubeconfig"
    try:
        info = json.loads((run_dir / "cluster.json").read_text())
        path = Path(info.get("kubeconfig") or path)
    except (OSError, ValueError):
        pass
    if not path.exists():
        _err(f"environment {args.name!r} has no kubeconfig ({path}); is it up?")
        return EXIT_FAIL
    print(path)
    return EXIT_OK


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `ekswin` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    from harness.pictures.cli import cmd_inspect
    from harness.scenario.cli import cmd_scenario

    handlers = {"up": cmd_up, "status": cmd_status, "down": cmd_down, "scenario": cmd_scenario}
    handlers["restart"] = cmd_restart
    handlers["inspect"] = cmd_inspect
    handlers["why"] = cmd_why
    handlers["kubeconfig"] = cmd_kubeconfig
    handlers["agent"] = cmd_agent
    from harness import stepcli

    handlers["step"] = stepcli.cmd_step
    handlers["bundle"] = stepcli.cmd_bundle
    try:
        return handlers[args.command](args)
    except UsageError as e:
        _err(str(e))
        return EXIT_USAGE
    except KeyboardInterrupt:
        return EXIT_FAIL


if __name__ == "__main__":
    sys.exit(main())
