"""Owner-only secret files and ServiceAccount tokens that are refreshed before they expire.

The TokenRequest API refuses lifetimes under ten minutes, so the short-lifetime tests
issue their own JWT-shaped tokens and check them in a small HTTP server that answers
401 for an expired or unknown token, like the API server does.
"""

from __future__ import annotations

import base64
import itertools
import json
import os
import secrets
import stat
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from harness import kubeconfig as kc
from harness.identity import IssuedToken, TokenRefresher
from harness.kube import tokenexec
from harness.kube.config import ExecToken
from harness.kube.config import load as load_client_config
from harness.privfiles import private_dir, write_private
from harness.waiting import wait_until


def _mode(path: Path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


# -- owner-only files ----------------------------------------------------------------------
@pytest.mark.parametrize("umask", [0o000, 0o022, 0o077])
def test_private_files_are_0600_whatever_the_umask(tmp_path: Path, umask: int) -> None:
    old = os.umask(umask)
    try:
        target = write_private(tmp_path / "key.pem", b"secret")
        assert _mode(target) == 0o600
        write_private(target, "rotated")  # a replacement is created the same way
        assert _mode(target) == 0o600 and target.read_text() == "rotated"
        d = private_dir(tmp_path / "run" / "pki")
        assert _mode(d) == 0o700
    finally:
        os.umask(old)
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []


def test_private_file_is_opened_with_its_mode(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The file is created 0600 by the open itself: at the first write it already has
    that mode, and nothing chmods it afterwards."""
    seen: list[int] = []
    real_open = os.open

    def spy_open(path: Any, flags: int, mode: int = 0o777, **kw: Any) -> int:
        fd = real_open(path, flags, mode, **kw)
        if flags & os.O_CREAT:
            seen.append(stat.S_IMODE(os.fstat(fd).st_mode))
        return fd

    def no_chmod(*a: Any, **kw: Any) -> None:
        raise AssertionError("a secret file was chmod'ed after creation")

    old = os.umask(0)
    monkeypatch.setattr(os, "open", spy_open)
    monkeypatch.setattr(os, "chmod", no_chmod)
    monkeypatch.setattr(os, "fchmod", no_chmod)
    try:
        kc.write(tmp_path / "kubeconfig", kc.build("x", "https://127.0.0.1:1", b"ca", token="t"))
    finally:
        os.umask(old)
    assert seen == [0o600]


def test_private_dir_narrows_an_existing_wide_dir(tmp_path: Path) -> None:
    wide = tmp_path / "run"
    wide.mkdir(mode=0o755)
    wide.chmod(0o755)
    assert _mode(private_dir(wide)) == 0o700


# -- tokens that expire ----------------------------------------------------------------------
def _jwt(exp: float) -> str:
    def part(obj: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(obj).encode()).rstrip(b"=").decode()

    return f"{part({'alg': 'none'})}.{part({'exp': exp, 'jti': secrets.token_hex(8)})}.sig"


class ShortLivedIssuer:
    """Issues tokens that live `lifetime_s`; remembers each one's validity."""

    def __init__(self, lifetime_s: float) -> None:
        self.lifetime_s = lifetime_s
        self.issued: list[IssuedToken] = []
        self._lock = threading.Lock()

    def __call__(self, namespace: str, name: str) -> IssuedToken:
        now = time.time()
        token = IssuedToken(_jwt(now + self.lifetime_s), now, now + self.lifetime_s)
        with self._lock:
            self.issued.append(token)
        return token

    def valid(self, token: str) -> bool:
        now = time.time()
        with self._lock:
            return any(t.token == token and now < t.expires_at for t in self.issued)


class _Api(BaseHTTPRequestHandler):
    server: _ApiServer

    def do_GET(self) -> None:
        auth = self.headers.get("Authorization", "")
        ok = auth.startswith("Bearer ") and self.server.issuer.valid(auth[7:])
        body = json.dumps(
            {"kind": "APIGroupList", "groups": []} if ok else {"kind": "Status", "code": 401}
        ).encode()
        if ok:
            self.server.served += 1
        else:
            self.server.refused += 1
        self.send_response(200 if ok else 401)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


class _ApiServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, issuer: ShortLivedIssuer) -> None:
        super().__init__(("127.0.0.1", 0), _Api)
        self.issuer = issuer
        self.served = 0
        self.refused = 0


@pytest.fixture
def api_server() -> Iterator[_ApiServer]:
    srv = _ApiServer(ShortLivedIssuer(lifetime_s=2.5))
    t = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
    t.start()
    yield srv
    srv.shutdown()
    srv.server_close()


def test_refresher_replaces_each_token_before_it_expires(tmp_path: Path) -> None:
    issuer = ShortLivedIssuer(lifetime_s=2.5)
    refresher = TokenRefresher(issuer)
    path = tmp_path / "sa.token"
    try:
        refresher.add("kube-system", "sa", path)
        assert _mode(path) == 0o600
        wait_until(lambda: refresher.refreshes >= 3, 30, "three refreshes")
    finally:
        refresher.stop()
    issued = issuer.issued[:4]
    for old, new in itertools.pairwise(issued):
        # Not early (80% of the lifetime) and before the previous one ran out.
        assert old.refresh_at <= new.issued_at < old.expires_at
    assert path.read_text() == refresher.current(path).token
    assert _mode(path) == 0o600


def test_refresher_retries_a_failed_refresh_while_the_old_token_lives(tmp_path: Path) -> None:
    issuer = ShortLivedIssuer(lifetime_s=600)
    failures = [RuntimeError("apiserver unavailable")] * 2

    def flaky(namespace: str, name: str) -> IssuedToken:
        if len(issuer.issued) == 1 and failures:
            raise failures.pop()
        return issuer(namespace, name)

    refresher = TokenRefresher(flaky, retry_s=0.1)
    path = tmp_path / "sa.token"
    try:
        first = refresher.add("ns", "sa", path)
        refresher.refresh_now()
        wait_until(lambda: refresher.refreshes == 1, 20, "a refresh after two failures")
    finally:
        refresher.stop()
    assert not failures and path.read_text() != first.token


def test_exec_plugin_reports_the_token_and_its_expiry(tmp_path: Path) -> None:
    exp = 1_900_000_000
    path = write_private(tmp_path / "t.token", _jwt(exp) + "\n")
    cred = tokenexec.credential(str(path))
    assert cred["apiVersion"] == "client.authentication.k8s.io/v1beta1"
    status: Any = cred["status"]
    assert status["token"] == path.read_text().strip()
    assert status["expirationTimestamp"] == "2030-03-17T17:46:40Z"


def test_exec_token_is_cached_until_it_nears_expiry(tmp_path: Path) -> None:
    token_file = write_private(tmp_path / "t.token", _jwt(time.time() + 3600))
    spec = kc.token_exec(token_file)
    source = ExecToken(spec, "test")
    first = source.token()
    write_private(token_file, _jwt(time.time() + 3600))
    assert source.token() == first and source.runs == 1  # an hour left: no re-run
    write_private(token_file, _jwt(time.time() + 30))  # nearly expired: re-run each time
    source = ExecToken(spec, "test")
    near = source.token()
    fresh = write_private(token_file, _jwt(time.time() + 3600)).read_text()
    assert near != fresh and source.token() == fresh and source.runs == 2


def _kubeconfig(tmp_path: Path, server: str, token_file: Path) -> Path:
    config = kc.build("t", server, b"", token_file=token_file)
    config["clusters"][0]["cluster"].pop("certificate-authority-data")
    return kc.write(tmp_path / "sa.kubeconfig", config)


def test_clients_keep_working_across_many_token_lifetimes(
    tmp_path: Path, api_server: _ApiServer
) -> None:
    """The kubernetes client (built as the controller builds it) and harness.kube's
    clients keep authenticating while every token they started with has expired."""
    from kubernetes import config as kconfig

    from harness.kube.client import KubeClient
    from harness.kube.rest import RestClient

    issuer = api_server.issuer
    refresher = TokenRefresher(issuer)
    token_file = tmp_path / "sa.token"
    refresher.add("kube-system", "sa", token_file)
    path = _kubeconfig(tmp_path, f"http://127.0.0.1:{api_server.server_address[1]}", token_file)
    python_client = kconfig.new_client_from_config(config_file=str(path))
    rest = RestClient(str(path))
    stdlib = KubeClient(load_client_config(str(path)))

    def call_all() -> None:
        resp = python_client.call_api(
            "/apis", "GET", auth_settings=["BearerToken"], _preload_content=False
        )
        assert resp.status == 200  # the client raises ApiException on a 401
        assert rest.get("/apis")["kind"] == "APIGroupList"
        assert stdlib.get("/apis")["kind"] == "APIGroupList"

    try:
        call_all()
        first = issuer.issued[0]
        done = 0

        def outlived(n: int) -> bool:
            nonlocal done
            call_all()
            done += 1
            return len(issuer.issued) > n and time.time() > issuer.issued[n - 1].expires_at

        # Until the first three tokens are all past their expiry, calling all along.
        wait_until(lambda: outlived(3), 60, "three token lifetimes to pass")
        assert time.time() > first.expires_at and not issuer.valid(first.token)
        call_all()
    finally:
        refresher.stop()
        python_client.close()
        rest.pool.clear()
    assert api_server.refused == 0 and api_server.served >= 3 * (done + 2)
