"""The join file: what a node-agent shard on another host needs to join an environment.

`ekswin up` (existing and kind backends) writes it to ``<run dir>/join.json``, mode
0600 from its first byte: it carries a credential. ``ekswin agent --join FILE`` reads
it, refuses a file others can read (as ssh refuses such a private key), and validates
it strictly: an unknown or missing field, a wrong type or a schema version this ekswin
does not know is an error naming the file and the field (exit status 2).

Shape (version 1)::

    {"kind": "EkswinJoin", "version": 1, "environment": "guest", "created_at": "...",
     "kubernetes": {"server": "https://...", "certificate_authority_data": "<base64 PEM>",
                    "token": "...", "token_expires": "2026-01-02T03:04:05Z",
                    "kube_proxy_user": "ekswin:join:kube-proxy"},
     "ec2": {"endpoint": "http://...", "region": "us-west-2", "vpc_id": "vpc-...",
             "access_key_id": "ekswin-join", "secret_access_key": "testing"},
     "node_group": {"name_prefix": "win", "instance_type": "m5.large", "max_pods": 110,
                    "windows_build": "10.0.17763",
                    "subnets": [{"name": "a", "id": "subnet-...", "cidr": "...",
                                 "az": "us-west-2a"}]},
     "spec": {... the environment spec `up` runs (timing, node agent, kube-proxy) ...}}
"""

from __future__ import annotations

import base64
import json
import re
import stat
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

KIND = "EkswinJoin"
VERSION = 1
FILE_NAME = "join.json"
# Labels the joining agent puts on its CSRs; the first host approves only those that
# its own join identity requested (spec.username), whatever the labels say.
JOIN_LABEL = "ekswin.dev/join"
# A node name prefix: DNS-1123 label characters; the index is appended with '-'.
_PREFIX = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
PREFIX_MAX = 50


class JoinFileError(ValueError):
    """The join file cannot be used; the message names the file and the field."""


def check_prefix(prefix: str, where: str = "--name-prefix") -> str:
    """A node name prefix: lowercase letters, digits and '-', at most PREFIX_MAX."""
    if not _PREFIX.match(prefix) or len(prefix) > PREFIX_MAX:
        raise JoinFileError(
            f"{where}: {prefix!r}: expected lowercase letters, digits and '-', starting and "
            f"ending with a letter or digit, at most {PREFIX_MAX} characters"
        )
    return prefix


@dataclass(frozen=True)
class KubernetesAccess:
    """The API server, its CA and the join identity's token."""

    server: str
    certificate_authority_data: str  # base64 of the CA PEM, as in a kubeconfig
    token: str
    token_expires: str  # RFC 3339; `up` rewrites the file before it passes
    kube_proxy_user: str

    @property
    def ca_pem(self) -> bytes:
        """The CA certificate(s), PEM."""
        return base64.b64decode(self.certificate_authority_data)


@dataclass(frozen=True)
class Ec2Access:
    """fake_ec2 on the first host (dummy credentials: fake_ec2 logs the key id)."""

    endpoint: str
    region: str
    vpc_id: str
    access_key_id: str
    secret_access_key: str


@dataclass(frozen=True)
class JoinSubnet:
    """A subnet of the environment's VPC that joined nodes may launch into."""

    name: str
    id: str
    cidr: str
    az: str


@dataclass(frozen=True)
class NodeGroupTemplate:
    """What every joined node is: the node group a shard's nodes belong to."""

    name_prefix: str
    instance_type: str
    max_pods: int
    windows_build: str
    subnets: tuple[JoinSubnet, ...]

    def subnet(self, name: str | None) -> JoinSubnet:
        """The subnet `name` (default: the first); JoinFileError naming the choices."""
        if not name:
            return self.subnets[0]
        for s in self.subnets:
            if s.name == name or s.id == name:
                return s
        known = ", ".join(s.name for s in self.subnets)
        raise JoinFileError(f"--subnet {name!r}: the environment has subnet(s) {known}")


@dataclass(frozen=True)
class JoinFile:
    """The parsed join file."""

    environment: str
    created_at: str
    kubernetes: KubernetesAccess
    ec2: Ec2Access
    node_group: NodeGroupTemplate
    spec: Mapping[str, Any]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (kind and version first)."""
        d = asdict(self)
        d["spec"] = dict(self.spec)
        return {"kind": KIND, "version": VERSION, **d}

    def write(self, path: Path) -> Path:
        """Write it owner-only (0600 from the first byte, atomically)."""
        from harness.privfiles import write_private

        return write_private(path, json.dumps(self.to_dict(), indent=2) + "\n")

    @classmethod
    def from_dict(cls, data: Any, source: str = "join file") -> JoinFile:
        """Parse and validate (JoinFileError naming `source` and the field)."""

        def bad(field: str, msg: str) -> JoinFileError:
            return JoinFileError(f"{source}: {field}: {msg}")

        if not isinstance(data, dict):
            raise JoinFileError(f"{source}: expected a JSON object, got {type(data).__name__}")
        if data.get("kind") != KIND:
            raise bad("kind", f"{data.get('kind')!r}, expected {KIND!r} (not an ekswin join file)")
        version = data.get("version")
        if version != VERSION:
            raise bad(
                "version",
                f"{version!r} is not supported by this ekswin (it reads version {VERSION}); "
                "run the same ekswin version on every host",
            )
        body = {k: v for k, v in data.items() if k not in ("kind", "version")}
        top = _fields(cls, body, "", bad)
        spec = top["spec"]
        if not isinstance(spec, dict):
            raise bad("spec", "expected an object (the environment spec)")
        ng = _fields(NodeGroupTemplate, top["node_group"], "node_group.", bad)
        subnets = ng["subnets"]
        if not isinstance(subnets, list) or not subnets:
            raise bad("node_group.subnets", "expected a non-empty list")
        ng["subnets"] = tuple(
            JoinSubnet(**_fields(JoinSubnet, s, f"node_group.subnets[{i}].", bad))
            for i, s in enumerate(subnets)
        )
        if not isinstance(ng["max_pods"], int) or isinstance(ng["max_pods"], bool):
            raise bad("node_group.max_pods", f"expected an integer, got {ng['max_pods']!r}")
        try:
            check_prefix(str(ng["name_prefix"]), "node_group.name_prefix")
        except JoinFileError as e:
            raise JoinFileError(f"{source}: {e}") from None
        k8s = KubernetesAccess(**_fields(KubernetesAccess, top["kubernetes"], "kubernetes.", bad))
        ec2 = Ec2Access(**_fields(Ec2Access, top["ec2"], "ec2.", bad))
        if not k8s.server.startswith("https://"):
            raise bad("kubernetes.server", f"{k8s.server!r}, expected an https:// URL")
        try:
            if b"BEGIN CERTIFICATE" not in k8s.ca_pem:
                raise ValueError("no PEM certificate")
        except ValueError as e:
            raise bad(
                "kubernetes.certificate_authority_data", f"not a base64 PEM CA ({e})"
            ) from None
        if not ec2.endpoint.startswith(("http://", "https://")):
            raise bad("ec2.endpoint", f"{ec2.endpoint!r}, expected an http(s):// URL")
        return cls(
            environment=top["environment"],
            created_at=top["created_at"],
            kubernetes=k8s,
            ec2=ec2,
            node_group=NodeGroupTemplate(**ng),
            spec=spec,
        )

    @classmethod
    def read(cls, path: Path) -> JoinFile:
        """Read `path`: it must exist, be readable, be 0600 (or narrower) and parse."""
        try:
            st = path.stat()
            text = path.read_text()
        except FileNotFoundError:
            raise JoinFileError(
                f"join file {path}: no such file (`ekswin up` writes join.json into its run "
                "directory; copy it here)"
            ) from None
        except OSError as e:
            raise JoinFileError(f"join file {path}: cannot read it: {e.strerror or e}") from None
        mode = stat.S_IMODE(st.st_mode)
        if mode & 0o077:
            raise JoinFileError(
                f"join file {path}: mode {mode:04o}, expected 0600: it holds a credential "
                f"(chmod 600 {path})"
            )
        try:
            data = json.loads(text)
        except ValueError as e:
            raise JoinFileError(f"join file {path}: not JSON: {e}") from None
        return cls.from_dict(data, f"join file {path}")


def _fields(cls: Any, data: Any, prefix: str, bad: Any) -> dict[str, Any]:
    """The dataclass's fields from `data`: unknown or missing ones are errors; strings
    must be non-empty strings (the nested blocks are checked by the caller)."""
    where = prefix.rstrip(".") or "the file"
    if not isinstance(data, dict):
        raise bad(where, f"expected an object, got {type(data).__name__}")
    names = [f.name for f in fields(cls)]
    unknown = sorted(set(data) - set(names))
    if unknown:
        raise bad(f"{prefix}{unknown[0]}", f"unknown field; expected {', '.join(names)}")
    out = {}
    for f in fields(cls):
        if f.name not in data:
            raise bad(f"{prefix}{f.name}", "missing")
        value = data[f.name]
        if f.type == "str" and (not isinstance(value, str) or not value):
            raise bad(f"{prefix}{f.name}", f"expected a non-empty string, got {value!r}")
        out[f.name] = value
    return out
