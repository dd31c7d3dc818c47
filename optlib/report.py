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


_OPS = {">": lambda a, b: a > b, ">=": lambda a, b: a >= b, "<": lambda a, b: a < b, "<=": lambda a, b: a <= b}


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
        counts as reproduced; ``claim``: id of a related claim, shown beside the item (it never changes the
        item's verdict: a verdict belongs to the number); ``note``: why it may differ (scale, substitution)."""
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

    def claim(self, id: str, text: str, holds, note: str = "", value=None, op: Optional[str] = None,
              threshold=None) -> None:
        """A statement tested on this run (``holds`` must be a bool). With ``value``, ``op`` and ``threshold``
        the comparison it rests on is recorded (and shown: "0.592 vs 0.462 (needs >)"), and ``holds`` must agree
        with it. A claim made of several comparisons should use :meth:`check_all`, which records them all."""
        if any(c["id"] == id for c in self.claims):
            raise ValueError(f"duplicate claim id {id!r}")
        d = {"id": id, "text": text, "holds": bool(holds)}
        if value is not None or op is not None or threshold is not None:
            if op not in _OPS or value is None or threshold is None:
                raise ValueError(f"claim {id!r}: give value, op (one of {sorted(_OPS)}) and threshold together")
            d.update(value=_num(value), op=op, threshold=_num(threshold))
            if d["value"] is not None and d["threshold"] is not None and _OPS[op](d["value"], d["threshold"]) != bool(holds):
                raise ValueError(f"claim {id!r}: holds={bool(holds)} but {d['value']} {op} {d['threshold']} is "
                                 f"{_OPS[op](d['value'], d['threshold'])}")
        if note:
            d["note"] = note
        self.claims.append(d)

    def check(self, id: str, text: str, value, op: str, threshold, note: str = "") -> None:
        """A claim that is one comparison, ``value op threshold``: evaluated here, recorded with its numbers
        (``claims[-1]["holds"]`` says whether it holds; nothing is returned, so a notebook cell ending in a
        check shows no stray ``True``)."""
        if op not in _OPS:
            raise ValueError(f"check {id!r}: op must be one of {sorted(_OPS)}, got {op!r}")
        v, t = _num(value), _num(threshold)
        holds = v is not None and t is not None and _OPS[op](v, t)
        self.claim(id, text, holds, note, v if v is not None else float("nan"), op, t if t is not None else float("nan"))

    def check_all(self, id: str, text: str, parts, note: str = "") -> None:
        """A claim made of several comparisons, all of which must hold. ``parts``: ``(label, value, op,
        threshold)`` tuples (``op`` one of ``> >= < <=``). Every part is recorded; the claim's deciding
        comparison is the first part that fails or, when all hold, the one closest to failing (smallest
        margin relative to its threshold, absolute when the threshold is 0), and the scoreboard shows it
        with its label."""
        recs = []
        for label, value, op, threshold in parts:
            if op not in _OPS:
                raise ValueError(f"check_all {id!r}, part {label!r}: op must be one of {sorted(_OPS)}, got {op!r}")
            v, t = _num(value), _num(threshold)
            if isinstance(v, bool) or isinstance(t, bool):
                raise TypeError(f"check_all {id!r}, part {label!r}: compare numbers, not booleans")
            ok = v is not None and t is not None and _OPS[op](v, t)
            recs.append({"label": str(label), "value": v, "op": op, "threshold": t, "holds": ok})
        if not recs:
            raise ValueError(f"check_all {id!r}: no comparisons given")
        failing = [r for r in recs if not r["holds"]]
        deciding = failing[0] if failing else min(recs, key=_margin)
        nan = float("nan")
        self.claim(id, text, not failing, note, deciding["value"] if deciding["value"] is not None else nan,
                   deciding["op"], deciding["threshold"] if deciding["threshold"] is not None else nan)
        self.claims[-1].update(deciding=deciding["label"], parts=recs)

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

    def _repr_html_(self) -> str:
        """The items and claims as HTML tables (what a notebook shows for ``display(results)``)."""
        return run_tables_html(self.as_dict())

    def _repr_pretty_(self, p, cycle) -> None:
        p.text(self.table())

    def table(self) -> str:
        """Plain-text table of items and claims with verdicts (deterministic, for printing)."""
        lines = [f"{'item':<44} {'ours':>12} {'paper/ref':>12} unit   verdict"]
        for it in self.items:
            v, _ = verdict(it)
            lines.append(f"{it['label'][:44]:<44} {_fmt(it['ours']):>12} {_fmt(it['paper']):>12} "
                         f"{it['unit']:<6} {v}")
        for c in self.claims:
            ev = claim_evidence(c)
            lines.append(f"claim: {c['text'][:90]} -> {'holds' if c['holds'] else 'DOES NOT HOLD'}"
                         + (f" [{ev}]" if ev else ""))
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


def _margin(part: Dict) -> float:
    """How far a holding comparison is from failing, relative to its threshold (absolute when it is 0)."""
    v, t = part["value"], part["threshold"]
    gap = v - t if part["op"] in (">", ">=") else t - v
    return gap / abs(t) if t != 0 else gap


def verdict(item: Dict, claims: Optional[Dict[str, Dict]] = None):
    """(verdict, reason) for one item, from its number alone: reproduced (within its tolerance of the paper's),
    not reproduced (with the measured ratio to the paper, at the run's scale), or measured (no paper value).
    ``claims`` is accepted for compatibility and ignored: a claim is shown beside an item, never merged in."""
    ours, paper, tol = item.get("ours"), item.get("paper"), item.get("tol")
    note = item.get("note", "")
    tail = f"; {note}" if note else ""
    if ours is None:
        return "not reproduced", "no measurement" + (f" ({note})" if note else "")
    if paper is None:
        return "measured", note or "no published value"
    if tol is not None:
        err = abs(ours - paper) if paper == 0 else abs(ours - paper) / abs(paper)
        if err <= tol:
            return "reproduced", f"within {tol:g}" + (" (absolute)" if paper == 0 else " (relative)")
    if paper == 0:
        diff = f"differs by {abs(ours):.3g} (absolute)"
    else:
        diff = f"ours / paper = {ours / paper:.3g}"
    limit = "" if tol is None else (f", tolerance {tol:g}" + (" absolute" if paper == 0 else " relative"))
    return "not reproduced", f"{diff} at this scale{limit}{tail}"


def claim_evidence(c: Dict) -> str:
    """A claim's deciding comparison as text, "0.592 vs 0.462 (needs >)", or "" when it records none; a claim
    of several comparisons (:meth:`Results.check_all`) names the deciding one and how many there are."""
    if "op" not in c:
        return ""
    text = f"{_fmt(c.get('value'))} vs {_fmt(c.get('threshold'))} (needs {c['op']})"
    if "deciding" in c:
        n = len(c.get("parts", ()))
        which = "first failing" if not c["holds"] else "closest to failing"
        text = f"{c['deciding']}: {text}; {which} of {n}"
    return text


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


_COLORS = {"reproduced": "#1a7f37", "not reproduced": "#cf222e", "measured": "#57606a",
           "holds": "#1a7f37", "fails": "#cf222e"}


def run_tables_html(r: Dict) -> str:
    """One run's items (with verdicts and reasons) and claims (with their comparisons) as two HTML tables."""
    claims = {c["id"]: c for c in r["claims"]}
    parts = ["<table class='scoreboard'><tr><th>item</th><th>paper / reference</th><th>ours</th>"
             "<th>unit</th><th>verdict</th><th>reason</th><th>related claim</th></tr>"]
    for it in r["items"]:
        v, why = verdict(it)
        c = claims.get(it.get("claim", ""))
        beside = "" if c is None else f"{'holds' if c['holds'] else 'fails'}: {c['text']}"
        parts.append(f"<tr><td>{escape(it['label'])}</td><td>{_fmt(it['paper'])}</td><td>{_fmt(it['ours'])}</td>"
                     f"<td>{escape(it['unit'])}</td><td style='color:{_COLORS[v]}'><b>{v}</b></td>"
                     f"<td>{escape(why)}</td><td>{escape(beside)}</td></tr>")
    parts.append("</table>")
    if r["claims"]:
        parts.append("<table class='scoreboard'><tr><th>claim tested on this run</th><th>comparison</th>"
                     "<th>result</th><th>note</th></tr>")
        for c in r["claims"]:
            v = "holds" if c["holds"] else "fails"
            parts.append(f"<tr><td>{escape(c['text'])}</td><td>{escape(claim_evidence(c))}</td>"
                         f"<td style='color:{_COLORS[v]}'><b>{v}</b></td><td>{escape(c.get('note', ''))}</td></tr>")
        parts.append("</table>")
    return "\n".join(parts)


def scoreboard_html(results: List[Dict], chapter_order: Optional[List[str]] = None) -> str:
    """HTML tables (one per chapter and scale) of items and claims with verdicts."""
    order = {c: i for i, c in enumerate(chapter_order or [])}
    results = sorted(results, key=lambda r: (order.get(r["chapter"], 99), r["chapter"], r["scale"]))
    parts = []
    for r in results:
        parts.append(f"<h3>{escape(r['chapter'])} &mdash; scale <code>{escape(r['scale'])}</code></h3>")
        parts.append(f"<p>seed {r['seed']}, device {escape(r['device'])}, torch {escape(r['versions'].get('torch', '?'))}"
                     "</p>")
        parts.append(run_tables_html(r))
    if not results:
        parts.append("<p><b>No results found.</b> Run <code>make book</code> to execute the chapters.</p>")
    return "\n".join(parts)


def summary_counts(results: List[Dict]) -> Dict[str, int]:
    counts: Dict[str, int] = {}
    for r in results:
        for it in r["items"]:
            v, _ = verdict(it)
            counts[v] = counts.get(v, 0) + 1
        for c in r["claims"]:
            v = "claim holds" if c["holds"] else "claim fails"
            counts[v] = counts.get(v, 0) + 1
    return counts


def seed_table(runs: List[Dict]) -> str:
    """Every claim of every chapter across runs that differ by their seed (same chapter and scale), as a
    Markdown table: one row per claim, one column per seed, each cell "holds" or "fails" with its comparison's
    value; then the count of seeds it holds for (a claim missing from a run shows "-"), and the claim's
    comparison and note (what would make it fail) as the lowest seed's run records them."""
    by_chapter: Dict[tuple, Dict[int, Dict]] = {}
    for r in runs:
        by_chapter.setdefault((r["chapter"], r["scale"]), {})[int(r["seed"])] = r
    lines = []
    for (chapter, scale), seeds in sorted(by_chapter.items()):
        order = sorted(seeds)
        lines += [f"### {chapter} ({scale})", "",
                  "| claim | " + " | ".join(f"seed {s}" for s in order) + " | holds | comparison | note |",
                  "|---|" + "---|" * len(order) + "---|---|---|"]
        ids: List[str] = []
        for s in order:
            ids += [c["id"] for c in seeds[s]["claims"] if c["id"] not in ids]
        for cid in ids:
            cells, n, first = [], 0, None
            for s in order:
                c = next((c for c in seeds[s]["claims"] if c["id"] == cid), None)
                if c is None:
                    cells.append("-")
                    continue
                first = first or c
                n += bool(c["holds"])
                value = f" ({_fmt(c['value'])} vs {_fmt(c['threshold'])})" if "op" in c else ""
                cells.append(("holds" if c["holds"] else "**fails**") + value)
            how = f"{first['text']}" + (f" [needs {first['op']}" + (f"; deciding: {first['deciding']}" if "deciding"
                                                                     in first else "") + "]" if "op" in first else "")
            lines.append(f"| `{cid}` | " + " | ".join(cells) + f" | {n}/{len(order)} | {_cell(how)} | "
                         f"{_cell(first.get('note', ''))} |")
        lines.append("")
    return "\n".join(lines)


def _cell(text: str) -> str:
    """Text for one Markdown table cell: pipes escaped, on one line."""
    return " ".join(str(text).split()).replace("|", "\\|")
