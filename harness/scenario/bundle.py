"""Repro bundles: one directory holding everything needed to see a scenario run's
failure and to run it again (`ekswin scenario replay`, docs/scenarios.md "Bundles").

A bundle is self-contained: every text it holds has this machine's paths rewritten
(the run directory to ``<run-dir>``, the checkout to ``<ekswin>``, the Python
installation to ``<python>``, the home directory to ``~``), it has no links, and it
can be zipped as it is (``--zip``)."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import platform
import shutil
import sys
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

import yaml

from harness.scenario.model import Scenario
from harness.scenario.snapshot import Snapshot, get_json

BUNDLE_VERSION = 1
MANIFEST = "bundle.json"
SCENARIO_FILE = "scenario.yaml"
SPEC_FILE = "spec.json"
REPORT_FILE = "report.json"
PAGE_FILE = "report.html"
#: The parts every bundle lists in its manifest (present, or absent with the reason).
PARTS = (
    "scenario",
    "spec",
    "versions",
    "events",
    "timeline",
    "ec2_requests",
    "ec2_state",
    "hns",
    "introspection",
    "logs",
    "report",
    "page",
    "pictures",
)
#: Run-directory files that are secrets or runtime state, never copied.
SKIPPED_DIRS = ("pki", "etcd-data", "etcd")


class BundleError(ValueError):
    """A directory that is not a readable bundle (says which file and why)."""


@dataclass
class Capture:
    """What the live components said at one moment (the end, or the first failure)."""

    moment: str
    t: float
    introspection: dict[str, Any] = field(default_factory=dict)
    hns: dict[str, Any] = field(default_factory=dict)
    ec2_state: Any = None
    problems: list[str] = field(default_factory=list)


def capture(live: Any, moment: str) -> Capture:
    """Read the controller's introspection (summary, every node, pods, and upstream's
    `/resources/all` with the pools' used / warm / cooling resources), fake_hns's
    DumpState per node and fake_ec2's admin state now; what does not answer is noted."""
    import time

    from fake_hns.client import HnsClient

    cap = Capture(moment, round(time.time() - live.log.t0, 3))
    pipe = live.pipeline
    if pipe is None:
        cap.problems.append("the environment has no pipeline (no EC2, HNS or controller)")
        return cap
    url = pipe.controllers[0].url if pipe.controllers else ""
    if url:
        summary = get_json(f"{url}/introspect/summary")
        cap.introspection["summary"] = summary
        names = [row.get("name") for row in (summary or {}).get("nodes") or []]
        names = names or [n.get("name") for n in pipe.nodes]
        for name in sorted(str(n) for n in names if n):
            q = urllib.parse.quote(name)
            cap.introspection[f"node-{name}"] = get_json(f"{url}/introspect/node?name={q}")
        cap.introspection["pods"] = get_json(f"{url}/introspect/pods")
        cap.introspection["resources-all"] = get_json(f"{url}/resources/all")
        if summary is None:
            cap.problems.append(f"controller introspection at {moment}: no answer")
    else:
        cap.problems.append("no controller running")
    try:
        with HnsClient(pipe.hns_target, host="") as hns:
            cap.hns = dict(json.loads(hns.dump_state(all_hosts=True)).get("hosts") or {})
    except Exception as e:  # a stopped fake_hns: the bundle says so
        cap.problems.append(f"HNS DumpState at {moment}: {type(e).__name__}: {e}")
    try:
        cap.ec2_state = pipe.admin().state()
    except Exception as e:  # a stopped fake_ec2
        cap.problems.append(f"fake_ec2 admin state at {moment}: {type(e).__name__}: {e}")
    return cap


def versions(live: Any = None) -> dict[str, str | None]:
    """ekswin, Kubernetes (the API server's gitVersion), moto, Python and the OS."""

    def dist(name: str) -> str | None:
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            return None

    kube = None
    if live is not None:
        with contextlib.suppress(Exception):  # the API server stopped by the scenario
            from kubernetes import client

            kube = str(client.VersionApi(live.api).get_code().git_version)
    return {
        "ekswin": dist("ekswin-harness"),
        "kubernetes": kube,
        "kubernetes_client": dist("kubernetes"),
        "moto": dist("moto"),
        "python": platform.python_version(),
        "os": platform.platform(),
    }


class Scrubber:
    """Rewrites this machine's absolute paths in a text to placeholders."""

    def __init__(self, run_dirs: list[Path], bundle: Path) -> None:
        checkout = Path(__file__).resolve().parents[2]
        pairs: list[tuple[str, str]] = [(str(bundle), ".")]
        for d in run_dirs:
            pairs += [(str(d), "<run-dir>"), (str(d.resolve()), "<run-dir>")]
        pairs += [
            (str(checkout), "<ekswin>"),
            (sys.prefix, "<python>"),
            (sys.base_prefix, "<python>"),
            (str(Path.home()), "~"),
        ]
        seen: dict[str, str] = {}
        for old, new in pairs:
            if len(old) > 1 and old not in seen:
                seen[old] = new
        self.pairs = sorted(seen.items(), key=lambda p: -len(p[0]))  # longest first

    def text(self, s: str) -> str:
        """`s` with every known path replaced."""
        for old, new in self.pairs:
            s = s.replace(old, new)
        return s


class BundleWriter:
    """Writes the parts of one bundle into `root`, scrubbing every text."""

    def __init__(self, root: Path, scrub: Scrubber) -> None:
        self.root = root
        self.scrub = scrub
        self.parts: dict[str, Any] = {}

    def text(self, rel: str, content: str) -> Path:
        """Write a text file (scrubbed)."""
        path = self.root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(self.scrub.text(content))
        return path

    def json(self, rel: str, data: Any) -> Path:
        """Write a JSON file (scrubbed)."""
        return self.text(rel, json.dumps(data, indent=1, default=str) + "\n")

    def rel(self, path: Path) -> str:
        """`path` relative to the bundle."""
        return str(path.relative_to(self.root))

    def part(self, name: str, files: list[str] | str | None, missing: str | None = None) -> None:
        """Record a part in the manifest: its files, or why it is absent."""
        if missing is not None:
            self.parts[name] = {"present": False, "why": self.scrub.text(missing)}
        else:
            listed = [files] if isinstance(files, str) else list(files or [])
            self.parts[name] = {"present": True, "files": listed}

    def copy_logs(self, run_dirs: list[Path]) -> list[str]:
        """Every component log of the run directories (``*.log``, ``*.stdout``), scrubbed."""
        out: list[str] = []
        for i, run_dir in enumerate(dict.fromkeys(run_dirs)):
            if not run_dir.is_dir():
                continue
            for src in sorted(run_dir.rglob("*")):
                rel = src.relative_to(run_dir)
                if not src.is_file() or src.is_symlink() or rel.parts[0] in SKIPPED_DIRS:
                    continue
                if src.suffix not in (".log", ".stdout", ".stderr"):
                    continue
                inner = rel.relative_to("logs") if rel.parts[0] == "logs" else rel
                dest = Path("logs") / (f"env-{i}" if i else "") / inner
                try:
                    raw = src.read_bytes()
                except OSError:
                    continue
                self.text(str(dest), raw.decode("utf-8", errors="replace"))
                out.append(str(dest))
        return out


def draw_pictures(
    out: Path, report: Mapping[str, Any], snap: Snapshot | None, cooling: Any
) -> dict[str, Path]:
    """The node map (from `snap`) and the report's timeline as PNG and SVG in `out`
    (``node-map.png`` ...); a picture that cannot be drawn is left out."""
    from harness.pictures.model import build_node_map
    from harness.pictures.render import render_node_map, render_timeline

    out.mkdir(parents=True, exist_ok=True)
    drawn: dict[str, Path] = {}
    for fmt in ("svg", "png"):
        if snap is not None and snap.state.nodes:
            with contextlib.suppress(Exception):  # a map with nothing drawable
                node_map = build_node_map(snap.state, cooling)
                drawn[f"node-map.{fmt}"] = render_node_map(node_map, out / f"node-map.{fmt}", fmt)
        if report.get("timeline"):
            with contextlib.suppress(Exception):
                drawn[f"timeline.{fmt}"] = render_timeline(report, out / f"timeline.{fmt}", fmt)
    return drawn


def default_bundle_dir(name: str) -> Path:
    """<state dir>/_bundles/<scenario>-<UTC time> (kept until removed by hand)."""
    from harness import rundir

    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    return rundir.state_root() / "_bundles" / f"{name}-{stamp}"


def write_bundle(
    dest: Path,
    *,
    scenario: Scenario,
    report: dict[str, Any],
    run_dirs: list[Path],
    live: Any = None,
    captures: list[Capture] | None = None,
    final: Snapshot | None = None,
    cooling: Any = None,
) -> Path:
    """Write the bundle of a finished run into `dest` (replaced when it exists) while
    its environment still runs; sets ``report["bundle"]``; returns `dest`."""
    dest = dest.resolve()
    if dest.exists():
        shutil.rmtree(dest)
    dest.mkdir(parents=True)
    w = BundleWriter(dest, Scrubber(run_dirs, dest))
    spec = scenario.spec
    doc = dict(scenario.document) or {**spec.to_dict(), "steps": []}
    w.text(SCENARIO_FILE, yaml.safe_dump(doc, sort_keys=False, default_flow_style=None))
    w.part("scenario", SCENARIO_FILE)
    w.json(SPEC_FILE, spec.to_dict())
    w.part("spec", SPEC_FILE)
    w.json("versions.json", versions(live))
    w.part("versions", "versions.json")
    w.json("events.json", report.get("events") or [])
    w.part("events", "events.json")
    w.json("timeline.json", report.get("timeline") or [])
    w.part("timeline", "timeline.json")

    pipe = live.pipeline if live is not None else None
    if pipe is None:
        w.part("ec2_requests", None, "no fake_ec2 ran (the environment did not start)")
    else:
        try:
            w.json("ec2/requests.json", pipe.admin().requests(since=0))
            w.part("ec2_requests", "ec2/requests.json")
        except Exception as e:  # a stopped fake_ec2
            w.part("ec2_requests", None, f"fake_ec2 did not answer: {type(e).__name__}: {e}")

    caps = captures or []
    problems = [p for c in caps for p in c.problems]
    ec2_files: list[str] = []
    hns_files: list[str] = []
    intro_files: list[str] = []
    for c in caps:
        if c.ec2_state is not None:
            ec2_files.append(w.rel(w.json(f"ec2/state-{c.moment}.json", c.ec2_state)))
        for host, body in sorted(c.hns.items()):
            hns_files.append(w.rel(w.json(f"hns/{c.moment}/{host}.json", body)))
        for key, body in c.introspection.items():
            intro_files.append(w.rel(w.json(f"introspection/{c.moment}/{key}.json", body)))
    none = "; ".join(problems) or "nothing was captured (the environment did not start)"
    for name, files in (("ec2_state", ec2_files), ("hns", hns_files)):
        w.part(name, files) if files else w.part(name, None, none)
    w.part("introspection", intro_files) if intro_files else w.part("introspection", None, none)

    logs = w.copy_logs(run_dirs)
    w.part("logs", logs) if logs else w.part("logs", None, "no component log was written")

    drawn = draw_pictures(dest / "pictures", report, final, cooling)
    if drawn:
        w.part("pictures", sorted(str(p.relative_to(dest)) for p in drawn.values()))
    else:
        w.part("pictures", None, "nothing to draw (no node observed, no timeline)")
    for svg in (p for p in drawn.values() if p.suffix == ".svg"):
        w.text(str(svg.relative_to(dest)), svg.read_text())

    report["bundle"] = str(dest)
    w.json(REPORT_FILE, {**report, "bundle": "."})
    w.part("report", REPORT_FILE)
    from harness.scenario.html import render_html

    svgs = {p.name: p for p in drawn.values() if p.suffix == ".svg"}
    w.text(PAGE_FILE, render_html({**report, "bundle": "."}, svgs))
    w.part("page", PAGE_FILE)
    w.json(
        MANIFEST,
        {
            "bundle_version": BUNDLE_VERSION,
            "scenario": scenario.name,
            "seed": spec.seed,
            "timing": spec.timing.to_spec(),
            "written": dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "ok": report.get("ok"),
            "failure": report.get("failure"),
            "captures": [{"moment": c.moment, "t": c.t} for c in caps],
            "parts": w.parts,
            "replay": "ekswin scenario replay <this directory>",
        },
    )
    return dest


def zip_bundle(bundle: Path) -> Path:
    """`bundle`.zip next to it (the directory's name as the archive's top folder)."""
    archive = shutil.make_archive(str(bundle), "zip", bundle.parent, bundle.name)
    return Path(archive)


# -- reading ------------------------------------------------------------------------
@dataclass(frozen=True)
class Bundle:
    """A bundle read back: its manifest, scenario document, resolved spec and report."""

    root: Path
    manifest: Mapping[str, Any]
    document: Mapping[str, Any]
    spec: Mapping[str, Any]
    report: Mapping[str, Any]

    @property
    def failure(self) -> Mapping[str, Any] | None:
        """The recorded run's first failure (None: it passed)."""
        return self.report.get("failure")


def _read_json(root: Path, name: str) -> Any:
    path = root / name
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise BundleError(f"{root}: {name} is missing; expected a bundle directory") from None
    except (OSError, ValueError) as e:
        raise BundleError(f"{root}: {name}: not readable JSON ({e})") from None


def read_bundle(root: Path) -> Bundle:
    """Read a bundle directory (BundleError naming the file when it is not one)."""
    if not root.is_dir():
        raise BundleError(f"{root}: not a directory; expected a bundle directory")
    manifest = _read_json(root, MANIFEST)
    version = manifest.get("bundle_version") if isinstance(manifest, dict) else None
    if version != BUNDLE_VERSION:
        raise BundleError(
            f"{root}: {MANIFEST}: bundle_version {version!r}; expected {BUNDLE_VERSION}"
        )
    try:
        document = yaml.safe_load((root / SCENARIO_FILE).read_text())
    except FileNotFoundError:
        raise BundleError(f"{root}: {SCENARIO_FILE} is missing") from None
    except (OSError, yaml.YAMLError) as e:
        raise BundleError(f"{root}: {SCENARIO_FILE}: not readable YAML ({e})") from None
    if not isinstance(document, dict):
        raise BundleError(f"{root}: {SCENARIO_FILE}: expected a mapping (a scenario)")
    spec = _read_json(root, SPEC_FILE)
    report = _read_json(root, REPORT_FILE)
    if not isinstance(spec, dict) or not isinstance(report, dict) or "failure" not in report:
        raise BundleError(f"{root}: {SPEC_FILE} / {REPORT_FILE}: expected a spec and a report")
    return Bundle(root, manifest, document, spec, report)


def replay_scenario(bundle: Bundle) -> Scenario:
    """The scenario a replay runs: the recorded, resolved spec (seed and timing
    included) with the steps of the bundle's scenario.yaml. BundleError when invalid."""
    from harness.scenario.load import parse_scenario
    from harness.spec import SpecError

    doc = {k: v for k, v in bundle.spec.items() if v is not None}
    doc["steps"] = bundle.document.get("steps") or []
    try:
        return parse_scenario(doc, str(bundle.root / SCENARIO_FILE))
    except SpecError as e:
        raise BundleError(f"{bundle.root}: the recorded scenario is not valid:\n{e}") from None
