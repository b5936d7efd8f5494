"""HTTPS server for the pod admission webhooks (AdmissionReview v1).

Thin wire layer: TLS, HTTP/1.1 keep-alive and routing; every decision is in review.py /
admission.py. The real controller serves the same paths on port 9443 with the
certificate cert-manager writes to tls.crt / tls.key.

One thread per connection, but bounded (:class:`Limits`): at most `max_connections`
at once (one more is closed at accept), and deadlines like Go's http.Server timeouts:
the TLS handshake, the wait for a connection's first request, each whole request
(headers, body and reply, however slowly its bytes trickle in) and the idle wait
between kept-alive requests. A watchdog thread cuts a connection past its deadline,
so stalled or slow clients cannot pin threads.
"""

from __future__ import annotations

import contextlib
import json
import logging
import socket
import ssl
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any

from controller.httpd import ReplyHandler
from controller.webhook import certs
from controller.webhook.review import (
    MUTATE_PATH,
    VALIDATE_PATH,
    BadReview,
    handle_review,
    parse_review,
)

log = logging.getLogger(__name__)

MAX_BODY = 16 * 1024 * 1024  # larger than any pod the API server accepts (etcd limit 1.5 MiB)
HANDSHAKE_TIMEOUT_S = 10.0
IDLE_TIMEOUT_S = 90.0  # Go's HTTP client drops idle connections after 90 s
WATCHDOG_PERIOD_S = 0.25


@dataclass(frozen=True)
class Limits:
    """Bounds on the webhook's connections (the defaults suit the API server)."""

    max_connections: int = 64
    handshake_timeout_s: float = HANDSHAKE_TIMEOUT_S
    first_request_timeout_s: float = 10.0
    # The API server waits at most 30 s for a webhook (timeoutSeconds 1..30).
    request_timeout_s: float = 30.0
    idle_timeout_s: float = IDLE_TIMEOUT_S

    def __post_init__(self) -> None:
        if self.max_connections < 1:
            raise ValueError(f"max_connections: expected >= 1, got {self.max_connections}")
        for name in (
            "handshake_timeout_s",
            "first_request_timeout_s",
            "request_timeout_s",
            "idle_timeout_s",
        ):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name}: expected > 0, got {getattr(self, name)}")


WEBHOOK_NAMES = {MUTATE_PATH: "mpod.vpc.k8s.aws", VALIDATE_PATH: "vpod.vpc.k8s.aws"}


class _Handler(ReplyHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: the API server reuses connections
    timeout = IDLE_TIMEOUT_S
    server: _TLSServer
    _served: int

    def setup(self) -> None:
        # The handshake runs here, in the connection's own thread, so a slow or broken
        # client cannot stall accept() for everyone else.
        limits = self.server.limits
        self.server.arm(self.request, limits.handshake_timeout_s)
        self.request.settimeout(limits.handshake_timeout_s)
        self.request.do_handshake()
        super().setup()
        self._served = 0

    def handle_one_request(self) -> None:
        # Wait for the next request's first byte (bounded), then give the whole request
        # and its reply one deadline: a client trickling bytes cannot stretch it.
        limits = self.server.limits
        wait = limits.idle_timeout_s if self._served else limits.first_request_timeout_s
        self.server.arm(self.request, wait)
        self.connection.settimeout(wait)
        try:
            started = self.rfile.peek(1)  # type: ignore[attr-defined]
        except OSError:  # timed out, or cut by the watchdog
            started = b""
        if not started:
            self.close_connection = True
            return
        self.server.arm(self.request, limits.request_timeout_s)
        self.connection.settimeout(limits.request_timeout_s)
        super().handle_one_request()
        self._served += 1

    def do_GET(self) -> None:
        if self.path.split("?", 1)[0] in ("/healthz", "/readyz"):
            self._send(200, b"ok", "text/plain; charset=utf-8")
        else:
            self._send(404, b"not found", "text/plain; charset=utf-8")

    def do_POST(self) -> None:
        path = self.path.split("?", 1)[0]  # the API server appends ?timeout=10s
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = -1  # not a number: refused below, as Go's net/http refuses it
        if length <= 0 or length > MAX_BODY:
            self.close_connection = True  # the unread body would be taken for the next request
            self._send(400, b"Content-Length: expected 1..16 MiB", "text/plain; charset=utf-8")
            return
        body = self.rfile.read(length)
        if path not in WEBHOOK_NAMES:
            self._send(404, b"not found", "text/plain; charset=utf-8")
            return
        self._serve_review(path, body)

    def _serve_review(self, path: str, body: bytes) -> None:
        srv = self.server
        name = WEBHOOK_NAMES[path]
        metrics = srv.metrics
        start = time.perf_counter()
        if metrics is not None:
            metrics.in_flight.labels(webhook=path).inc()
        code = 200
        try:
            try:
                review = parse_review(body)
            except BadReview as e:
                code = 400
                self._send(400, str(e).encode(), "text/plain; charset=utf-8")
                return
            try:
                ipam = bool(srv.ipam_enabled())
            except Exception:  # unknown config: behave as with IPAM off (no mutation)
                log.exception("ipam_enabled() failed; treating Windows IPAM as off")
                ipam = False
            answer = handle_review(
                path, review, ipam_enabled=ipam, controller_username=srv.controller_username
            )
            resp = answer["response"]
            log.debug(
                "%s uid=%s allowed=%s %s",
                name,
                resp["uid"],
                resp["allowed"],
                resp.get("status", {}).get("message", ""),
            )
            self._send(200, json.dumps(answer).encode(), "application/json")
        finally:
            if metrics is not None:
                metrics.in_flight.labels(webhook=path).dec()
                metrics.requests.labels(webhook=path, code=str(code)).inc()
                metrics.latency.labels(webhook=path).observe(time.perf_counter() - start)

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("webhook %s - %s", self.address_string(), format % args)


class _TLSServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False

    def __init__(
        self,
        addr: tuple[str, int],
        context: ssl.SSLContext,
        *,
        ipam_enabled: Callable[[], bool],
        controller_username: str,
        metrics: Any,
        limits: Limits,
    ) -> None:
        self.ipam_enabled = ipam_enabled
        self.controller_username = controller_username
        self.metrics = metrics
        self.limits = limits
        self.rejected = 0  # connections closed at accept: max_connections were open
        self.timed_out = 0  # connections cut by the watchdog
        self._conns: dict[socket.socket, float] = {}  # open connection -> its deadline
        self._conns_lock = threading.Lock()
        self._watchdog_stop = threading.Event()
        self._watchdog = threading.Thread(target=self._watch, name="webhook-watchdog", daemon=True)
        super().__init__(addr, _Handler, bind_and_activate=False)
        self.socket = context.wrap_socket(
            self.socket, server_side=True, do_handshake_on_connect=False
        )
        try:
            self.server_bind()
            self.server_activate()
        except BaseException:
            self.server_close()
            raise

    def verify_request(self, request: Any, client_address: Any) -> bool:
        """Admit a connection while fewer than max_connections are open."""
        with self._conns_lock:
            if len(self._conns) >= self.limits.max_connections:
                self.rejected += 1
                rejected = self.rejected
            else:
                self._conns[request] = time.monotonic() + self.limits.handshake_timeout_s
                return True
        if rejected == 1 or rejected % 100 == 0:
            log.warning(
                "webhook: %d connections open (the limit); closed the one from %s "
                "(%d refused so far)",
                self.limits.max_connections, client_address, rejected,
            )  # fmt: skip
        return False

    def arm(self, request: Any, seconds: float) -> None:
        """Give a connection a deadline `seconds` from now (the watchdog enforces it)."""
        with self._conns_lock:
            if request in self._conns:
                self._conns[request] = time.monotonic() + seconds

    def shutdown_request(self, request: Any) -> None:
        with self._conns_lock:
            self._conns.pop(request, None)
        super().shutdown_request(request)

    def start_watchdog(self) -> None:
        """Start cutting connections that pass their deadline."""
        self._watchdog.start()

    def _watch(self) -> None:
        while not self._watchdog_stop.wait(WATCHDOG_PERIOD_S):
            now = time.monotonic()
            with self._conns_lock:
                late = [c for c, deadline in self._conns.items() if deadline <= now]
                for conn in late:
                    self._conns[conn] = float("inf")  # cut once
            for conn in late:
                self.timed_out += 1
                log.debug("webhook: cutting a connection past its deadline")
                _cut(conn)

    def close_connections(self) -> None:
        """Stop the watchdog; cut open connections so a stopped webhook stops answering."""
        self._watchdog_stop.set()
        with self._conns_lock:
            conns = list(self._conns)
        for conn in conns:
            _cut(conn)

    def open_connections(self) -> int:
        """Connections being served now."""
        with self._conns_lock:
            return len(self._conns)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Handshake failures and dropped connections are the client's business.
        log.debug("webhook connection from %s failed", client_address, exc_info=True)


def _cut(conn: socket.socket) -> None:
    # Shut the descriptor down below TLS: the handler's blocked read or write returns
    # at once; the SSL object stays intact for the thread that still uses it.
    with contextlib.suppress(OSError):
        socket.socket.shutdown(conn, socket.SHUT_RDWR)


class WebhookServer:
    """Serves `/mutate-v1-pod`, `/validate-v1-pod` and `/healthz` over HTTPS.

    `cert_dir` holds tls.crt and tls.key. When they are absent (or cert_dir is empty),
    a self-signed CA and a serving certificate for `host`, 127.0.0.1 and localhost are
    generated there (or in a temporary directory) and the CA PEM is `.ca_bundle`, ready for
    the webhook configurations' caBundle. `ipam_enabled` is asked on every request, so a
    ConfigMap change applies at once. `limits` bounds connections and their timeouts.
    """

    def __init__(
        self,
        cert_dir: Path | str | None,
        port: int,
        *,
        ipam_enabled: Callable[[], bool],
        controller_username: str,
        host: str = "127.0.0.1",
        registry: Any = None,
        limits: Limits | None = None,
    ) -> None:
        self.limits = limits or Limits()
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        if not cert_dir:
            self._tmp = tempfile.TemporaryDirectory(prefix="vpc-rc-webhook-")
            cert_dir = self._tmp.name
        self.cert_dir = Path(cert_dir)
        self.host = host
        self._requested_port = port
        self._ipam_enabled = ipam_enabled
        self._controller_username = controller_username
        self._metrics: Any = None
        if registry is not None:
            from controller.metrics import WebhookMetrics

            self._metrics = WebhookMetrics(registry)
        self.ca_bundle: bytes | None = None
        self._httpd: _TLSServer | None = None
        self._thread: threading.Thread | None = None

    def _ssl_context(self) -> ssl.SSLContext:
        crt, key = self.cert_dir / certs.CERT_FILE, self.cert_dir / certs.KEY_FILE
        if not (crt.exists() and key.exists()):
            self.ca_bundle = certs.generate_self_signed(
                self.cert_dir, [self.host, "127.0.0.1", "localhost"]
            )
        elif (self.cert_dir / certs.CA_FILE).exists():
            self.ca_bundle = (self.cert_dir / certs.CA_FILE).read_bytes()
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        ctx.load_cert_chain(str(crt), str(key))
        return ctx

    def start(self) -> None:
        """Bind, then serve in a background thread. Raises if the port is taken."""
        if self._httpd is not None:
            raise RuntimeError("WebhookServer already started")
        self._httpd = _TLSServer(
            (self.host, self._requested_port),
            self._ssl_context(),
            ipam_enabled=self._ipam_enabled,
            controller_username=self._controller_username,
            metrics=self._metrics,
            limits=self.limits,
        )
        self._httpd.start_watchdog()
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": 0.2},
            name="webhook",
            daemon=True,
        )
        self._thread.start()
        log.info("webhook serving on https://%s:%d", self.host, self.port)

    @property
    def port(self) -> int:
        """The bound port (after start())."""
        if self._httpd is None:
            raise RuntimeError("WebhookServer not started")
        return int(self._httpd.server_address[1])

    def connection_stats(self) -> dict[str, int]:
        """Connections open now, refused at the limit and cut at a deadline so far."""
        httpd = self._httpd
        if httpd is None:
            return {"open": 0, "rejected": 0, "timed_out": 0}
        return {
            "open": httpd.open_connections(),
            "rejected": httpd.rejected,
            "timed_out": httpd.timed_out,
        }

    @property
    def url(self) -> str:
        """Base URL, e.g. https://127.0.0.1:PORT (what webhook_configurations takes)."""
        return f"https://{self.host}:{self.port}"

    def stop(self) -> None:
        """Stop accepting, cut open connections, release the port."""
        httpd, self._httpd = self._httpd, None
        if httpd is not None:
            httpd.shutdown()
            httpd.server_close()
            httpd.close_connections()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    def __enter__(self) -> WebhookServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
