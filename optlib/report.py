"""Chapter results: measured numbers beside the paper's, qualitative claims, and the scoreboard.

Every chapter ends with ``Results.write()``, producing ``_build/results/<chapter>.<scale>.json``::

    {"chapter", "scale", "seed", "runtime_s", "device", "versions",
     "items": [{"id", "label", "ours", "paper", "unit", ...}], "claims": [{"id", "text", "holds", ...}]}

The scoreboard page reads these files (never hand-typed numbers) and gives each item a verdict.
"""
from __future__ import annotations

import json
import math
import os
import platform
import time
from html import escape
from pathlib import Path
from typing import Dict, List, Optional

RESULTS_ENV = "OPTLIB_RESULTS_DIR"
REQUIRED_KEYS = ("chapter", "scale", "seed", "runtime_s", "device", "versions", "items", "claims")


def results_dir() -> Path:
    return Path(os.environ.get(RESULTS_ENV, "_build/results"))


def _num(x):
    if x is None:
        return None
    if hasattr(x, "item"):
        x = x.item()
    if isinstance(x, bool):
        return x
    if isinstance(x, (int, float)):
        return None if (isinstance(x, float) and not math.isfinite(x)) else x
    raise TypeError(f"results must be numbers, got {type(x).__name__}")


class Results:
    """Collects a chapter's measured items and claims; :meth:`write` saves them as JSON.

    Args:
        chapter: chapter id (``foundations``, ``sitzmann2018``, ...).
        scale: ``tiny`` or ``full``.
        seed: the run's seed.
        device: where it ran (string).
    """

    def __init__(self, chapter: str, scale: str, seed: int, device: str = "cpu"):
        self.chapter, self.scale, self.seed, self.device = chapter, scale, int(seed), str(device)
        self.items: List[Dict] = []
        self.claims: List[Dict] = []
        self._t0 = time.perf_counter()

    def item(self, id: str, label: str, ours, paper=None, unit: str = "", tol: Optional[float] = None,
             claim: Optional[str] = None, note: str = "") -> None:
        """A measured number. ``tol``: relative tolerance (absolute if the paper value is 0) within which it
        counts as reproduced; ``claim``: id of a claim that, if it holds, makes a miss "qualitatively
        reproduced"; ``note``: why it may differ (scale, substitution)."""
        if any(i["id"] == id for i in self.items):
            raise ValueError(f"duplicate item id {id!r}")
        d = {"id": id, "label": label, "ours": _num(ours), "paper": _num(paper), "unit": unit}
        if tol is not None:
            d["tol"] = float(tol)
        if claim:
            d["claim"] = claim
        if note:
            d["note"] = note
        self.items.append(d)

    def claim(self, id: str, text: str, holds, note: str = "") -> None:
        """A qualitative statement of the paper, as tested on this run (``holds`` must be a bool)."""
        if any(c["id"] == id for c in self.claims):
            raise ValueError(f"duplicate claim id {id!r}")
        d = {"id": id, "text": text, "holds": bool(holds)}
        if note:
            d["note"] = note
        self.claims.append(d)

    def as_dict(self) -> Dict:
        import numpy
        import torch
        try:
            from . import __version__ as v
        except ImportError:  # pragma: no cover
            v = "unknown"
        return {"chapter": self.chapter, "scale": self.scale, "seed": self.seed,
                "runtime_s": round(time.perf_counter() - self._t0, 2), "device": self.device,
                "versions": {"python": platform.python_version(), "torch": torch.__version__,
                             "numpy": numpy.__version__, "optlib": v},
                "items": self.items, "claims": self.claims}

    def write(self, directory=None) -> Path:
        d = Path(directory) if directory else results_dir()
        d.mkdir(parents=True, exist_ok=True)
        p = d / f"{self.chapter}.{self.scale}.json"
        tmp = p.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(self.as_dict(), indent=1))
        os.replace(tmp, p)
        return p

    def table(self) -> str:
        """Plain-text table of items and claims with verdicts (deterministic, for printing)."""
        claims = {c["id"]: c for c in self.claims}
        lines = [f"{'item':<44} {'ours':>12} {'paper/ref':>12} unit   verdict"]
        for it in self.items:
            v, _ = verdict(it, claims)
            lines.append(f"{it['label'][:44]:<44} {_fmt(it['ours']):>12} {_fmt(it['paper']):>12} "
                         f"{it['unit']:<6} {v}")
        for c in self.claims:
            lines.append(f"claim: {c['text'][:90]} -> {'holds' if c['holds'] else 'DOES NOT HOLD'}")
        return "\n".join(lines)


def _fmt(x) -> str:
    if x is None:
        return "-"
    if isinstance(x, bool):
        return str(x)
    if x == 0:
        return "0"
    a = abs(x)
    return f"{x:.4g}" if 1e-3 <= a < 1e5 else f"{x:.3e}"


def verdict(item: Dict, claims: Dict[str, Dict]):
    """(verdict, reason) for one item: reproduced / qualitatively reproduced / not reproduced / measured."""
    ours, paper, tol = item.get("ours"), item.get("paper"), item.get("tol")
    note = item.get("note", "")
    c = claims.get(item.get("claim", ""), None)
    if ours is None:
        return "not reproduced", "no measurement" + (f" ({note})" if note else "")
    if paper is None:
        return "measured", note or "no published value"
    if tol is not None:
        err = abs(ours - paper) if paper == 0 else abs(ours - paper) / abs(paper)
        if err <= tol:
            return "reproduced", f"within {tol:g}" + (" (absolute)" if paper == 0 else " (relative)")
        diff = f"differs by {err:.3g}" + (" (absolute)" if paper == 0 else f" ({100 * err:.1f} %)")
    else:
        diff = "no tolerance set"
    if c is not None and c["holds"]:
        return "qualitatively reproduced", f"{diff}; claim holds: {c['text']}" + (f"; {note}" if note else "")
    return "not reproduced", diff + (f"; {note}" if note else "")


def load_results(directory=None) -> List[Dict]:
    """All results JSON files in ``directory`` (default ``_build/results``), validated, sorted."""
    d = Path(directory) if directory else results_dir()
    out = []
    for p in sorted(d.glob("*.json")):
        data = json.loads(p.read_text())
        missing = [k for k in REQUIRED_KEYS if k not in data]
        if missing:
            raise ValueError(f"{p}: results file lacks keys {missing}")
        out.append(data)
    return out


def scoreboard_html(results: List[Dict], chapter_order: Optional[List[str]] = None) -> str:
    """HTML tables (one per chapter and scale) of items and claims with verdicts."""
    order = {c: i for i, c in enumerate(chapter_order or [])}
    results = sorted(results, key=lambda r: (order.get(r["chapter"], 99), r["chapter"], r["scale"]))
    colors = {"reproduced": "#1a7f37", "qualitatively reproduced": "#9a6700", "not reproduced": "#cf222e",
              "measured": "#57606a"}
    parts = []
    for r in results:
        claims = {c["id"]: c for c in r["claims"]}
        parts.append(f"<h3>{escape(r['chapter'])} &mdash; scale <code>{escape(r['scale'])}</code></h3>")
        parts.append(f"<p>seed {r['seed']}, device {escape(r['device'])}, torch {escape(r['versions'].get('torch', '?'))}"
                     "</p>")
        parts.append("<table class='scoreboard'><tr><th>item</th><th>paper / reference</th><th>ours</th>"
                     "<th>unit</th><th>verdict</th><th>reason</th></tr>")
        for it in r["items"]:
            v, why = verdict(it, claims)
            parts.append(f"<tr><td>{escape(it['label'])}</td><td>{_fmt(it['paper'])}</td><td>{_fmt(it['ours'])}</td>"
                         f"<td>{escape(it['unit'])}</td><td style='color:{colors[v]}'><b>{v}</b></td>"
                         f"<td>{escape(why)}</td></tr>")
        for c in r["claims"]:
            v = "reproduced" if c["holds"] else "not reproduced"
            parts.append(f"<tr><td colspan='4'>claim: {escape(c['text'])}</td><td style='color:{colors[v]}'>"
                         f"<b>{v}</b></td><td>{escape(c.get('note', ''))}</td></tr>")
        parts.append("</table>")
    if not results:
        parts.append("<p><b>No results found.</b> Run <code>make book</code> to execute the chapters.</p>")
    return "\n".join(parts)


def summary_counts(results: List[Dict]) -> Dict[str, int]:
    counts: Dict[str, int] = {}
    for r in results:
        claims = {c["id"]: c for c in r["claims"]}
        for it in r["items"]:
            v, _ = verdict(it, claims)
            counts[v] = counts.get(v, 0) + 1
        for c in r["claims"]:
            v = "claim holds" if c["holds"] else "claim fails"
            counts[v] = counts.get(v, 0) + 1
    return counts
