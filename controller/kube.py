"""Kubernetes API access: rate-limited calls, list+watch informers, an event recorder.

Watches and lists are read as raw JSON (dicts), which is much cheaper than the
client's model deserialisation at hundreds of pods per second. Writes go through a
token bucket per client like client-go (QPS 20, burst 30 by default; QPS 0: no limit).
`KubeClient` is the seam: everything the controller asks of the API server.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Protocol

from kubernetes import client as kclient
from kubernetes.client.rest import ApiException

from controller.ratelimit import rate_limiter

log = logging.getLogger(__name__)

COMPONENT = "vpc-resource-controller"
Obj = dict[str, Any]
EventHandler = Callable[[str, Obj, Obj | None], None]


def _finish(resp: Any) -> bytes:
    """Read a raw (unpreloaded) response to its end, returning its connection to the pool.

    An unread response keeps its connection checked out; dropping it forces the next
    request through a new TCP + TLS handshake, which was most of the per-pod cost.
    """
    try:
        return bytes(resp.data)
    finally:
        resp.release_conn()


def now_rfc3339() -> str:
    """UTC now, RFC 3339 with seconds (the API's Time format)."""
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class Watched:
    """A collection an informer lists and watches: nodes, pods, configmaps, deployments."""

    resource: str
    namespace: str = ""  # "" = cluster-scoped, or every namespace
    field_selector: str = ""


NODES = Watched("nodes")
PODS = Watched("pods")


def one_configmap(namespace: str, name: str) -> Watched:
    """The single ConfigMap namespace/name."""
    return Watched("configmaps", namespace, f"metadata.name={name}")


def one_deployment(namespace: str, name: str) -> Watched:
    """The single apps/v1 Deployment namespace/name (main.go's cache watches only that)."""
    return Watched("deployments", namespace, f"metadata.name={name}")


class WatchStream(Protocol):
    """An open watch: its events ({"type", "object"} dicts), and a way to cut it."""

    def events(self) -> Iterator[Obj]:
        """Watch events in order until the server ends the stream."""
        ...

    def close(self) -> None:
        """Abort the stream (from another thread); `events` then ends or raises."""
        ...


class KubeClient(Protocol):
    """Everything the controller asks of the API server (the seam a test double implements)."""

    def list_objects(self, what: Watched) -> Obj:
        """LIST `what`: the raw body (items, metadata.resourceVersion)."""
        ...

    def watch_objects(self, what: Watched, resource_version: str, timeout_s: int) -> WatchStream:
        """WATCH `what` from `resource_version`."""
        ...

    def get_pod(self, namespace: str, name: str) -> Obj | None:
        """GET one pod, None when absent."""
        ...

    def annotate_pod(self, namespace: str, name: str, uid: str, key: str, value: str) -> None:
        """Set one annotation on the pod with this uid."""
        ...

    def patch_node_capacity(self, node: str, resource: str, value: int) -> None:
        """Set status.capacity[resource] of the node."""
        ...

    def create_event(self, namespace: str, body: Obj) -> Obj:
        """POST a core/v1 Event."""
        ...

    def patch_event_count(self, namespace: str, name: str, count: int) -> None:
        """Bump an aggregated Event's count."""
        ...


class _HttpWatch:
    """A streamed watch response of the kubernetes client."""

    def __init__(self, resp: Any) -> None:
        self._resp = resp

    def events(self) -> Iterator[Obj]:
        try:
            for line in iter_lines(self._resp):
                yield json.loads(line)
        finally:
            self._resp.release_conn()

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self._resp.close()


class KubeApi:
    """Thin, rate-limited wrapper over a kubernetes ApiClient (a `KubeClient`)."""

    def __init__(self, api_client: kclient.ApiClient, *, qps: float, burst: int) -> None:
        self.api_client = api_client
        self.core = kclient.CoreV1Api(api_client)
        self.apps = kclient.AppsV1Api(api_client)
        self._bucket = rate_limiter(qps, burst)
        self._event_bucket = rate_limiter(qps, burst)

    # ------------------------------------------------------------------ reads
    def _list_call(self, what: Watched) -> tuple[Callable[..., Any], dict[str, Any]]:
        kw: dict[str, Any] = {}
        if what.field_selector:
            kw["field_selector"] = what.field_selector
        if what.resource == "nodes":
            return self.core.list_node, kw
        if what.resource == "pods":
            if what.namespace:
                return self.core.list_namespaced_pod, {"namespace": what.namespace, **kw}
            return self.core.list_pod_for_all_namespaces, kw
        if what.resource == "configmaps" and what.namespace:
            return self.core.list_namespaced_config_map, {"namespace": what.namespace, **kw}
        if what.resource == "deployments" and what.namespace:
            return self.apps.list_namespaced_deployment, {"namespace": what.namespace, **kw}
        raise ValueError(
            f"watched resource {what.resource!r} (namespace {what.namespace!r}): expected "
            "nodes, pods, or configmaps or deployments in a namespace"
        )

    def list_objects(self, what: Watched) -> Obj:
        """LIST `what` and return the parsed JSON body."""
        fn, kw = self._list_call(what)
        self._bucket.acquire()
        resp = fn(_preload_content=False, **kw)
        return json.loads(_finish(resp))  # type: ignore[no-any-return]

    def watch_objects(self, what: Watched, resource_version: str, timeout_s: int) -> WatchStream:
        """WATCH `what` from `resource_version` (with bookmarks), streamed raw."""
        fn, kw = self._list_call(what)
        resp = fn(
            watch=True,
            resource_version=resource_version,
            allow_watch_bookmarks=True,
            timeout_seconds=timeout_s,
            _preload_content=False,
            **kw,
        )
        return _HttpWatch(resp)

    def get_pod(self, namespace: str, name: str) -> Obj | None:
        """GET one pod (raw), None when absent."""
        self._bucket.acquire()
        try:
            resp = self.core.read_namespaced_pod(name, namespace, _preload_content=False)
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise
        return json.loads(_finish(resp))  # type: ignore[no-any-return]

    # ------------------------------------------------------------------ writes
    def annotate_pod(self, namespace: str, name: str, uid: str, key: str, value: str) -> None:
        """Merge-patch one annotation; the uid in the patch makes it fail on a recreated pod."""
        body = {"metadata": {"uid": uid, "annotations": {key: value}}}
        self._merge_patch(f"/api/v1/namespaces/{namespace}/pods/{name}", body)

    def patch_node_capacity(self, node: str, resource: str, value: int) -> None:
        """Merge-patch status.capacity[resource] through the status subresource."""
        body = {"status": {"capacity": {resource: str(value)}}}
        self._merge_patch(f"/api/v1/nodes/{node}/status", body)

    def _merge_patch(self, path: str, body: Obj) -> None:
        """PATCH `path` as a JSON merge patch (the typed client would send a strategic one)."""
        self._bucket.acquire()
        resp = self.core.api_client.call_api(
            path,
            "PATCH",
            header_params={
                "Content-Type": "application/merge-patch+json",
                "Accept": "application/json",
            },
            body=body,
            auth_settings=["BearerToken"],
            _preload_content=False,
            _return_http_data_only=True,
        )
        _finish(resp)

    def create_event(self, namespace: str, body: Obj) -> Obj:
        """POST a core/v1 Event."""
        self._event_bucket.acquire()
        resp = self.core.create_namespaced_event(namespace, body, _preload_content=False)
        return json.loads(_finish(resp))  # type: ignore[no-any-return]

    def patch_event_count(self, namespace: str, name: str, count: int) -> None:
        """Bump an aggregated Event's count and lastTimestamp."""
        self._event_bucket.acquire()
        resp = self.core.patch_namespaced_event(
            name,
            namespace,
            {"count": count, "lastTimestamp": now_rfc3339()},
            _preload_content=False,
        )
        _finish(resp)


def iter_lines(resp: Any) -> Iterator[bytes]:
    """The non-blank lines of a streamed (watch) response, each a JSON event."""
    buf = b""
    for chunk in resp.stream(65536, decode_content=True):
        buf += chunk
        while b"\n" in buf:
            line, buf = buf.split(b"\n", 1)
            if line.strip():
                yield line
    if buf.strip():
        yield buf


class Informer:
    """List then watch one resource, keep a cache of (transformed) objects, call a handler.

    The handler receives ("ADDED"|"MODIFIED"|"DELETED", obj, old_obj). A 410 Gone or a
    broken stream relists; objects missing from a relist are reported DELETED.
    """

    def __init__(
        self,
        name: str,
        api: KubeClient,
        what: Watched,
        handler: EventHandler,
        *,
        transform: Callable[[Obj], Obj] = lambda o: o,
        watch_timeout_s: int = 300,
    ) -> None:
        self.name = name
        self._api = api
        self._what = what
        self._handler = handler
        self._transform = transform
        self._watch_timeout_s = watch_timeout_s
        self.store: dict[str, Obj] = {}
        self.synced = threading.Event()
        self._stop = threading.Event()
        self._stream: WatchStream | None = None
        self._thread = threading.Thread(target=self._run, name=f"informer-{name}", daemon=True)

    @staticmethod
    def key(obj: Obj) -> str:
        """namespace/name, or name for cluster-scoped objects."""
        md = obj.get("metadata", {})
        ns = md.get("namespace")
        return f"{ns}/{md['name']}" if ns else str(md["name"])

    def start(self) -> None:
        """Start the list+watch thread."""
        self._thread.start()

    def stop(self) -> None:
        """Stop watching."""
        self._stop.set()
        stream = self._stream
        if stream is not None:
            stream.close()

    def join(self, timeout: float) -> None:
        """Wait for the list+watch thread to end (after stop)."""
        if self._thread.is_alive():
            self._thread.join(timeout)

    def _emit(self, kind: str, obj: Obj, old: Obj | None) -> None:
        try:
            self._handler(kind, obj, old)
        except Exception:
            log.exception("informer %s: handler failed", self.name)

    def _relist(self) -> str:
        body = self._api.list_objects(self._what)
        rv = str(body.get("metadata", {}).get("resourceVersion", ""))
        seen: set[str] = set()
        for raw in body.get("items") or []:
            obj = self._transform(raw)
            k = self.key(obj)
            seen.add(k)
            old = self.store.get(k)
            self.store[k] = obj
            self._emit("MODIFIED" if old else "ADDED", obj, old)
        for k in [k for k in self.store if k not in seen]:
            old = self.store.pop(k)
            self._emit("DELETED", old, old)
        return rv

    def _run(self) -> None:
        backoff = 0.5
        rv = ""
        need_list = True
        while not self._stop.is_set():
            try:
                if need_list:
                    rv = self._relist()
                    need_list = False
                    self.synced.set()
                rv, need_list = self._watch(rv)
                backoff = 0.5
            except Exception as exc:
                if self._stop.is_set():
                    return
                log.warning("informer %s: %s; relisting in %.1fs", self.name, exc, backoff)
                need_list = True
                self._stop.wait(backoff)
                backoff = min(backoff * 2, 10.0)

    def _watch(self, rv: str) -> tuple[str, bool]:
        stream = self._api.watch_objects(self._what, rv, self._watch_timeout_s)
        self._stream = stream
        try:
            if self._stop.is_set():  # stopped while the watch was being opened
                return rv, False
            for ev in stream.events():
                if self._stop.is_set():
                    return rv, False
                kind = ev.get("type")
                raw = ev.get("object", {})
                if kind == "ERROR":
                    if raw.get("code") == 410:
                        return rv, True
                    raise RuntimeError(f"watch error: {raw.get('message')}")
                new_rv = raw.get("metadata", {}).get("resourceVersion")
                if new_rv:
                    rv = str(new_rv)
                if kind == "BOOKMARK":
                    continue
                obj = self._transform(raw)
                k = self.key(obj)
                if kind == "DELETED":
                    old = self.store.pop(k, None)
                    self._emit("DELETED", obj, old)
                else:
                    old = self.store.get(k)
                    self.store[k] = obj
                    self._emit(kind or "MODIFIED", obj, old)
        finally:
            self._stream = None
        return rv, False


class EventRecorder:
    """Asynchronous Event sink with client-go-like aggregation and spam filtering.

    Identical events (object, reason, message) are aggregated into one Event whose
    count is bumped; each object gets a burst of 25 events refilled 1 per 5 minutes,
    as client-go's EventCorrelator does.
    """

    SPAM_BURST = 25
    SPAM_REFILL_S = 300.0

    def __init__(self, api: KubeClient, *, host: str = "") -> None:
        self._api = api
        self._host = host
        self._q: list[tuple[Obj, str, str, str]] = []
        self._cv = threading.Condition()
        self._stopped = False
        self._seen: dict[tuple[str, str, str], tuple[str, str, int]] = {}
        self._spam: dict[str, tuple[float, float]] = {}
        self._thread = threading.Thread(target=self._run, name="events", daemon=True)
        self._thread.start()

    def event(self, ref: Obj, event_type: str, reason: str, message: str) -> None:
        """Queue an event about `ref` (an ObjectReference dict with kind/name/namespace/uid)."""
        with self._cv:
            if self._stopped or len(self._q) > 10000:
                return
            self._q.append((ref, event_type, reason, message))
            self._cv.notify()

    def _allow(self, uid: str) -> bool:
        tokens, last = self._spam.get(uid, (float(self.SPAM_BURST), time.monotonic()))
        now = time.monotonic()
        tokens = min(self.SPAM_BURST, tokens + (now - last) / self.SPAM_REFILL_S)
        if tokens < 1:
            self._spam[uid] = (tokens, now)
            return False
        self._spam[uid] = (tokens - 1, now)
        return True

    def _run(self) -> None:
        while True:
            with self._cv:
                while not self._stopped and not self._q:
                    self._cv.wait()
                if self._stopped:
                    return
                ref, etype, reason, message = self._q.pop(0)
            try:
                self._send(ref, etype, reason, message)
            except Exception as exc:
                log.info("event %s for %s not recorded: %s", reason, ref.get("name"), exc)

    def _send(self, ref: Obj, etype: str, reason: str, message: str) -> None:
        uid = str(ref.get("uid") or ref.get("name"))
        if not self._allow(uid):
            return
        ns = ref.get("namespace") or "default"
        agg_key = (uid, reason, message)
        prev = self._seen.get(agg_key)
        if prev is not None:
            name, pns, count = prev
            try:
                self._api.patch_event_count(pns, name, count + 1)
                self._seen[agg_key] = (name, pns, count + 1)
                return
            except ApiException:
                self._seen.pop(agg_key, None)
        ts = now_rfc3339()
        name = f"{ref.get('name')}.{uuid.uuid4().hex[:16]}"
        body = {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"name": name, "namespace": ns},
            "involvedObject": ref,
            "reason": reason,
            "message": message,
            "type": etype,
            "count": 1,
            "firstTimestamp": ts,
            "lastTimestamp": ts,
            "source": {"component": COMPONENT, "host": self._host},
            "reportingComponent": COMPONENT,
            "reportingInstance": self._host,
        }
        self._api.create_event(ns, body)
        if len(self._seen) > 50000:
            self._seen.clear()
        self._seen[agg_key] = (name, ns, 1)

    def stop(self) -> None:
        """Stop sending (queued events are dropped)."""
        with self._cv:
            self._stopped = True
            self._cv.notify_all()
        self._thread.join(timeout=5)
