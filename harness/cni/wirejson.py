"""JSON for the exec'd fast path through the C accelerator ``_json``, without ``json``.

``import json`` pulls in ``re`` and ``enum`` (~10 ms, as much as the interpreter start
of ``python -S``) only for its pure-Python fallbacks and error messages. Well-formed
input (the netconf, the agent's answer) goes through ``_json``'s scanner and encoder;
anything else is handed to ``json`` itself, so errors and edge cases (other Unicode
encodings, extra data) behave exactly as ``json.loads`` / ``json.dumps``. Output is the
same bytes as ``json.dumps`` with its defaults.
"""

from __future__ import annotations

import _json  # the C module shipped with every CPython build

TYPE_CHECKING = False  # not typing's: it costs ms per exec
if TYPE_CHECKING:
    from typing import Any

_WHITESPACE = " \t\n\r"


class _Context:
    """What ``_json.make_scanner`` reads from a decoder: ``json.JSONDecoder``'s defaults."""

    strict = True
    object_hook = None
    object_pairs_hook = None
    parse_float = float
    parse_int = int
    parse_constant = float  # NaN, Infinity, -Infinity, as json does


def _no_default(obj: object) -> object:
    """json's ``default``: anything not JSON-serializable is an error (json reports it)."""
    raise TypeError(f"Object of type {type(obj).__name__} is not JSON serializable")


_scan = _json.make_scanner(_Context())  # type: ignore[arg-type]  # duck-typed decoder
# json.dumps' defaults: no indent, ", " and ": ", ASCII output, NaN allowed, no default.
# No markers dict: shared state across threads; a cycle ends in RecursionError -> json.
_encode = _json.make_encoder(
    None, _no_default, _json.encode_basestring_ascii, None, ": ", ", ", False, False, True
)


def loads(data: bytes | str) -> Any:
    """``json.loads(data)``: the C scanner for well-formed UTF-8, else ``json`` itself."""
    try:
        text = data.decode() if isinstance(data, bytes) else data
        start = len(text) - len(text.lstrip(_WHITESPACE))
        value, end = _scan(text, start)
        if not text[end:].strip(_WHITESPACE):
            return value
    except Exception:  # json below gives the real error
        pass
    import json

    return json.loads(data)


def dumps(obj: Any) -> str:
    """``json.dumps(obj)`` with its defaults, through the C encoder."""
    try:
        return "".join(_encode(obj, 0))
    except Exception:  # json below gives the real error (or handles it)
        import json

        return json.dumps(obj)
