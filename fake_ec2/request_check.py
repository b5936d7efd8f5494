"""Check an EC2 Query API request before moto sees it: signed, a known action, known
parameters with values of the right type.

moto trusts its input: an unknown action, a non-numeric count or an unknown filter make
it raise, and the server would answer HTML 500. EC2 answers each with an XML error and
its own code; this module raises those (:mod:`fake_ec2.exceptions`). Parameter names and
types come from botocore's EC2 service model, the same model boto3 and the AWS CLI
serialise from, so every request they send passes.

Signatures are not verified (clients sign with dummy credentials): a request must only
carry one, as EC2 refuses unsigned requests before anything else.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from typing import Any

from fake_ec2.exceptions import (
    AuthFailure,
    InvalidAction,
    InvalidFilter,
    InvalidParameterValue,
    MissingAction,
    MissingAuthenticationToken,
    MissingParameter,
    UnknownParameter,
)

# At most this many characters of a caller's value are quoted back in an error.
MAX_SHOWN = 64

# Query parameters of the protocol itself (SigV2 and presigned SigV4), not of an action.
COMMON_PARAMS = frozenset(
    {
        "Action",
        "Version",
        "AWSAccessKeyId",
        "Signature",
        "SignatureMethod",
        "SignatureVersion",
        "Timestamp",
        "Expires",
        "SecurityToken",
        "X-Amz-Algorithm",
        "X-Amz-Credential",
        "X-Amz-Date",
        "X-Amz-Expires",
        "X-Amz-SignedHeaders",
        "X-Amz-Signature",
        "X-Amz-Security-Token",
    }
)

_INT = re.compile(r"[+-]?[0-9]+\Z")
_FLOAT = re.compile(r"[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+)?\Z")
_INDEX = re.compile(r"[1-9][0-9]{0,5}\Z")
_INT_BOUNDS = {"integer": (-(1 << 31), (1 << 31) - 1), "long": (-(1 << 63), (1 << 63) - 1)}
SIGV4 = "AWS4-HMAC-SHA256"


def shown(value: str, limit: int = MAX_SHOWN) -> str:
    """`value` cut to `limit` characters (with its length noted) for an error message."""
    if len(value) <= limit:
        return value
    return f"{value[:limit]}... ({len(value)} characters)"


# ------------------------------------------------------------------ authentication
def check_signed(headers: Mapping[str, str], params: Mapping[str, str]) -> None:
    """Refuse a request without a signature, or with one that is not an EC2 SigV4/SigV2 one.

    `headers` are the HTTP headers with lower-case names. Any signature value is accepted.
    """
    auth = headers.get("authorization", "")
    if auth:
        _check_authorization(auth)
        return
    if "X-Amz-Signature" in params or "X-Amz-Credential" in params:
        if not params.get("X-Amz-Signature") or not params.get("X-Amz-Credential"):
            raise AuthFailure(
                "A presigned request needs both X-Amz-Credential and X-Amz-Signature."
            )
        _check_scope(params["X-Amz-Credential"])
        return
    if params.get("Signature") and params.get("AWSAccessKeyId"):
        return  # Signature Version 2
    raise MissingAuthenticationToken()


def access_key_id(headers: Mapping[str, str], params: Mapping[str, str]) -> str:
    """The access key a request was signed with ('' when unsigned or unreadable), as
    CloudTrail records it (userIdentity.accessKeyId): who called, for the request log."""
    auth = headers.get("authorization", "")
    _, _, rest = auth.partition(" ")
    for part in rest.split(","):
        name, _, value = part.strip().partition("=")
        if name == "Credential":
            return shown(value.split("/", 1)[0])
    if params.get("X-Amz-Credential"):
        return shown(params["X-Amz-Credential"].split("/", 1)[0])
    return shown(params.get("AWSAccessKeyId", ""))


def _check_authorization(auth: str) -> None:
    algorithm, _, rest = auth.partition(" ")
    if algorithm != SIGV4:
        raise AuthFailure(
            f"Unsupported Authorization type {shown(algorithm)!r}: expected {SIGV4} "
            "(AWS Signature Version 4)."
        )
    fields = {}
    for part in rest.split(","):
        name, sep, value = part.strip().partition("=")
        if sep:
            fields[name] = value
    missing = [f for f in ("Credential", "SignedHeaders", "Signature") if not fields.get(f)]
    if missing:
        raise AuthFailure(
            f"Authorization header requires {', '.join(missing)} "
            "(Credential=<key>/<date>/<region>/ec2/aws4_request, SignedHeaders=..., Signature=...)."
        )
    _check_scope(fields["Credential"])


def _check_scope(credential: str) -> None:
    parts = credential.split("/")
    if len(parts) != 5 or parts[4] != "aws4_request" or not parts[0]:
        raise AuthFailure(
            f"Credential {shown(credential)!r} is malformed: expected "
            "<access key>/<yyyymmdd>/<region>/ec2/aws4_request."
        )
    if parts[3] != "ec2":
        raise AuthFailure("Credential should be scoped to correct service: 'ec2'.")


# ------------------------------------------------------------------ the service model
@functools.lru_cache(maxsize=1)
def _model() -> Any:
    import botocore.session

    return botocore.session.get_session().get_service_model("ec2")


@functools.lru_cache(maxsize=1)
def operation_names() -> frozenset[str]:
    """Every EC2 action of the service model."""
    return frozenset(_model().operation_names)


def _wire_name(member_name: str, shape: Any) -> str:
    # botocore's EC2Serializer: queryName, else the capitalised locationName, else the name.
    if "queryName" in shape.serialization:
        return str(shape.serialization["queryName"])
    loc = shape.serialization.get("name")
    if loc:
        return str(loc[0].upper() + loc[1:])
    return member_name


@functools.lru_cache(maxsize=4096)
def _members(shape_name: str, shape: Any) -> dict[str, tuple[str, Any]]:
    """wire name -> (member name, member shape) of a structure shape."""
    return {_wire_name(n, s): (n, s) for n, s in shape.members.items()}


def _param_name(wire: str) -> str:
    # EC2 names parameters in its errors by their lowerCamel location names.
    return wire[0].lower() + wire[1:] if wire else wire


def _resolve(shape: Any, parts: list[str]) -> Any | None:
    """The scalar shape a flattened key ("Filter.1.Value.2") addresses, or None."""
    while parts:
        kind = shape.type_name
        if kind == "structure":
            found = _members(shape.name, shape).get(parts[0])
            if found is None:
                return None
            shape = found[1]
            parts = parts[1:]
        elif kind == "list":
            if not _INDEX.match(parts[0]):
                return None
            shape = shape.member
            parts = parts[1:]
        elif kind == "map":
            # QuerySerializer: <name>[.entry].N.<key name>|<value name>
            if parts[0] == "entry" and not shape.serialization.get("flattened"):
                parts = parts[1:]
            if len(parts) < 2 or not _INDEX.match(parts[0]):
                return None
            key_name = _wire_name("key", shape.key)
            value_name = _wire_name("value", shape.value)
            if parts[1] == key_name:
                shape = shape.key
            elif parts[1] == value_name:
                shape = shape.value
            else:
                return None
            parts = parts[2:]
        else:
            return None  # a scalar has no sub-keys
    return shape if shape.type_name not in ("structure", "list", "map") else None


# Documented ranges the service model does not carry (EC2 API reference).
DOCUMENTED_RANGES: dict[tuple[str, str], tuple[int, int]] = {
    ("DescribeInstances", "MaxResults"): (5, 1000),
}


def _check_value(action: str, wire: str, value: str, shape: Any) -> None:
    kind = shape.type_name
    named = [p for p in wire.split(".") if not p.isdigit()]
    name = _param_name(named[-1]) if named else wire
    if kind in _INT_BOUNDS:
        lo, hi = _INT_BOUNDS[kind]
        lo, hi = DOCUMENTED_RANGES.get(
            (action, wire), (shape.metadata.get("min", lo), shape.metadata.get("max", hi))
        )
        if not _INT.match(value):
            raise InvalidParameterValue(
                f"Value ({shown(value)}) for parameter {name} is invalid. Expected an integer."
            )
        if not lo <= int(value) <= hi:
            raise InvalidParameterValue(
                f"Value ({shown(value)}) for parameter {name} is invalid. "
                f"Expected a value between {lo} and {hi}."
            )
    elif kind == "boolean":
        if value.lower() not in ("true", "false"):
            raise InvalidParameterValue(
                f"Value ({shown(value)}) for parameter {name} is invalid. "
                "Expected a boolean: true or false."
            )
    elif kind in ("double", "float") and not _FLOAT.match(value):
        raise InvalidParameterValue(
            f"Value ({shown(value)}) for parameter {name} is invalid. Expected a number."
        )


def check_action(params: Mapping[str, str]) -> str:
    """The request's action, checked against the EC2 model; its parameters too."""
    action = params.get("Action")
    if not action:
        raise MissingAction()
    if action not in operation_names():
        raise InvalidAction(f"The action {shown(action)} is not valid for this web service.")
    input_shape = _model().operation_model(action).input_shape
    for key, value in params.items():
        if key in COMMON_PARAMS:
            continue
        shape = _resolve(input_shape, key.split(".")) if input_shape is not None else None
        if shape is None:
            raise UnknownParameter(f"The parameter {shown(key)} is not recognized")
        _check_value(action, key, value, shape)
    if input_shape is not None:
        _check_required(input_shape, params)
        _check_filters(action, input_shape, params)
    return action


# Actions whose unknown filters EC2 answers with InvalidFilter; the others (DescribeInstances,
# DescribeNetworkInterfaces, ...) answer InvalidParameterValue with the same message.
INVALID_FILTER_ACTIONS = frozenset({"DescribeVpcEndpointServices"})
_DOC_FILTER = re.compile(r"<li>\s*<p>\s*<code>([^<]+)</code>")
_DOC_ALIAS = re.compile(r"use <code>([^<]+)</code> as the filter name")


@functools.lru_cache(maxsize=256)
def filter_names(action: str) -> frozenset[str] | None:
    """The filter names the EC2 API reference documents for `action` (None: not listed)."""
    shape = _model().operation_model(action).input_shape
    member = shape.members.get("Filters") if shape is not None else None
    if member is None:
        return None
    doc = member.documentation or ""
    names = set(_DOC_FILTER.findall(doc)) | set(_DOC_ALIAS.findall(doc))
    return frozenset(n.strip() for n in names) or None


def _check_filters(action: str, shape: Any, params: Mapping[str, str]) -> None:
    """Filter names the action does not have: refused as EC2 does, before any lookup."""
    if "Filters" not in shape.members:
        return
    known = filter_names(action)
    if known is None:
        return  # undocumented: moto decides
    for key, value in params.items():
        parts = key.split(".")
        if len(parts) != 3 or parts[0] != "Filter" or parts[2] != "Name":
            continue
        if value in known or value.startswith("tag:"):
            continue
        raise (InvalidFilter if action in INVALID_FILTER_ACTIONS else InvalidParameterValue)(
            f"The filter '{shown(value)}' is invalid"
        )


def _check_required(shape: Any, params: Mapping[str, str]) -> None:
    """Top-level required members: EC2's MissingParameter."""
    members = shape.members
    for member_name in shape.required_members:
        wire = _wire_name(member_name, members[member_name])
        if not any(k == wire or k.startswith(wire + ".") for k in params):
            raise MissingParameter(f"The request must contain the parameter {wire}")
