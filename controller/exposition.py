"""The Prometheus text format as the Go client writes it, over a Python registry.

The real controller's /metrics is client_golang's (expfmt text 0.0.4); the Python client's
own writer differs from it in ways a scraper or a dashboard sees:

- a counter is exposed under the name it was declared with: the Python client appends
  `_total` (and strips it from the declared name), Go does not;
- no `<name>_created` series (Go's text writer has none);
- families sorted by name, series by their label values, labels sorted by name, empty
  families left out (client_golang's Gather);
- numbers as Go's strconv 'g' writes them: `1`, `0`, `2.5`, `1.234567e+06`, `+Inf`;
- a histogram's (summary's) `_sum` before its `_count`.

Which counters were declared with a `_total` of their own is the caller's to say.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

from prometheus_client import CollectorRegistry

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def go_float(value: float) -> str:
    """strconv.FormatFloat(value, 'g', -1, 64) with expfmt's special cases."""
    if value == 1:
        return "1"
    if value == 0:
        return "0"
    if value == -1:
        return "-1"
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    sign = "-" if value < 0 else ""
    text = repr(abs(value))  # the shortest digits that round-trip, as Go's shortest
    mantissa, _, exp_text = text.partition("e")
    whole, _, frac = mantissa.partition(".")
    raw = whole + frac
    digits = raw.lstrip("0")
    # Where the decimal point sits after the first `point` significant digits.
    point = len(whole) + int(exp_text or 0) - (len(raw) - len(digits))
    digits = digits.rstrip("0") or "0"
    exponent = point - 1
    if exponent < -4 or exponent >= 6:  # shortest 'g' decides with precision 6
        head = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
        return f"{sign}{head}e{'-' if exponent < 0 else '+'}{abs(exponent):02d}"
    if point <= 0:
        return f"{sign}0.{'0' * -point}{digits}"
    if point >= len(digits):
        return f"{sign}{digits}{'0' * (point - len(digits))}"
    return f"{sign}{digits[:point]}.{digits[point:]}"


def _escape_help(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\n", "\\n")


def _escape_value(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _labels(pairs: Iterable[tuple[str, str]]) -> str:
    body = ",".join(f'{k}="{_escape_value(v)}"' for k, v in pairs)
    return "{" + body + "}" if body else ""


# Per family type: the sample suffixes Go writes, in the order it writes them.
_SUFFIXES = {
    "counter": ("_total",),
    "gauge": ("",),
    "summary": ("", "_sum", "_count"),  # "" = quantiles (none without objectives)
    "histogram": ("_bucket", "_sum", "_count"),
}
_TRAILING = {"le", "quantile"}  # written after the sorted labels, as Go does


def render(registry: CollectorRegistry, total_suffixed: frozenset[str] = frozenset()) -> bytes:
    """The registry in Go's text format. `total_suffixed`: counters (by the Python family
    name) whose upstream name itself ends in `_total`."""
    families: list[tuple[str, str, str, list[str]]] = []
    for fam in registry.collect():
        if fam.type not in _SUFFIXES:
            continue
        name = fam.name
        exposed = name + "_total" if fam.type == "counter" and name in total_suffixed else name
        series: dict[tuple[tuple[str, str], ...], list[tuple[int, str]]] = {}
        order = _SUFFIXES[fam.type]
        for s in fam.samples:
            suffix = s.name[len(name) :] if s.name.startswith(name) else None
            if suffix not in order:
                continue  # _created, and anything Go does not write
            key = tuple(sorted((k, v) for k, v in s.labels.items() if k not in _TRAILING))
            trailing = [(k, v) for k, v in s.labels.items() if k in _TRAILING]
            if fam.type == "histogram" and suffix == "_bucket":
                trailing = [("le", go_float(float(s.labels["le"])))]
            sample_name = exposed if fam.type == "counter" else name + suffix
            line = f"{sample_name}{_labels([*key, *trailing])} {go_float(float(s.value))}"
            series.setdefault(key, []).append((order.index(suffix), line))
        if not series:
            continue  # a vector with no children: Gather leaves the family out
        lines = [
            line
            for key in sorted(series, key=lambda k: [v for _, v in k])
            for _, line in sorted(series[key], key=lambda t: t[0])
        ]
        families.append((exposed, fam.type, fam.documentation, lines))
    out: list[str] = []
    for exposed, kind, doc, lines in sorted(families, key=lambda f: f[0]):
        out.append(f"# HELP {exposed} {_escape_help(doc)}")
        out.append(f"# TYPE {exposed} {kind}")
        out.extend(lines)
    return ("\n".join(out) + "\n").encode() if out else b""


def sample_value(text: str, name: str, labels: dict[str, Any] | None = None) -> float | None:
    """The value of one series in a text exposition (for tests and tools)."""
    want = f"{name}{_labels(sorted((k, str(v)) for k, v in (labels or {}).items()))} "
    for line in text.splitlines():
        if line.startswith(want):
            return float(line[len(want) :])
    return None
