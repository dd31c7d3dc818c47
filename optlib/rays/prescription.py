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
#: even-asphere terms a2 .. a16 (Zemax PARM 1..8)
MAX_COEFFS = 8


def _finite(where: str, i: int, key: str, value, allow_inf: bool = False) -> float:
    """``value`` as a float, or a ValueError naming the file, the surface and the key."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise ValueError(f"{where}: surface {i}: {key} must be a number, got {value!r}")
    try:
        v = float(value)
    except ValueError:
        raise ValueError(f"{where}: surface {i}: {key} must be a number, got {value!r}") from None
    if math.isnan(v) or (math.isinf(v) and not allow_inf):
        raise ValueError(f"{where}: surface {i}: {key} must be finite, got {value!r}")
    return v


def _rows(spec: Dict, where: str, first: int = 0):
    """Validated prescription rows ``(R, thickness, material, semi_diameter, k, coeffs, stop)`` of a spec: the one
    path every format (YAML, JSON, Zemax) goes through, each error naming the file and the surface."""
    if not isinstance(spec, dict) or not isinstance(spec.get("surfaces"), list) or not spec["surfaces"]:
        raise ValueError(f"{where}: a prescription is a mapping with a non-empty 'surfaces' list")
    rows = []
    for i, s in enumerate(spec["surfaces"], first):
        if not isinstance(s, dict):
            raise ValueError(f"{where}: surface {i} must be a mapping, got {s!r}")
        unknown = set(s) - KNOWN_KEYS
        if unknown:
            raise ValueError(f"{where}: surface {i} has unknown keys {sorted(unknown)}; allowed {sorted(KNOWN_KEYS)}")
        for req in ("thickness", "semi_diameter"):
            if req not in s:
                raise ValueError(f"{where}: surface {i} lacks '{req}'")
        R = s.get("R", math.inf)
        R = math.inf if R is None else _finite(where, i, "R", R, allow_inf=True)  # inf (or 0): a plane
        R = math.inf if R == 0 else R
        if isinstance(s.get("R"), str) and math.isinf(R) and s["R"].strip().lower() not in ("inf", "infinity", "+inf"):
            raise ValueError(f"{where}: surface {i}: R must be a number or inf, got {s['R']!r}")
        t, sd = _finite(where, i, "thickness", s["thickness"]), _finite(where, i, "semi_diameter", s["semi_diameter"])
        k = _finite(where, i, "k", s.get("k", 0.0))
        coeffs = s.get("coeffs", ())
        if not isinstance(coeffs, (list, tuple)) or len(coeffs) > MAX_COEFFS:
            raise ValueError(f"{where}: surface {i}: coeffs must be a list of at most {MAX_COEFFS} numbers (a2 .. a16), "
                             f"got {coeffs!r}")
        coeffs = tuple(_finite(where, i, f"coeffs[{j}]", a) for j, a in enumerate(coeffs))
        stop = s.get("stop", False)
        if not isinstance(stop, bool):
            raise ValueError(f"{where}: surface {i}: stop must be true or false, got {stop!r}")
        material = s.get("material", "air")
        if not isinstance(material, str) or not material.strip():
            raise ValueError(f"{where}: surface {i}: material must be a catalogue name, got {material!r}")
        if t < 0 or sd <= 0:
            raise ValueError(f"{where}: surface {i}: thickness must be >= 0 and semi_diameter > 0 (got {t}, {sd})")
        if not math.isinf(R) and abs(R) < sd and not coeffs and k == 0:
            raise ValueError(f"{where}: surface {i}: a sphere of radius {R} cannot have semi-diameter {sd}")
        rows.append((R, t, material, sd, k, coeffs, stop))
    return rows


def _spec_number(where: str, key: str, value) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(float(value)):
        raise ValueError(f"{where}: {key} must be a finite number, got {value!r}")
    return float(value)


def from_dict(spec: Dict, where: str = "prescription", first: int = 0) -> SequentialLens:
    """A lens from a prescription mapping (the YAML/JSON format of the module docstring); ``where`` names
    the source in every error, ``first`` the number of its first surface (1 for a Zemax file)."""
    if not isinstance(spec, dict):
        raise ValueError(f"{where}: a prescription is a mapping with a 'surfaces' list, got {type(spec).__name__}")
    units = spec.get("units", "mm")
    if units not in _UNITS:
        raise ValueError(f"{where}: units must be one of {sorted(_UNITS)}, got {units!r}")
    if "sensor_distance" not in spec:
        raise ValueError(f"{where}: 'sensor_distance' (last surface to sensor) is required")
    sensor = _spec_number(where, "sensor_distance", spec["sensor_distance"])
    if sensor < 0:
        raise ValueError(f"{where}: sensor_distance must be >= 0, got {sensor}")
    rows = _rows(spec, where, first)
    try:
        lens = SequentialLens.from_rows(rows, sensor, _UNITS[units], spec.get("object_medium", "air"))
    except (KeyError, ValueError) as e:
        raise ValueError(f"{where}: {e}") from None
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
    text = _read_text(path)
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
    """The text of ``path``: UTF-8, or UTF-16 with or without a byte-order mark (Zemax writes UTF-16 LE)."""
    raw = path.read_bytes()
    if raw[:2] in (b"\xff\xfe", b"\xfe\xff"):
        return raw.decode("utf-16")
    head = raw[:400]
    if len(head) >= 4 and head.count(b"\x00") > len(head) // 4:  # ASCII as UTF-16: every other byte is NUL
        return raw.decode("utf-16-le" if head[1::2].count(b"\x00") > head[0::2].count(b"\x00") else "utf-16-be")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise ValueError(f"{path}: not a text file in UTF-8 or UTF-16 ({e})") from None


def read_zmx(path) -> SequentialLens:
    """Import a sequential Zemax file: STANDARD and EVENASPH surfaces (CURV, CONI, PARM 1..8 = a2..a16),
    DISZ thicknesses, GLAS by catalogue name, DIAM semi-diameters, STOP; UNIT MM/M/CM/IN. The object
    surface (0) and the image surface (last) bound the system; the last DISZ before the image is the sensor
    distance. The surfaces then go through the same validation as a YAML prescription. A file whose last
    surface has a non-zero thickness or no DISZ at all, or whose image space is a glass (a truncated file:
    the "image" would be a lens surface), is refused."""
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
                cur = {"type": "STANDARD", "curv": 0.0, "disz": None, "glass": "air", "diam": None, "conic": 0.0,
                       "parm": {}, "stop": False, "line": ln}
                surfs.append(cur)
            elif cur is None:
                continue
            elif key == "TYPE":
                cur["type"] = tok[1]
            elif key == "CURV":
                cur["curv"] = _finite(str(path), len(surfs) - 1, f"CURV (line {ln})", tok[1])
            elif key == "DISZ":
                cur["disz"] = math.inf if tok[1].upper().startswith("INF") else float(tok[1])
            elif key == "GLAS":
                cur["glass"] = tok[1]
            elif key == "DIAM":
                cur["diam"] = _finite(str(path), len(surfs) - 1, f"DIAM (line {ln})", tok[1])
            elif key == "CONI":
                cur["conic"] = _finite(str(path), len(surfs) - 1, f"CONI (line {ln})", tok[1])
            elif key == "PARM":
                j = int(tok[1])
                if j < 1 or j > MAX_COEFFS:
                    raise ValueError(f"PARM {j}: only PARM 1..{MAX_COEFFS} (a2 .. a16) are supported")
                cur["parm"][j] = _finite(str(path), len(surfs) - 1, f"PARM {j} (line {ln})", tok[2])
            elif key == "STOP":
                cur["stop"] = True
        except (IndexError, KeyError) as e:
            raise ValueError(f"{path}:{ln}: cannot parse {line.strip()!r} ({e})") from e
        except ValueError as e:
            msg = str(e)
            raise ValueError(msg if msg.startswith(str(path)) else f"{path}:{ln}: cannot parse {line.strip()!r} ({e})") from None
    if len(surfs) < 3:
        raise ValueError(f"{path}: a sequential file needs an object, at least one surface and an image surface")
    image = surfs[-1]
    if image["disz"] is None or image["disz"] != 0:
        what = "no DISZ" if image["disz"] is None else f"a thickness DISZ {image['disz']}"
        raise ValueError(f"{path}: the last surface (line {image['line']}, taken as the image) has {what}: the file "
                         "looks truncated (an image surface has DISZ 0)")
    if len(surfs) > 2 and surfs[-2]["glass"] not in ("", "air", "AIR"):
        raise ValueError(f"{path}: the light reaches the image surface (line {image['line']}) inside "
                         f"{surfs[-2]['glass']}: the file looks truncated (a camera's image space is air)")
    body = surfs[1:-1]
    rows = []
    for i, s in enumerate(body, 1):
        if s["type"] not in ("STANDARD", "EVENASPH"):
            raise ValueError(f"{path}: surface {i} has type {s['type']}; only STANDARD and EVENASPH are supported")
        if s["diam"] is None:
            raise ValueError(f"{path}: surface {i} has no semi-diameter (DIAM)")
        if s["disz"] is None:
            raise ValueError(f"{path}: surface {i} has no thickness (DISZ)")
        if s["parm"] and s["type"] != "EVENASPH":
            raise ValueError(f"{path}: surface {i} has PARM terms but type {s['type']}; use EVENASPH")
        coeffs = [s["parm"].get(j, 0.0) for j in range(1, MAX_COEFFS + 1)]
        while coeffs and coeffs[-1] == 0.0:
            coeffs.pop()
        rows.append({"R": 1.0 / s["curv"] if s["curv"] else math.inf, "thickness": s["disz"],
                     "material": s["glass"] or "air", "semi_diameter": s["diam"], "k": s["conic"],
                     "coeffs": coeffs, "stop": s["stop"]})
    sensor = rows[-1]["thickness"]
    rows[-1]["thickness"] = 0.0
    unit = {1e-3: "mm", 1.0: "m", 1e-2: "cm"}.get(units)
    if unit is None:  # inches: convert to mm so that the one validation path applies
        for r in rows:
            r["R"], r["thickness"], r["semi_diameter"] = r["R"] * 25.4, r["thickness"] * 25.4, r["semi_diameter"] * 25.4
            r["coeffs"] = [a * 25.4 ** (1 - 2 * j) for j, a in enumerate(r["coeffs"], 1)]
        sensor, unit = sensor * 25.4, "mm"
    lens = from_dict({"units": unit, "sensor_distance": sensor, "surfaces": rows}, str(path), first=1)
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
