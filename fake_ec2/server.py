"""The fake_ec2 HTTP server: moto's EC2 app behind a thin front that adds faults,
the request log and the admin API (``/_ekswin/...``), on a threaded werkzeug server.

Use :func:`serve` in-process (tests) or ``python -m fake_ec2`` standalone. moto keeps its
state per process, so every server in one process shares one EC2.
"""

from __future__ import annotations

import io
import json
import logging
import re
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from typing import Any
from urllib.parse import parse_qs
from xml.sax.saxutils import escape

from fake_ec2 import request_check
from fake_ec2.exceptions import (
    Ec2Error,
    InternalError,
    InvalidPaginationToken,
    InvalidParameterValue,
    UnsupportedOperation,
)
from fake_ec2.faults import FaultPlan
from fake_ec2.imds import PREFIX as IMDS_PREFIX
from fake_ec2.imds import Identity, Imds
from fake_ec2.request_log import RequestLog

log = logging.getLogger("fake_ec2")

ADMIN_PREFIX = "/_ekswin/"
# A browser cannot send a custom header, nor a JSON body, to another origin without a
# CORS preflight, which this server never grants: both together keep a web page the
# user visits from resetting or re-faulting fake_ec2 behind their back.
ADMIN_HEADER = "X-Ekswin-Admin"
ADMIN_HEADER_VALUE = "1"
JSON = "application/json"
_LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "[::1]", "::1")
StartResponse = Callable[..., Any]


def admin_refusal(environ: dict[str, Any]) -> tuple[int, str] | None:
    """Why an admin request is refused (status, message), or None to serve it.

    Requires ``X-Ekswin-Admin: 1`` on every request and ``Content-Type:
    application/json`` on every request that may change state; refuses requests that
    carry an ``Origin`` (browsers add it, the AdminClient never does) or name a
    non-loopback ``Host`` (DNS rebinding)."""
    method = environ.get("REQUEST_METHOD", "GET")
    if environ.get("HTTP_" + ADMIN_HEADER.upper().replace("-", "_")) != ADMIN_HEADER_VALUE:
        return 403, (
            f"the admin API needs the header {ADMIN_HEADER}: {ADMIN_HEADER_VALUE} "
            "(fake_ec2.admin.AdminClient sends it)"
        )
    origin = environ.get("HTTP_ORIGIN")
    if origin:
        return 403, f"cross-origin requests are refused (Origin: {origin})"
    host = str(environ.get("HTTP_HOST", ""))
    name = host.rsplit(":", 1)[0] if not host.endswith("]") else host
    if host and name not in _LOOPBACK_HOSTS:
        return 403, f"Host {host!r} is not a loopback address"
    if method not in ("GET", "HEAD"):
        ctype = str(environ.get("CONTENT_TYPE", "")).split(";", 1)[0].strip().lower()
        if ctype != JSON:
            return 415, f"Content-Type: expected {JSON} for {method}, got {ctype or 'none'!r}"
    return None


# Characters XML 1.0 cannot carry at all, even escaped (a caller's value may hold them).
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
_NOT_XML_BYTES = re.compile(b"[\x00-\x08\x0b\x0c\x0e-\x1f]")


def xml_text(text: str) -> str:
    """`text` escaped for an XML element, characters XML cannot hold written as \\xNN."""
    return escape(_NOT_XML.sub(lambda m: f"\\x{ord(m.group()):02x}", text))


def error_xml(code: str, message: str, request_id: str) -> bytes:
    """EC2's XML error body."""
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f"<Response><Errors><Error><Code>{xml_text(code)}</Code>"
        f"<Message>{xml_text(message)}</Message></Error></Errors>"
        f"<RequestID>{request_id}</RequestID></Response>"
    ).encode()


def _status_line(status: int) -> str:
    from http import HTTPStatus

    try:
        return f"{status} {HTTPStatus(status).phrase}"
    except ValueError:
        return str(status)


def _headers(environ: dict[str, Any]) -> dict[str, str]:
    """The request's HTTP headers, lower-case names."""
    out = {
        k[5:].replace("_", "-").lower(): str(v) for k, v in environ.items() if k.startswith("HTTP_")
    }
    for k in ("CONTENT_TYPE", "CONTENT_LENGTH"):
        if environ.get(k):
            out[k.replace("_", "-").lower()] = str(environ[k])
    return out


_FILTER = re.compile(r"The filter '(.*)' for \w+", re.S)


def moto_failure(
    action: str, exc: BaseException, params: Mapping[str, str] | None = None
) -> Ec2Error:
    """The EC2 error for an exception moto raised on a request that passed the checks.

    A filter moto does not know is answered as EC2 answers an unknown filter
    (InvalidParameterValue, "The filter 'x' is invalid"); an action or feature moto does
    not implement is UnsupportedOperation; a value moto cannot use (it raised ValueError,
    KeyError, ...) is InvalidParameterValue. Anything else is an InternalError (500).
    """
    text = request_check.shown(str(exc), 200)
    if isinstance(exc, NotImplementedError):
        m = _FILTER.search(str(exc))
        if m:
            log.info("%s: moto does not implement filter %r", action, m.group(1))
            return InvalidParameterValue(
                f"The filter '{request_check.shown(m.group(1))}' is invalid"
            )
        log.warning("%s: not implemented by moto: %s", action, text)
        return UnsupportedOperation(f"fake_ec2 does not support this request to {action}: {text}")
    token = (params or {}).get("NextToken")
    if token is not None and isinstance(exc, ValueError) and "not in list" in str(exc):
        # moto looks the token up in its page list.
        return InvalidPaginationToken(
            f"The pagination token {request_check.shown(token)!r} is not valid or is expired."
        )
    if isinstance(exc, (ValueError, KeyError, IndexError, TypeError, AttributeError)):
        log.warning("%s: moto could not use a parameter (%s: %s)", action, type(exc).__name__, text)
        return InvalidParameterValue(
            f"The request to {action} has a parameter value that is not valid "
            f"({type(exc).__name__}: {text})"
        )
    log.error("%s: moto failed (%s: %s)", action, type(exc).__name__, text)
    log.debug("moto traceback", exc_info=exc)
    return InternalError()


class Ec2Front:
    """WSGI app: admin API, then faults, then moto; logs every EC2 request."""

    def __init__(
        self,
        moto_app: Callable[..., Iterable[bytes]],
        seed: int = 0,
        region: str = "us-west-2",
        log_capacity: int = 10_000,
    ) -> None:
        from fake_ec2 import moto_patch

        self.rules = moto_patch.install()
        self.moto_app = moto_app
        self.region = region
        self.faults = FaultPlan(seed=seed)
        self.requests = RequestLog(log_capacity)
        # The instance metadata routes the upstream controller reads (fake_ec2/imds.py).
        self.imds = Imds(Identity.for_seed(region, seed))

    # ------------------------------------------------------------------ WSGI
    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if path.startswith(ADMIN_PREFIX):
            return self._admin(environ, start_response)
        if path.startswith(IMDS_PREFIX):
            return self.imds(environ, start_response)
        started = time.perf_counter()
        body = self._read_body(environ)
        params = self._params(environ, body)
        action = params.get("Action", "")
        try:
            # EC2's order: the signature, then the action, then its parameters.
            request_check.check_signed(_headers(environ), params)
            request_check.check_action(params)
        except Ec2Error as err:
            log.info("refused %s: %s", request_check.shown(action) or "request", err)
            status, headers, chunks = self._error(err)
        else:
            unfiltered = not any(
                k.startswith(("Filter.", "MaxResults", "NextToken")) for k in params
            )
            decision = self.faults.decide(action, unfiltered)
            if decision.delay_s:
                time.sleep(decision.delay_s)
            if decision.error is not None:
                status, headers, chunks = self._error(decision.error)
            else:
                status, headers, chunks = self._call_moto(environ, action, params)
        start_response(_status_line(status), headers)
        code = "OK" if status < 400 else self._code_of(b"".join(chunks))
        self.requests.add(
            time=time.time(),
            action=request_check.shown(action),
            params={
                request_check.shown(k): request_check.shown(v)
                for k, v in params.items()
                if k not in ("Action", "Version")
            },
            status=status,
            code=code,
            latency_ms=(time.perf_counter() - started) * 1000.0,
            access_key=request_check.access_key_id(_headers(environ), params),
        )
        return chunks

    @staticmethod
    def _read_body(environ: dict[str, Any]) -> bytes:
        try:
            length = max(0, int(environ.get("CONTENT_LENGTH") or 0))
        except ValueError:
            length = 0
        body = environ["wsgi.input"].read(length) if length else b""
        environ["wsgi.input"] = io.BytesIO(body)
        return body

    @staticmethod
    def _params(environ: dict[str, Any], body: bytes) -> dict[str, str]:
        merged: dict[str, str] = {}
        for raw in (environ.get("QUERY_STRING", ""), body.decode("utf-8", "replace")):
            for key, values in parse_qs(raw, keep_blank_values=True).items():
                merged[key] = values[-1]
        return merged

    @staticmethod
    def _code_of(body: bytes) -> str:
        start = body.find(b"<Code>")
        end = body.find(b"</Code>")
        if start < 0 or end < 0:
            return "Error"
        return body[start + 6 : end].decode("utf-8", "replace")

    @staticmethod
    def _error(err: Ec2Error) -> tuple[int, list[tuple[str, str]], list[bytes]]:
        body = error_xml(err.code, err.message, str(uuid.uuid4()))
        headers = [("Content-Type", "text/xml;charset=UTF-8"), ("Content-Length", str(len(body)))]
        return err.http_status, headers, [body]

    def _call_moto(
        self, environ: dict[str, Any], action: str, params: Mapping[str, str]
    ) -> tuple[int, list[tuple[str, str]], list[bytes]]:
        """moto's answer, buffered; anything moto raises becomes an EC2 XML error."""
        seen: dict[str, Any] = {}

        def capture(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            seen["status"] = int(status.split(" ", 1)[0])
            seen["headers"] = list(headers)
            return lambda data: None  # moto returns its body; it never calls write()

        environ["PATH_INFO"] = "/"  # EC2 has one endpoint path; moto routes only "/"
        try:
            result = self.moto_app(environ, capture)
            try:
                chunks = list(result)
            finally:
                close = getattr(result, "close", None)
                if close is not None:
                    close()
        except Exception as exc:
            return self._error(moto_failure(action, exc, params))
        status = seen.get("status", 200)
        headers = seen.get("headers", [])
        ctype = next((v for k, v in headers if k.lower() == "content-type"), "")
        if status >= 500 and "xml" not in ctype:
            return self._error(InternalError())
        body = b"".join(chunks)
        if _NOT_XML_BYTES.search(body):
            # moto echoes ids verbatim; control characters would make its XML unreadable.
            body = _NOT_XML_BYTES.sub(lambda m: b"\\x%02x" % m.group()[0], body)
            headers = [
                (k, str(len(body)) if k.lower() == "content-length" else v) for k, v in headers
            ]
        return status, headers, [body]

    # ------------------------------------------------------------------ admin API
    def _admin(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        method = environ.get("REQUEST_METHOD", "GET")
        path = environ.get("PATH_INFO", "")[len(ADMIN_PREFIX) :].strip("/")
        query = {k: v[-1] for k, v in parse_qs(environ.get("QUERY_STRING", "")).items()}
        refused = admin_refusal(environ)
        if refused is not None:
            log.warning("admin API: refused %s %s%s: %s", method, ADMIN_PREFIX, path, refused[1])
            status, result = refused[0], {"error": refused[1]}
        else:
            status, result = self._admin_call(environ, method, path, query)
        body = json.dumps(result).encode()
        start_response(
            _status_line(status),
            [("Content-Type", "application/json"), ("Content-Length", str(len(body)))],
        )
        return [body]

    def _admin_call(
        self, environ: dict[str, Any], method: str, path: str, query: dict[str, str]
    ) -> tuple[int, Any]:
        try:
            raw = self._read_body(environ)
            payload = json.loads(raw) if raw.strip() else {}
            if not isinstance(payload, dict):
                raise ValueError("the request body must be a JSON object")
            return self._route(method, path, payload, query)
        except (ValueError, KeyError, TypeError, Ec2Error) as err:
            return 400, {"error": str(err)}

    def _route(
        self, method: str, path: str, payload: dict[str, Any], query: dict[str, str]
    ) -> tuple[int, Any]:
        from fake_ec2 import moto_patch

        if path == "faults" and method == "POST":
            self.faults.configure(payload)
            return 200, self.faults.snapshot()
        if path == "faults" and method == "DELETE":
            self.faults.clear()
            return 200, self.faults.snapshot()
        if path == "faults" and method == "GET":
            return 200, self.faults.snapshot()
        if path == "seed" and method == "POST":
            self.faults.reseed(int(payload["seed"]))
            return 200, {"seed": self.faults.seed}
        if path == "fragment" and method == "POST":
            return 200, self.fragment(
                str(payload["subnet"]),
                int(payload.get("every", 16)),
                int(payload.get("offset", 0)),
                payload.get("cidr"),
            )
        if path == "fragment" and method == "DELETE":
            return 200, self.unfragment(str(payload["subnet"]), payload.get("cidr"))
        if path == "state" and method == "GET":
            state = self.rules.snapshot()
            state["faults"] = self.faults.snapshot()
            return 200, state
        if path == "reset" and method == "POST":
            moto_patch.reset_all()
            self.faults.clear()
            self.requests.clear()
            if "seed" in payload:
                self.faults.reseed(int(payload["seed"]))
            return 200, {"reset": True, "seed": self.faults.seed}
        if path == "requests" and method == "GET":
            since = int(query.get("since", 0))
            limit = int(query["limit"]) if "limit" in query else None
            return 200, {"requests": self.requests.query(since, query.get("action"), limit)}
        if path == "health" and method == "GET":
            return 200, {"ok": True}
        return 404, {"error": f"no admin endpoint {method} {ADMIN_PREFIX}{path}"}

    def _allocator(self, subnet_id: str) -> Any:
        from fake_ec2 import moto_patch

        subnet = moto_patch.find_subnet(subnet_id)
        if subnet is None:
            raise InvalidParameterValue(f"subnet {subnet_id!r} does not exist")
        return self.rules.subnet(subnet.id, subnet.cidr_block)

    def fragment(
        self, subnet_id: str, every: int, offset: int, cidr: str | None = None
    ) -> dict[str, Any]:
        """Occupy one address per ``every``-block of ``subnet_id`` (or of its ``cidr``)."""
        with self.rules.lock:
            occupied = self._allocator(subnet_id).fragment(every, offset, cidr)
        return {
            "subnet": subnet_id,
            "every": every,
            "offset": offset,
            "cidr": cidr,
            "occupied": occupied,
        }

    def unfragment(self, subnet_id: str, cidr: str | None = None) -> dict[str, Any]:
        """Undo fragmentation of ``subnet_id`` (or of its ``cidr``)."""
        with self.rules.lock:
            freed = self._allocator(subnet_id).unfragment(cidr)
        return {"subnet": subnet_id, "cidr": cidr, "freed": freed}


class Ec2Server:
    """A running fake_ec2 server: ``url``, ``port``, ``front`` and :meth:`stop`."""

    def __init__(self, host: str, port: int, seed: int, region: str) -> None:
        from moto.moto_server.werkzeug_app import MotoRequestHandler, create_backend_app
        from werkzeug.serving import make_server

        # werkzeug logs each request at INFO on stderr; keep that opt-in.
        logging.getLogger("werkzeug").setLevel(logging.WARNING)
        # moto's EC2 app only: every request is an EC2 request (moto's dispatcher would
        # send an unsigned one to S3).
        self.front = Ec2Front(create_backend_app("ec2"), seed=seed, region=region)
        self._server = make_server(
            host, port, self.front, threaded=True, request_handler=MotoRequestHandler
        )
        self.host = host
        self.port = int(self._server.server_address[1])
        self.url = f"http://{host}:{self.port}"
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="fake_ec2", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        """Stop serving and wait for the server thread."""
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)

    def __enter__(self) -> Ec2Server:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def check_loopback(host: str) -> None:
    """Refuse anything but a loopback address (ValueError with the reason)."""
    import ipaddress

    if host == "localhost":
        return
    try:
        ok = ipaddress.ip_address(host).is_loopback
    except ValueError:
        ok = False
    if not ok:
        raise ValueError(f"--host must be a loopback address such as 127.0.0.1, got {host!r}")


def serve(
    host: str = "127.0.0.1", port: int = 0, seed: int = 0, region: str = "us-west-2"
) -> Ec2Server:
    """Start fake_ec2 on ``host:port`` (0 = a free port) in this process; returns the
    running server (``.url``, ``.stop()``)."""
    check_loopback(host)
    return Ec2Server(host, port, seed, region)
