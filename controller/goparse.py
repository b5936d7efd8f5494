"""Go semantics the controller relies on: `strconv.ParseBool` and `strconv.Atoi` (how the
real controller parses its ConfigMap), int64 arithmetic and `time.Duration.String()`.

Python's `int()` and truthiness are looser (whitespace, underscores, Unicode digits),
so the ConfigMap rules would drift without these. Semantics follow the Go standard
library (strconv/atob.go, strconv/atoi.go) on a 64-bit platform.
"""

from __future__ import annotations

INT64_MAX = (1 << 63) - 1
INT64_MIN = -(1 << 63)

_TRUE = frozenset({"1", "t", "T", "TRUE", "true", "True"})
_FALSE = frozenset({"0", "f", "F", "FALSE", "false", "False"})


def parse_bool(value: str) -> bool:
    """Parse like Go's strconv.ParseBool; raise ValueError on anything else ("yes", " true")."""
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ValueError(f'strconv.ParseBool: parsing "{value}": invalid syntax')


def atoi(value: str) -> tuple[int, bool]:
    """Parse like Go's strconv.Atoi on 64-bit; return (value, ok).

    Go returns a value even on error: 0 for a syntax error, and the int64 bound
    (clamped) for a range error. Callers that ignore the error see that value, which
    the real controller does, so both are returned.
    """
    if value == "":
        return 0, False
    body = value
    negative = False
    if body[0] in "+-":
        negative = body[0] == "-"
        body = body[1:]
    if body == "":
        return 0, False
    # ParseUint processes digits left to right: an overflow is reported as soon as it
    # happens, even if a non-digit follows later.
    magnitude = 0
    uint64_max = (1 << 64) - 1
    overflowed = False
    for ch in body:
        if not ("0" <= ch <= "9"):
            return 0, False
        magnitude = magnitude * 10 + (ord(ch) - 48)
        if magnitude > uint64_max:
            overflowed = True
            break
    cutoff = 1 << 63
    if overflowed:
        return (INT64_MIN, False) if negative else (INT64_MAX, False)
    if not negative and magnitude >= cutoff:
        return INT64_MAX, False
    if negative and magnitude > cutoff:
        return INT64_MIN, False
    return (-magnitude if negative else magnitude), True


def wrap_int64(value: int) -> int:
    """Wrap an integer to Go's int64 two's-complement range (Go int arithmetic overflows)."""
    return ((value + (1 << 63)) % (1 << 64)) - (1 << 63)


def go_div(x: int, y: int) -> int:
    """Go integer division: truncates toward zero (Python's // floors)."""
    q = abs(x) // abs(y)
    return q if (x >= 0) == (y > 0) else -q


def ceil_division(x: int, y: int) -> int:
    """utils.CeilDivision of the real controller: (x + y - 1) / y in Go int arithmetic."""
    return go_div(wrap_int64(x + y - 1), y)


def go_duration(seconds: float) -> str:
    """Format a duration like Go's time.Duration.String() (20s, 600ms, 2m0s, 1.5s)."""
    if seconds == 0:
        return "0s"
    if seconds < 1:
        ms = seconds * 1000
        return f"{ms:g}ms" if ms >= 1 else f"{seconds * 1e6:g}µs"
    minutes, secs = divmod(seconds, 60)
    hours, minutes = divmod(int(minutes), 60)
    s = f"{round(secs, 9):g}s"
    if hours:
        return f"{hours}h{minutes}m{s}"
    if minutes:
        return f"{minutes}m{s}"
    return s
