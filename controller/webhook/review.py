"""AdmissionReview v1 in, AdmissionReview v1 out: the wire shape around admission.py.

Kept free of HTTP so it can be tested with plain dicts. Response shapes follow
controller-runtime's admission helpers (which the real controller uses): allowed with
`status.code` 200, denied with 403 / `Forbidden` and the message, undecodable objects
with 400, mutations as a base64 JSON Patch with `patchType: JSONPatch`.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from typing import Any

from controller.webhook.admission import mutate_pod, validate_pod

API_VERSION = "admission.k8s.io/v1"
KIND = "AdmissionReview"
MUTATE_PATH = "/mutate-v1-pod"
VALIDATE_PATH = "/validate-v1-pod"


class BadReview(ValueError):
    """The request body is not an AdmissionReview v1 with a request and a uid."""


def parse_review(body: bytes) -> dict[str, Any]:
    """Decode and check an AdmissionReview v1 request body; raise BadReview naming the fault."""
    try:
        review = json.loads(body)
    except (ValueError, UnicodeDecodeError) as e:
        raise BadReview(f"request body is not JSON: {e}") from None
    if not isinstance(review, dict):
        raise BadReview("request body: expected a JSON object (AdmissionReview)")
    if review.get("apiVersion") != API_VERSION or review.get("kind") != KIND:
        raise BadReview(
            f"apiVersion/kind {review.get('apiVersion')!r}/{review.get('kind')!r}: "
            f"expected {API_VERSION!r}/{KIND!r}"
        )
    request = review.get("request")
    if not isinstance(request, dict) or not isinstance(request.get("uid"), str):
        raise BadReview("request.uid: expected an AdmissionReview with a request and its uid")
    return review


def _envelope(uid: str, response: dict[str, Any]) -> dict[str, Any]:
    return {"apiVersion": API_VERSION, "kind": KIND, "response": {"uid": uid, **response}}


def allowed(uid: str, message: str = "") -> dict[str, Any]:
    """An allowing AdmissionReview response."""
    status: dict[str, Any] = {"code": 200}
    if message:
        status["message"] = message
    return _envelope(uid, {"allowed": True, "status": status})


def denied(uid: str, message: str, code: int = 403) -> dict[str, Any]:
    """A refusing response; code 403 (Forbidden) for a policy denial, 400 for bad input."""
    status: dict[str, Any] = {"code": code, "message": message}
    if code == 403:
        status["reason"] = "Forbidden"
    return _envelope(uid, {"allowed": False, "status": status})


def patched(uid: str, ops: list[dict[str, Any]]) -> dict[str, Any]:
    """An allowing response carrying JSON Patch `ops` (plain allow when there are none)."""
    if not ops:
        return allowed(uid)
    patch = base64.b64encode(json.dumps(ops, separators=(",", ":")).encode()).decode()
    return _envelope(uid, {"allowed": True, "patchType": "JSONPatch", "patch": patch})


def _object(request: Mapping[str, Any], field: str) -> dict[str, Any] | None:
    obj = request.get(field)
    return obj if isinstance(obj, dict) else None


def handle_review(
    path: str,
    review: Mapping[str, Any],
    *,
    ipam_enabled: bool,
    controller_username: str,
) -> dict[str, Any]:
    """Answer one parsed AdmissionReview for webhook `path` (mutate or validate)."""
    request = review["request"]
    uid = request["uid"]
    pod = _object(request, "object")
    operation = str(request.get("operation", ""))
    if path == MUTATE_PATH:
        if pod is None:
            return denied(uid, "request.object: expected a Pod object", code=400)
        return patched(uid, mutate_pod(pod, ipam_enabled=ipam_enabled))
    if path == VALIDATE_PATH:
        if operation not in ("CREATE", "UPDATE"):
            return allowed(uid)
        old = _object(request, "oldObject")
        if pod is None or (operation == "UPDATE" and old is None):
            return denied(uid, "request.object/oldObject: expected Pod objects", code=400)
        user = request.get("userInfo")
        username = str(user.get("username", "")) if isinstance(user, dict) else ""
        ok, message = validate_pod(
            operation,
            pod,
            old,
            username,
            controller_username=controller_username,
            ipam_enabled=ipam_enabled,
        )
        return allowed(uid) if ok else denied(uid, message)
    raise KeyError(path)
