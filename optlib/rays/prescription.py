"""Lens prescriptions: a documented YAML/JSON format, and Zemax .zmx sequential files (import and export).

YAML/JSON format (lengths in ``units``, default mm; files are data: read with ``yaml.safe_load``)::

    name: cooke_triplet
    units: mm
    source: where the numbers come from
    object_medium: air            # optional
    sensor_distance: 37.352       # from the last surface to the sensor
    surfaces:                     # in order along +z; each row's thickness is the gap to the next surface
      - {R: 22.02643, thickness: 3.259, material: SK16, semi_diameter: 7.5}
      - {stop: true, thickness: 4.868, semi_diameter: 1.2}          # aperture stop (a plane)
      - {R: -18.38, k: -1.2, coeffs: [0, 5.3e-4], thickness: 1, material: air, semi_diameter: 7.5}

``R`` is the radius of curvature (omit, ``inf`` or 0 for a plane), ``k`` the conic, ``coeffs`` the even
asphere terms a2, a4, ... a12 (in units^(1 - 2i)). ``material`` is the medium after the surface (default air).
"""
from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Dict, List

import yaml

from .lens import SequentialLens

KNOWN_KEYS = {"R", "thickness", "material", "semi_diameter", "k", "coeffs", "stop"}
_UNITS = {"mm": 1e-3, "m": 1.0, "um": 1e-6, "cm": 1e-2}


def _rows(spec: Dict, where: str):
    if not isinstance(spec, dict) or "surfaces" not in spec:
        raise ValueError(f"{where}: a prescription is a mapping with a 'surfaces' list")
    rows = []
    for i, s in enumerate(spec["surfaces"]):
        if not isinstance(s, dict):
            raise ValueError(f"{where}: surface {i} must be a mapping, got {s!r}")
        unknown = set(s) - KNOWN_KEYS
        if unknown:
            raise ValueError(f"{where}: surface {i} has unknown keys {sorted(unknown)}; allowed {sorted(KNOWN_KEYS)}")
        for req in ("thickness", "semi_diameter"):
            if req not in s:
                raise ValueError(f"{where}: surface {i} lacks '{req}'")
        R = float(s.get("R", math.inf) or math.inf)
        t, sd = float(s["thickness"]), float(s["semi_diameter"])
        if t < 0 or sd <= 0:
            raise ValueError(f"{where}: surface {i}: thickness must be >= 0 and semi_diameter > 0 (got {t}, {sd})")
        if not math.isinf(R) and abs(R) < sd and not s.get("coeffs") and float(s.get("k", 0)) == 0:
            raise ValueError(f"{where}: surface {i}: a sphere of radius {R} cannot have semi-diameter {sd}")
        rows.append((R, t, s.get("material", "air"), sd, float(s.get("k", 0.0)),
                     tuple(float(a) for a in s.get("coeffs", ())), bool(s.get("stop", False))))
    return rows


def from_dict(spec: Dict, where: str = "prescription") -> SequentialLens:
    units = spec.get("units", "mm")
    if units not in _UNITS:
        raise ValueError(f"{where}: units must be one of {sorted(_UNITS)}, got {units!r}")
    if "sensor_distance" not in spec:
        raise ValueError(f"{where}: 'sensor_distance' (last surface to sensor) is required")
    lens = SequentialLens.from_rows(_rows(spec, where), float(spec["sensor_distance"]), _UNITS[units],
                                    spec.get("object_medium", "air"))
    lens.name = spec.get("name", where)
    lens.source = spec.get("source", "")
    return lens


def load(path) -> SequentialLens:
    """Read a ``.yaml``/``.yml``/``.json`` prescription or a Zemax ``.zmx`` file."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no lens file at {path}")
    if path.suffix.lower() == ".zmx":
        return read_zmx(path)
    text = path.read_text()
    try:
        spec = json.loads(text) if path.suffix.lower() == ".json" else yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError) as e:
        raise ValueError(f"{path}: not valid {path.suffix[1:]} ({e})") from e
    return from_dict(spec, str(path))


def library(name: str) -> SequentialLens:
    """A lens shipped with optlib: ``cooke_triplet``, ``singlet``, ``ho2024_aspheric6``."""
    p = Path(__file__).with_name("library") / f"{name}.yaml"
    if not p.is_file():
        names = sorted(q.stem for q in p.parent.glob("*.yaml"))
        raise KeyError(f"no lens {name!r} in the library; available: {names}")
    return load(p)


# --- Zemax ---------------------------------------------------------------------------------------------------
def _read_text(path: Path) -> str:
    raw = path.read_bytes()
    if raw[:2] in (b"\xff\xfe", b"\xfe\xff"):
        return raw.decode("utf-16")
    return raw.decode("utf-8", errors="replace")


def read_zmx(path) -> SequentialLens:
    """Import a sequential Zemax file: STANDARD and EVENASPH surfaces (CURV, CONI, PARM 1..6 = a2..a12),
    DISZ thicknesses, GLAS by catalogue name, DIAM semi-diameters, STOP; UNIT MM/M/CM/IN. The object
    surface (0) and the image surface (last) bound the system; the last DISZ before the image is the sensor
    distance."""
    path = Path(path)
    units = 1e-3
    surfs: List[Dict] = []
    cur = None
    for ln, line in enumerate(_read_text(path).splitlines(), 1):
        tok = line.split()
        if not tok:
            continue
        key = tok[0]
        try:
            if key == "UNIT":
                units = {"MM": 1e-3, "M": 1.0, "CM": 1e-2, "IN": 0.0254}[tok[1]]
            elif key == "SURF":
                cur = {"type": "STANDARD", "curv": 0.0, "disz": 0.0, "glass": "air", "diam": None, "conic": 0.0,
                       "parm": {}, "stop": False}
                surfs.append(cur)
            elif cur is None:
                continue
            elif key == "TYPE":
                cur["type"] = tok[1]
            elif key == "CURV":
                cur["curv"] = float(tok[1])
            elif key == "DISZ":
                cur["disz"] = math.inf if tok[1].upper().startswith("INF") else float(tok[1])
            elif key == "GLAS":
                cur["glass"] = tok[1]
            elif key == "DIAM":
                cur["diam"] = float(tok[1])
            elif key == "CONI":
                cur["conic"] = float(tok[1])
            elif key == "PARM":
                cur["parm"][int(tok[1])] = float(tok[2])
            elif key == "STOP":
                cur["stop"] = True
        except (IndexError, ValueError, KeyError) as e:
            raise ValueError(f"{path}:{ln}: cannot parse {line.strip()!r} ({e})") from e
    if len(surfs) < 3:
        raise ValueError(f"{path}: a sequential file needs an object, at least one surface and an image surface")
    body = surfs[1:-1]
    for i, s in enumerate(body, 1):
        if s["type"] not in ("STANDARD", "EVENASPH"):
            raise ValueError(f"{path}: surface {i} has type {s['type']}; only STANDARD and EVENASPH are supported")
        if s["diam"] is None or s["diam"] <= 0:
            raise ValueError(f"{path}: surface {i} has no semi-diameter (DIAM)")
    rows = []
    for s in body[:-1] + body[-1:]:
        coeffs = tuple(s["parm"].get(j, 0.0) for j in range(1, 7)) if s["type"] == "EVENASPH" else ()
        while coeffs and coeffs[-1] == 0.0:
            coeffs = coeffs[:-1]
        R = 1.0 / s["curv"] if s["curv"] else math.inf
        rows.append((R, s["disz"], s["glass"] if s["glass"] else "air", s["diam"], s["conic"], coeffs, s["stop"]))
    sensor = rows[-1][1]
    rows[-1] = rows[-1][:1] + (0.0,) + rows[-1][2:]
    lens = SequentialLens.from_rows(rows, sensor, units)
    lens.name, lens.source = path.stem, f"Zemax file {path.name}"
    return lens


def write_zmx(lens: SequentialLens, path, units: float = 1e-3) -> Path:
    """Export a lens as a minimal sequential Zemax file (UNIT MM), readable by :func:`read_zmx`."""
    lines = ["VERS 140000 0 0", "MODE SEQ", "UNIT MM X W X CM MR CPMM",
             "SURF 0", "  TYPE STANDARD", "  CURV 0.0", "  DISZ INFINITY"]
    zs = [float(s.z) for s in lens.surfaces] + [float(lens.sensor_z)]
    for i, (s, m) in enumerate(zip(lens.surfaces, lens.materials), 1):
        asph = bool(s.coeffs)
        lines += [f"SURF {i}", f"  TYPE {'EVENASPH' if asph else 'STANDARD'}"]
        if s.stop:
            lines.append("  STOP")
        lines.append(f"  CURV {float(s.c) * units:.17g}")
        if m.name != "air":
            lines.append(f"  GLAS {m.name} 0 0 1.5 50 0 0 0 0 0 0")
        lines.append(f"  CONI {float(s.k):.17g}")
        for j, a in enumerate(s.coeffs, 1):
            lines.append(f"  PARM {j} {float(a) / units ** (1 - 2 * j):.17g}")
        lines.append(f"  DISZ {(zs[i] - zs[i - 1]) / units:.17g}")
        lines.append(f"  DIAM {s.semi_diameter / units:.17g} 0 0 0 1 \"\"")
    lines += [f"SURF {len(lens.surfaces) + 1}", "  TYPE STANDARD", "  CURV 0.0", "  DISZ 0", "  DIAM 1 0 0 0 1 \"\""]
    path = Path(path)
    path.write_text("\n".join(lines) + "\n")
    return path
