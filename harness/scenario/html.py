"""A scenario report as one self-contained HTML page: summary, expectations,
invariants, the pictures (inline SVG) and the event log. No network, no script."""

from __future__ import annotations

import html
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

STYLE = """
body{font:14px/1.4 system-ui,sans-serif;margin:1.5em auto;max-width:1200px;color:#222}
h1{font-size:1.5em}h2{font-size:1.15em;margin-top:1.6em;border-bottom:1px solid #ddd}
table{border-collapse:collapse;margin:.4em 0}td,th{border:1px solid #ddd;padding:2px 8px;
text-align:left;vertical-align:top}th{background:#f4f4f4}.ok{color:#176d2c}.bad{color:#b00020}
.verdict{font-size:1.3em;font-weight:bold}figure{margin:.6em 0;overflow-x:auto}
figure svg{max-width:100%;height:auto}code{background:#f4f4f4;padding:0 3px}
"""
#: Pictures in the order they are shown, with their captions.
PICTURES = (
    ("node-map.svg", "Address map at the end: ENI rows per node, the subnets' /28 blocks"),
    ("timeline.svg", "Timeline: pods, IPs and EC2 calls, steps and faults marked"),
)


def _e(value: Any) -> str:
    return html.escape("" if value is None else str(value))


def _mark(ok: Any) -> str:
    return '<span class="ok">✓</span>' if ok else '<span class="bad">✗</span>'


def _table(head: Iterable[str], rows: Iterable[Iterable[str]]) -> str:
    """A table; cells are HTML already."""
    th = "".join(f"<th>{_e(h)}</th>" for h in head)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in r) + "</tr>" for r in rows)
    return f"<table><tr>{th}</tr>{body}</table>"


def inline_svg(text: str) -> str:
    """An SVG file's root element, ready to sit inside HTML (prolog and doctype gone)."""
    text = re.sub(r"<\?xml[^>]*\?>", "", text)
    text = re.sub(r"<!DOCTYPE[^>]*>", "", text, flags=re.S)
    return text.strip()


def _summary(report: Mapping[str, Any]) -> str:
    failure = report.get("failure") or {}
    rows = [
        ("verdict", f'<span class="verdict {"ok" if report.get("ok") else "bad"}">'
         f'{"passed" if report.get("ok") else "FAILED"}</span>'),
        ("first failure", _e(failure.get("detail")) if failure else "none"),
        ("failure kind / step", _e(f"{failure.get('kind')} / {failure.get('step')}")
         if failure else "-"),
        ("error", _e(report.get("error")) or "-"),
        ("seed", _e(report.get("seed"))),
        ("timing", _e(report.get("timing"))),
        ("duration", _e(f"{report.get('duration_s', 0):.1f} s")),
        ("pods", _e(", ".join(f"{k} {v}" for k, v in (report.get("pods") or {}).items()
                              if k != "items"))),
        ("cooling IPs", _e(report.get("cooling_ips"))),
        ("bundle", f"<code>{_e(report.get('bundle'))}</code>" if report.get("bundle") else "-"),
    ]  # fmt: skip
    return _table(("", ""), ((f"<b>{_e(k)}</b>", v) for k, v in rows))


def _nodes(report: Mapping[str, Any]) -> str:
    rows = []
    for name, n in sorted((report.get("nodes") or {}).items()):
        eni = n.get("eni") or {}
        rows.append(
            [_e(x) for x in (name, n.get("instance_type"), n.get("mode"), n.get("capacity"))]
            + [_e(len(eni.get("secondary_ips") or [])), _e(len(eni.get("prefixes") or []))]
            + [_e(n.get(k)) for k in ("assigned_ips", "free_ips", "cooling_ips")]
            + [_e(n.get("last_ec2_error") or "")]
        )
    head = ("node", "type", "mode", "capacity", "secondary IPs", "prefixes", "assigned",
            "free", "cooling", "last EC2 error")  # fmt: skip
    return _table(head, rows) if rows else "<p>No node observed.</p>"


def _expectations(report: Mapping[str, Any]) -> str:
    rows = []
    for e in report.get("expectations") or []:
        keys = "<br>".join(
            f"{_mark(k.get('ok'))} {_e(name)}: got {_e(k.get('got'))}, want {_e(k.get('want'))}"
            for name, k in (e.get("keys") or {}).items()
        )
        rows.append([_e(e.get("step")), _mark(e.get("ok")), keys or _e(e.get("detail"))])
    return _table(("step", "", "keys"), rows) if rows else "<p>No expect step.</p>"


def _steps(report: Mapping[str, Any]) -> str:
    rows = []
    for s in report.get("steps") or []:
        settle = ""
        if "settled" in s:
            settle = f"{s.get('settle_s', 0):.1f} s" if s["settled"] else "NOT settled"
        rows.append(
            [_e(s.get("index")), _mark(s.get("ok")), _e(f"{s.get('t', 0):.1f}"),
             _e(s.get("description")), _e(s.get("error") or s.get("detail")), _e(settle)]
        )  # fmt: skip
    return _table(("#", "", "t (s)", "step", "detail", "settle"), rows)


def _invariants(report: Mapping[str, Any]) -> str:
    inv = report.get("invariants") or {}
    rows = [
        [_e(v.get("id")), _e(v.get("node")), "expected" if v.get("expected") else
         '<span class="bad">unexpected</span>', _e(v.get("message"))]
        for v in inv.get("violations") or []
    ]  # fmt: skip
    verdict = "no unexpected violation" if inv.get("ok") else "broken"
    head = f"<p>{_mark(inv.get('ok'))} {verdict}</p>"
    return head + (_table(("invariant", "node", "", "message"), rows) if rows else "")


def _events(report: Mapping[str, Any]) -> str:
    rows = [
        [_e(f"{ev.get('t', 0):.1f}"), _e(ev.get("source")), _e(ev.get("reason")),
         _e(ev.get("node") or ""), _e(ev.get("object") or ""), _e(ev.get("message"))]
        for ev in sorted(report.get("events") or [], key=lambda ev: ev.get("t", 0))
    ]  # fmt: skip
    head = ("t (s)", "source", "reason", "node", "object", "message")
    return _table(head, rows) if rows else "<p>No event.</p>"


def render_html(report: Mapping[str, Any], pictures: Mapping[str, Path] | None = None) -> str:
    """The page for `report` (report v1), with the SVG pictures named in `pictures`
    (``node-map.svg``, ``timeline.svg`` -> file) inlined."""
    pictures = pictures or {}
    figures = []
    for name, caption in PICTURES:
        path = pictures.get(name)
        if path is not None and path.exists():
            figures.append(
                f"<figure>{inline_svg(path.read_text())}<figcaption>{_e(caption)}</figcaption>"
                "</figure>"
            )
    title = f"ekswin scenario {report.get('scenario')}"
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{_e(title)}</title><style>{STYLE}</style></head><body>",
        f"<h1>{_e(title)}</h1>",
        _summary(report),
        "<h2>Nodes</h2>",
        _nodes(report),
        "<h2>Expectations</h2>",
        _expectations(report),
        "<h2>Invariants</h2>",
        _invariants(report),
        "<h2>Pictures</h2>",
        "".join(figures) or "<p>No picture (nothing was observed).</p>",
        "<h2>Steps</h2>",
        _steps(report),
        "<h2>Events</h2>",
        _events(report),
        "</body></html>",
    ]
    return "\n".join(parts) + "\n"


def write_html(
    report: Mapping[str, Any], out: Path, pictures: Mapping[str, Path] | None = None
) -> Path:
    """Write the page for `report` to `out`; returns `out`."""
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(render_html(report, pictures))
    return out


def write_index(pages: Iterable[tuple[str, bool, float, str]], out: Path) -> Path:
    """An index page linking scenario pages: (scenario, ok, duration_s, page file name)."""
    pages = list(pages)
    rows = [
        [f'<a href="{_e(href)}">{_e(name)}</a>', _mark(ok), "passed" if ok else "FAILED",
         _e(f"{duration:.1f} s")]
        for name, ok, duration, href in pages
    ]  # fmt: skip
    passed = sum(1 for _, ok, _, _ in pages if ok)
    body = (
        f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>ekswin scenarios"
        f"</title><style>{STYLE}</style></head><body><h1>ekswin scenarios</h1>"
        f"<p>{passed} of {len(rows)} passed</p>"
        + _table(("scenario", "", "verdict", "duration"), rows)
        + "</body></html>\n"
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(body)
    return out
