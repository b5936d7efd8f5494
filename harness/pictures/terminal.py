"""The node map in the terminal: a coloured grid (rich). Each state has its own glyph
as well as its colour, so the grid reads without colour too: a full block for what is
taken, a light shade for what is free."""

from __future__ import annotations

from rich.console import Console, Group, RenderableType
from rich.text import Text

from harness.pictures.model import BLOCK_STATES, CELL_STATES, NodeCells, NodeMap, SubnetBlocks

CELL_GLYPHS = {"used": "█", "free": "░", "cooling": "▒", "reserved": "x"}
CELL_STYLES = {
    "used": "bold blue",
    "free": "green",
    "cooling": "dark_orange",
    "reserved": "grey62",
}
BLOCK_GLYPHS = {"prefix": "█", "partial": "▓", "free": "░", "reserved": "x"}
BLOCK_STYLES = {
    "prefix": "blue",
    "partial": "dark_orange",
    "free": "green",
    "reserved": "grey62",
}
LABEL_WIDTH = 18


def _node(n: NodeCells) -> Text:
    c = n.counts()
    out = Text()
    out.append(n.name, style="bold")
    out.append(f"  {n.instance_type}  {n.instance_id}  {n.eni_id or 'no ENI'}\n", style="dim")
    out.append(
        f"used {c['used']} · free {c['free']} · cooling {c['cooling']} · "
        f"reserved {c['reserved']} · {n.prefixes} prefix(es)\n",
        style="dim",
    )
    if not n.rows:
        out.append("EC2 shows no primary ENI\n", style="italic")
    for row in n.rows:
        out.append(f"{row.label:>{LABEL_WIDTH}} ")
        for i, cell in enumerate(row.cells):
            out.append(" " if i else "")
            out.append(CELL_GLYPHS[cell.state], style=CELL_STYLES[cell.state])
        out.append("\n")
    return out


def _subnet(s: SubnetBlocks) -> Text:
    c = s.counts()
    out = Text()
    out.append(f"{s.subnet_id}  {s.cidr}\n", style="bold")
    out.append(
        f"{len(s.blocks)} /28 blocks: {c['free']} free · {c['partial']} partly used · "
        f"{c['prefix']} prefixes · {c['reserved']} reserved · {s.available} IPs free\n",
        style="dim",
    )
    for start in range(0, len(s.blocks), s.columns):
        first = s.blocks[start].cidr.split("/")[0]
        out.append(f"{first:>{LABEL_WIDTH}} ")
        for b in s.blocks[start : start + s.columns]:
            out.append(BLOCK_GLYPHS[b.state], style=BLOCK_STYLES[b.state])
        out.append("\n")
    return out


def _legend() -> Text:
    out = Text("ENI addresses: ")
    for state in CELL_STATES:
        out.append(CELL_GLYPHS[state], style=CELL_STYLES[state])
        out.append(f" {state}" + ("  " if state != CELL_STATES[-1] else ""))
    out.append("\nsubnet /28 blocks: ")
    for state in BLOCK_STATES:
        out.append(BLOCK_GLYPHS[state], style=BLOCK_STYLES[state])
        out.append(f" {state}" + ("  " if state != BLOCK_STATES[-1] else ""))
    return out


def node_map_renderable(node_map: NodeMap) -> RenderableType:
    """The node map as one rich renderable: nodes, then subnets, then the legend."""
    parts: list[RenderableType] = [_node(n) for n in node_map.nodes]
    if not node_map.nodes:
        parts.append(Text("no Windows nodes\n", style="italic"))
    parts += [_subnet(s) for s in node_map.subnets]
    parts.append(_legend())
    return Group(*parts)


def print_node_map(node_map: NodeMap, console: Console | None = None) -> None:
    """Print the node map to `console` (default: standard output)."""
    (console or Console()).print(node_map_renderable(node_map))
