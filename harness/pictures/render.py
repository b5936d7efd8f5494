"""PNG and SVG pictures (matplotlib, Agg; the only module of the project importing it).

- `render_node_map`: per node the ENI's addresses as 16-cell rows (used / free /
  cooling / reserved) beside each subnet's map of /28 blocks (free / partial / prefix /
  reserved);
- `render_timeline`: a scenario report's timeline (pods, IPs, EC2 calls over time, with
  step boundaries and faults marked).

In SVG every cell and block is a ``<g>`` carrying its state: ``class`` (``eni-cell`` or
``subnet-block``), ``data-state``, ``data-address`` / ``data-cidr``, ``data-node`` /
``data-subnet``, and a ``<title>`` tooltip. Figures are built on `Figure` with the Agg
canvas, never through pyplot, so rendering touches no global backend state.
"""

from __future__ import annotations

import io
import math
import xml.etree.ElementTree as ET
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import matplotlib as mpl
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.patches import Patch, Rectangle

from harness.pictures.model import BLOCK_STATES, CELL_STATES, ROW, NodeMap
from harness.pictures.timeline import Timeline, timeline_from_report, total

FORMATS = ("png", "svg")
SVG_NS = "http://www.w3.org/2000/svg"

# Colour-blind-safe pairs (ColorBrewer RdBu / PuOr families), grey for reserved.
CELL_COLOURS = {"used": "#2166ac", "free": "#a6dba0", "cooling": "#f4a582", "reserved": "#bababa"}
CELL_TEXT = {"used": "white", "free": "#1b3b1b", "cooling": "#5a2a0a", "reserved": "#333333"}
CELL_LABELS = {
    "used": "used (a pod's IP)",
    "free": "free (warm, ready for a pod)",
    "cooling": "cooling down",
    "reserved": "reserved (ENI primary)",
}
BLOCK_COLOURS = {
    "free": "#d9f0d3",
    "partial": "#fdb863",
    "prefix": "#4393c3",
    "reserved": "#bababa",
}
BLOCK_LABELS = {
    "free": "free /28",
    "partial": "partly used (no /28 fits)",
    "prefix": "held as a /28 prefix",
    "reserved": "reserved (AWS / explicit)",
}

# Node-map layout, in inches (the drawing axes' units are inches, y downwards).
CELL_IN = 0.26
GAP_IN = 0.03
LABEL_IN = 1.25
HEADER_IN = 0.42
SECTION_GAP_IN = 0.22
TITLE_IN = 0.45
LEGEND_IN = 1.0
MARGIN_IN = 0.2
SUBNET_MAX_IN = 6.0
PANEL_GAP_IN = 0.45


def _format(path: Path, fmt: str | None) -> str:
    chosen = (fmt or path.suffix.lstrip(".")).lower()
    if chosen not in FORMATS:
        raise ValueError(
            f"picture format {chosen or path.name!r}: expected one of {', '.join(FORMATS)} "
            "(give fmt, or a file name ending in .png or .svg)"
        )
    return chosen


@contextmanager
def _style() -> Iterator[None]:
    with mpl.rc_context(
        {
            "svg.fonttype": "none",  # SVG text stays text: smaller, searchable
            "svg.hashsalt": "ekswin",  # stable ids: the same picture for the same state
            "font.size": 8,
        }
    ):
        yield


def _save(fig: Figure, path: Path, fmt: str, attrs: Mapping[str, Mapping[str, str]]) -> Path:
    """Write `fig`; in SVG, add `attrs` (by gid) to each element, its "title" as a
    tooltip child."""
    FigureCanvasAgg(fig)
    path.parent.mkdir(parents=True, exist_ok=True)
    meta: dict[str, Any] = {"Date": None} if fmt == "svg" else {}
    if fmt == "png":
        fig.savefig(path, format="png", dpi=110, metadata={"Software": None})
        return path
    buf = io.BytesIO()
    fig.savefig(buf, format="svg", metadata=meta)
    ET.register_namespace("", SVG_NS)
    ET.register_namespace("xlink", "http://www.w3.org/1999/xlink")
    root = ET.fromstring(buf.getvalue())
    for el in root.iter(f"{{{SVG_NS}}}g"):
        extra = attrs.get(el.get("id", ""))
        if extra is None:
            continue
        for key, value in extra.items():
            if key == "title":
                title = ET.Element(f"{{{SVG_NS}}}title")
                title.text = value
                el.insert(0, title)
            else:
                el.set(key, value)
    path.write_bytes(ET.tostring(root, xml_declaration=True, encoding="utf-8"))
    return path


def _legend(
    ax: Any,
    x: float,
    y: float,
    title: str,
    colours: Mapping[str, str],
    labels: Mapping[str, str],
    states: tuple[str, ...],
) -> None:
    """One row of coloured squares and labels, its top-left corner at (x, y) inches."""
    handles = [
        Patch(facecolor=colours[s], edgecolor="#555555", linewidth=0.4, label=labels[s])
        for s in states
    ]
    legend = ax.legend(
        handles=handles,
        title=title,
        loc="upper left",
        bbox_to_anchor=(x, y),
        bbox_transform=ax.transData,
        ncol=len(states),
        frameon=False,
        fontsize=7,
        title_fontproperties={"weight": "bold", "size": 8},
        alignment="left",
        borderaxespad=0,
        borderpad=0,
        handlelength=1.0,
        handleheight=1.0,
        columnspacing=1.6,
    )
    ax.add_artist(legend)  # a second legend call must not replace this one


# ------------------------------------------------------------------ node map
def _node_height(rows: int) -> float:
    return HEADER_IN + max(rows, 1) * CELL_IN + SECTION_GAP_IN


def render_node_map(
    node_map: NodeMap, path: str | Path, fmt: str | None = None, *, title: str | None = None
) -> Path:
    """Draw `node_map` (see `harness.pictures.model.build_node_map`) to `path` as PNG
    or SVG (`fmt`, else the file name's suffix). Returns the path written."""
    out = Path(path)
    kind = _format(out, fmt)
    subnet_layout = []
    for s in node_map.subnets:
        size = min(CELL_IN, SUBNET_MAX_IN / s.columns)
        rows = math.ceil(len(s.blocks) / s.columns)
        subnet_layout.append((s, size, rows))
    left_w = LABEL_IN + ROW * CELL_IN
    right_w = max((LABEL_IN + s.columns * size for s, size, _ in subnet_layout), default=0.0)
    left_h = sum(_node_height(len(n.rows)) for n in node_map.nodes)
    right_h = sum(HEADER_IN + rows * size + SECTION_GAP_IN for _, size, rows in subnet_layout)
    width = MARGIN_IN * 2 + left_w + (PANEL_GAP_IN + right_w if subnet_layout else 0.0)
    width = max(width, 7.2)  # room for the legend
    height = MARGIN_IN + TITLE_IN + max(left_h, right_h, 0.5) + LEGEND_IN
    attrs: dict[str, dict[str, str]] = {}
    with _style():
        fig = Figure(figsize=(width, height))
        ax = fig.add_axes((0, 0, 1, 1))
        ax.set_xlim(0, width)
        ax.set_ylim(height, 0)
        ax.set_axis_off()
        heading = title or _map_title(node_map)
        ax.text(MARGIN_IN, MARGIN_IN + 0.12, heading, fontsize=11, fontweight="bold", va="center")
        y0 = MARGIN_IN + TITLE_IN
        _draw_nodes(ax, node_map, MARGIN_IN, y0, attrs)
        _draw_subnets(ax, node_map, subnet_layout, MARGIN_IN + left_w + PANEL_GAP_IN, y0, attrs)
        ly = height - LEGEND_IN + 0.1
        _legend(ax, MARGIN_IN, ly, "ENI addresses", CELL_COLOURS, CELL_LABELS, CELL_STATES)
        _legend(
            ax, MARGIN_IN, ly + 0.46, "subnet /28 blocks", BLOCK_COLOURS, BLOCK_LABELS, BLOCK_STATES
        )
        return _save(fig, out, kind, attrs)


def _map_title(node_map: NodeMap) -> str:
    nodes = len(node_map.nodes)
    subnets = ", ".join(s.cidr for s in node_map.subnets) or "no subnet"
    return f"Address map: {nodes} node{'s' if nodes != 1 else ''}, {subnets}"


def _draw_nodes(
    ax: Any, node_map: NodeMap, x0: float, y: float, attrs: dict[str, dict[str, str]]
) -> None:
    if not node_map.nodes:
        ax.text(x0, y + 0.2, "no Windows nodes", fontsize=9, style="italic", va="center")
    for n in node_map.nodes:
        c = n.counts()
        name = ax.text(x0, y + 0.1, n.name, fontsize=9.5, fontweight="bold", va="center")
        ax.annotate(  # placed after the name's own extent, whatever its length
            f"{n.instance_type}  {n.instance_id}  {n.eni_id or 'no ENI'}",
            xy=(1, 0.5),
            xycoords=name,
            xytext=(6, 0),
            textcoords="offset points",
            fontsize=7,
            color="#444444",
            va="center",
        )
        ax.text(
            x0,
            y + 0.28,
            f"used {c['used']}  free {c['free']}  cooling {c['cooling']}  "
            f"reserved {c['reserved']}  ·  {n.prefixes} prefix(es)",
            fontsize=7,
            color="#444444",
            va="center",
        )
        y += HEADER_IN
        if not n.rows:
            ax.text(x0, y + CELL_IN / 2, "EC2 shows no primary ENI", fontsize=7, va="center")
        for row in n.rows:
            ax.text(
                x0 + LABEL_IN - 0.08,
                y + CELL_IN / 2,
                row.label,
                fontsize=7,
                ha="right",
                va="center",
                family="monospace",
            )
            for i, cell in enumerate(row.cells):
                gid = f"cell-{len(attrs)}"
                cx = x0 + LABEL_IN + i * CELL_IN
                ax.add_patch(
                    Rectangle(
                        (cx, y + GAP_IN / 2),
                        CELL_IN - GAP_IN,
                        CELL_IN - GAP_IN,
                        facecolor=CELL_COLOURS[cell.state],
                        edgecolor="white",
                        linewidth=0.5,
                        gid=gid,
                    )
                )
                octet = "." + cell.address.rsplit(".", 1)[-1]
                ax.text(
                    cx + (CELL_IN - GAP_IN) / 2,
                    y + CELL_IN / 2,
                    octet,
                    fontsize=5,
                    ha="center",
                    va="center",
                    color=CELL_TEXT[cell.state],
                )
                tip = f"{cell.address}: {cell.state}" + (f" ({cell.owner})" if cell.owner else "")
                attrs[gid] = {
                    "class": "eni-cell",
                    "data-state": cell.state,
                    "data-address": cell.address,
                    "data-node": n.name,
                    "data-row": row.label,
                    "title": tip,
                }
            y += CELL_IN
        y += SECTION_GAP_IN


def _draw_subnets(
    ax: Any,
    node_map: NodeMap,
    layout: list[tuple[Any, float, int]],
    x0: float,
    y: float,
    attrs: dict[str, dict[str, str]],
) -> None:
    for s, size, rows in layout:
        c = s.counts()
        ax.text(
            x0, y + 0.1, f"{s.subnet_id}  {s.cidr}", fontsize=9.5, fontweight="bold", va="center"
        )
        ax.text(
            x0,
            y + 0.28,
            f"{len(s.blocks)} /28 blocks: {c['free']} free, {c['partial']} partly used, "
            f"{c['prefix']} prefixes, {c['reserved']} reserved  ·  "
            f"{s.available} addresses available",
            fontsize=7,
            color="#444444",
            va="center",
        )
        y += HEADER_IN
        every = max(1, math.ceil(0.13 / size))  # row labels no closer than ~9 pt
        for r in range(rows):
            if r % every == 0:
                first = s.blocks[r * s.columns].cidr.split("/")[0]
                ax.text(
                    x0 + LABEL_IN - 0.08,
                    y + r * size + size / 2,
                    first,
                    fontsize=6.5,
                    ha="right",
                    va="center",
                    family="monospace",
                )
        for b in s.blocks:
            r, col = divmod(b.index, s.columns)
            gid = f"block-{len(attrs)}"
            ax.add_patch(
                Rectangle(
                    (x0 + LABEL_IN + col * size, y + r * size),
                    size,
                    size,
                    facecolor=BLOCK_COLOURS[b.state],
                    edgecolor="white",
                    linewidth=0.4 if size > 0.12 else 0.2,
                    gid=gid,
                )
            )
            holders = ", ".join(node_map.node_of_eni.get(h, h) for h in b.holders)
            tip = f"{b.cidr}: {b.state}"
            if b.held:
                tip += f", {b.held} held" + (f" by {holders}" if holders else "")
            if b.reservation:
                tip += f", {b.reservation} reservation"
            attrs[gid] = {
                "class": "subnet-block",
                "data-state": b.state,
                "data-cidr": b.cidr,
                "data-subnet": s.subnet_id,
                "data-held": str(b.held),
                "title": tip,
            }
        y += rows * size + SECTION_GAP_IN


# ------------------------------------------------------------------ timeline
MAX_NODE_ROWS = 6
STEP_COLOUR = "#888888"
FAULT_COLOUR = "#d6604d"
SERIES_COLOURS = {
    "running": "#2166ac",
    "pending": "#f4a582",
    "unscheduled": "#b2182b",
    "used": CELL_COLOURS["used"],
    "warm": CELL_COLOURS["free"],
    "cooling": CELL_COLOURS["cooling"],
}


def render_timeline(report: Mapping[str, Any], path: str | Path, fmt: str | None = None) -> Path:
    """Draw a scenario report's timeline to `path` as PNG or SVG (`fmt`, else the file
    name's suffix): cluster pods and EC2 calls by action, then per node pods running /
    pending and IPs used / warm / cooling, with step boundaries (grey) and faults (red)
    marked. Returns the path written; a malformed report is a ValueError naming the
    field."""
    out = Path(path)
    kind = _format(out, fmt)
    tl = timeline_from_report(report)
    shown = tl.nodes[:MAX_NODE_ROWS]
    rows = 1 + len(shown) + (1 if len(tl.nodes) > len(shown) else 0)
    attrs: dict[str, dict[str, str]] = {}
    with _style():
        fig = Figure(figsize=(12, 1.2 + 2.3 * rows), layout="constrained")
        axes = fig.subplots(rows, 2, sharex=True, squeeze=False)
        fig.suptitle(f"Timeline: {tl.scenario}", fontsize=12, fontweight="bold")
        if not tl.t:
            for ax in axes.flat:
                ax.text(
                    0.5,
                    0.5,
                    "no samples in the report's timeline",
                    ha="center",
                    va="center",
                    transform=ax.transAxes,
                    style="italic",
                )
        _pods_axes(
            axes[0][0],
            tl.t,
            "pods, all nodes",
            total([n.pods_running for n in tl.nodes]),
            total([n.pods_pending for n in tl.nodes]),
            tl.pods_unscheduled,
        )
        _ec2_axes(axes[0][1], tl)
        for i, n in enumerate(shown, start=1):
            _pods_axes(axes[i][0], tl.t, f"{n.name}: pods", n.pods_running, n.pods_pending)
            _ips_axes(axes[i][1], tl.t, f"{n.name}: IPs", n.ips_used, n.ips_warm, n.ips_cooling)
        if len(tl.nodes) > len(shown):
            rest = tl.nodes[len(shown) :]
            label = f"{len(rest)} more nodes (sum)"
            _pods_axes(
                axes[-1][0],
                tl.t,
                f"{label}: pods",
                total([n.pods_running for n in rest]),
                total([n.pods_pending for n in rest]),
            )
            _ips_axes(
                axes[-1][1],
                tl.t,
                f"{label}: IPs",
                total([n.ips_used for n in rest]),
                total([n.ips_warm for n in rest]),
                total([n.ips_cooling for n in rest]),
            )
        for r, row in enumerate(axes):
            for ax in row:
                _mark_steps(ax, tl, labels=r == 0, attrs=attrs)
        if tl.steps:  # room for the step labels between the top panels and their titles
            for ax in axes[0]:
                ax.set_title(ax.get_title(loc="left"), loc="left", fontsize=9, pad=14)
        for ax in axes[-1]:
            ax.set_xlabel("seconds since the scenario started")
        return _save(fig, out, kind, attrs)


def _pods_axes(
    ax: Any,
    t: tuple[float, ...],
    title: str,
    running: tuple[float, ...],
    pending: tuple[float, ...],
    unscheduled: tuple[float, ...] | None = None,
) -> None:
    ax.set_title(title, loc="left", fontsize=9)
    ax.step(t, running, where="post", color=SERIES_COLOURS["running"], label="running")
    ax.step(t, pending, where="post", color=SERIES_COLOURS["pending"], label="pending (creating)")
    if unscheduled is not None:
        ax.step(
            t,
            unscheduled,
            where="post",
            color=SERIES_COLOURS["unscheduled"],
            linestyle="--",
            label="pending (unscheduled)",
        )
    ax.set_ylim(bottom=0)
    ax.yaxis.get_major_locator().set_params(integer=True)
    ax.legend(loc="best", fontsize=7, frameon=False)


def _ips_axes(
    ax: Any,
    t: tuple[float, ...],
    title: str,
    used: tuple[float, ...],
    warm: tuple[float, ...],
    cooling: tuple[float, ...],
) -> None:
    ax.set_title(title, loc="left", fontsize=9)
    if t:
        clean = [[0.0 if math.isnan(v) else v for v in s] for s in (used, warm, cooling)]
        ax.stackplot(
            t,
            *clean,
            step="post",
            colors=[SERIES_COLOURS[k] for k in ("used", "warm", "cooling")],
            labels=["used", "warm", "cooling"],
        )
    ax.set_ylim(bottom=0)
    ax.yaxis.get_major_locator().set_params(integer=True)
    ax.legend(loc="best", fontsize=7, frameon=False)


def _ec2_axes(ax: Any, tl: Timeline) -> None:
    ax.set_title("EC2 calls by action (cumulative)", loc="left", fontsize=9)
    for action, counts in sorted(tl.ec2_calls.items(), key=lambda kv: -kv[1][-1]):
        ax.step(tl.t, counts, where="post", label=f"{action} ({int(counts[-1])})")
    if tl.ec2_errors:
        xs = [t for t, _ in tl.ec2_errors]
        ax.plot(
            xs,
            [0] * len(xs),
            linestyle="none",
            marker="x",
            color=FAULT_COLOUR,
            markersize=5,
            clip_on=False,
            label=f"EC2 error answers ({len(xs)})",
        )
    ax.set_ylim(bottom=0)
    ax.yaxis.get_major_locator().set_params(integer=True)
    if tl.ec2_calls or tl.ec2_errors:
        ax.legend(loc="best", fontsize=6.5, frameon=False)


def _mark_steps(ax: Any, tl: Timeline, *, labels: bool, attrs: dict[str, dict[str, str]]) -> None:
    for m in tl.steps:
        if m.fault:
            gid = f"fault-{len(attrs)}"
            ax.axvspan(
                m.t,
                m.t + max(m.duration_s, 0.05),
                color=FAULT_COLOUR,
                alpha=0.18,
                linewidth=0,
                zorder=0,
                gid=gid,
            )
            attrs[gid] = {
                "class": "fault",
                "data-step": str(m.index),
                "data-kind": m.kind,
                "title": f"step {m.index}: {m.description}",
            }
        ax.axvline(
            m.t,
            color=FAULT_COLOUR if m.fault else STEP_COLOUR,
            linewidth=0.7,
            linestyle="-" if m.fault else ":",
        )
        if labels:
            ax.text(
                m.t,
                1.0,
                f" {m.index}" + (f" {m.kind}" if m.fault else ""),
                transform=ax.get_xaxis_transform(),
                fontsize=6.5,
                va="bottom",
                color=FAULT_COLOUR if m.fault else "#555555",
                fontweight="bold" if not m.ok else "normal",
            )
