"""How the harness launches the upstream VPC Resource Controller binary, as plain data.

Facts and their sources: docs/upstream-controller.md. Everything here is computed
without the binary (tested in `make test`); harness.pipeline starts the process.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from controller.limits import table

REPOSITORY = "aws/amazon-vpc-resource-controller-k8s"
PINNED_COMMIT = "b8d425119bdba371202882b808f202c6073a46cc"  # FACTS.md
GO_VERSION = "1.26"  # go.mod at the pinned commit
BINARY_ENV = "EKSWIN_UPSTREAM_CONTROLLER"
# Fixed by main.go (not flags): the webhook server and the health probe, all interfaces.
WEBHOOK_PORT = 9443
HEALTH_PORT = 61779
FIXED_PORTS = (WEBHOOK_PORT, HEALTH_PORT)
MUTATE_POD = "/mutate-v1-pod"
VALIDATE_POD = "/validate-v1-pod"
VALIDATE_NODE = "/validate-v1-node"
WEBHOOK_PATHS = (MUTATE_POD, VALIDATE_POD, VALIDATE_NODE)
# controller-runtime's default serving-cert directory below os.TempDir() ($TMPDIR).
CERT_SUBDIR = Path("k8s-webhook-server") / "serving-certs"
# main.go's flags a spec's `controller.flags` may pass through (the harness sets the
# others: cluster, VPC, listeners, prefix delegation, leader election, role).
PASSTHROUGH_FLAGS = frozenset(
    {
        "page-limit",
        "health-check-timeout",
        "node-mgr-workers",
        "user-client-qps",
        "user-client-burst",
        "instance-client-qps",
        "instance-client-burst",
        "apiserver-qps",
        "apiserver-burst",
        "max-pod-reconcile",
        "max-node-reconcile",
        "enable-dev-logging",
    }
)
# Static credentials: fake_ec2 checks that requests are SigV4-signed, not the key.
ACCESS_KEY = "AKIAEKSWINFAKE000000"
SECRET_KEY = "ekswin-fake-secret-access-key"

BUILD_HINT = (
    f"build it with Go {GO_VERSION}: git clone https://github.com/{REPOSITORY} && "
    f"cd amazon-vpc-resource-controller-k8s && git checkout {PINNED_COMMIT} && "
    "CGO_ENABLED=0 go build -o vpc-resource-controller . ; then pass "
    f"--controller-binary PATH or set {BINARY_ENV}=PATH "
    "(the upstream CI job does this: .github/workflows/upstream.yml)"
)


class UpstreamUnavailable(Exception):
    """The upstream binary cannot be used (message says why and how to fix it)."""


def resolve_binary(given: str | None, env: Mapping[str, str] | None = None) -> Path:
    """The controller binary: `given`, else $EKSWIN_UPSTREAM_CONTROLLER; checked executable."""
    env = os.environ if env is None else env
    raw = given or env.get(BINARY_ENV, "")
    if not raw:
        raise UpstreamUnavailable(
            f"--controller upstream needs the controller binary; {BUILD_HINT}"
        )
    path = Path(raw).expanduser().resolve()
    if not path.is_file():
        raise UpstreamUnavailable(f"controller binary {raw!r} does not exist; {BUILD_HINT}")
    if not os.access(path, os.X_OK):
        raise UpstreamUnavailable(f"controller binary {raw!r} is not executable (chmod +x it)")
    return path


@dataclass(frozen=True)
class Launch:
    """What the upstream controller process needs from the environment."""

    binary: Path
    cluster_name: str
    vpc_id: str
    ec2_url: str
    kubeconfig: Path
    tmpdir: Path
    introspect_port: int
    prefix_delegation: bool = True
    log_level: str = "INFO"
    flags: tuple[tuple[str, str], ...] = ()  # PASSTHROUGH_FLAGS only

    def argv(self) -> list[str]:
        """The command line (main.go's flags; one replica, so no leader election)."""
        return [
            str(self.binary),
            f"--cluster-name={self.cluster_name}",
            f"--vpc-id={self.vpc_id}",
            f"--enable-windows-prefix-delegation={str(self.prefix_delegation).lower()}",
            "--leader-elect=false",
            "--metrics-bind-address=0",  # controller-runtime: "0" serves no metrics
            f"--introspect-bind-addr=127.0.0.1:{self.introspect_port}",
            f"--log-level={'debug' if self.log_level == 'DEBUG' else 'info'}",
            # --role-arn stays empty: with it the SDK would AssumeRole at the real STS.
            *(f"--{k}={v}" for k, v in self.flags if k in PASSTHROUGH_FLAGS),
        ]

    def env(self, base: Mapping[str, str] | None = None) -> dict[str, str]:
        """The environment: `base` without AWS_* settings, plus fake_ec2 and the cluster."""
        base = os.environ if base is None else base
        out = {k: v for k, v in base.items() if not k.startswith("AWS_") and k != "KUBECONFIG"}
        missing = self.tmpdir / "no-aws-config"  # never the user's ~/.aws files
        out.update(
            {
                "AWS_ACCESS_KEY_ID": ACCESS_KEY,
                "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
                "AWS_CONFIG_FILE": str(missing),
                "AWS_SHARED_CREDENTIALS_FILE": str(missing),
                "AWS_ENDPOINT_URL_EC2": self.ec2_url,
                "AWS_EC2_METADATA_SERVICE_ENDPOINT": self.ec2_url,
                "AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE": "IPv4",
                "KUBECONFIG": str(self.kubeconfig),
                "TMPDIR": str(self.tmpdir),
            }
        )
        return out

    def cert_paths(self) -> tuple[Path, Path]:
        """Where the binary reads its webhook serving certificate and key."""
        d = self.tmpdir / CERT_SUBDIR
        return d / "tls.crt", d / "tls.key"

    def health_url(self) -> str:
        """The liveness endpoint (fixed port, all interfaces)."""
        return f"http://127.0.0.1:{HEALTH_PORT}/healthz"

    def webhook_local_url(self) -> str:
        """The webhook server as this host reaches it."""
        return f"https://127.0.0.1:{WEBHOOK_PORT}"

    def introspect_url(self) -> str:
        """The controller's own introspection API."""
        return f"http://127.0.0.1:{self.introspect_port}"


def passthrough(flags: Mapping[str, str | int | float | bool]) -> tuple[tuple[str, str], ...]:
    """The spec's controller flags the binary also has (others are the Python model's)."""
    return tuple(
        (k, str(v).lower() if isinstance(v, bool) else str(v))
        for k, v in sorted(flags.items())
        if k in PASSTHROUGH_FLAGS
    )


def upstream_instance_types() -> dict[str, int]:
    """Instance type -> IPv4 addresses per interface, from the controller's own table
    (the one the Python controller reads too: controller/instance_types.txt)."""
    return {name: row.ipv4_per_eni for name, row in table().items()}


def offered_instance_types(ec2_types: set[str]) -> set[str]:
    """The types an upstream environment offers: those both tables know."""
    return ec2_types & set(upstream_instance_types())
