"""The book's paper-specific code: one module per chapter, named for its paper (set-ups built from the chapter's
parameters, the paper's own network assembly and metrics, its numbers, and the ``full``-scale dry run). It is
composed from :mod:`optlib` and imported by its chapter, the tests and the dry-run CLI; nothing in ``optlib``
imports it (the library stays paper-agnostic). Parameter files are read only by callers that are handed a
file: ``python -m papers dryrun CHAPTER --params FILE``.

Each module exposes ``PARAMS`` (its parameter names), ``check(params)``, ``dry_run(params)`` and
``dry_run_report(result)``.
"""
import importlib
from pathlib import Path

#: a parameter file larger than this is refused before it is parsed (bytes)
MAX_PARAM_FILE_BYTES = 64 * 1024

CHAPTER_MODULES = {"foundations": "foundations", "sitzmann2018": "sitzmann2018", "kleiner2025": "kleiner2025",
                   "dko": "dko", "ho2024": "ho2024", "yang2024": "yang2024"}


def check_names(chapter: str, params: dict, known) -> None:
    """Raise ``KeyError`` naming any parameter of ``params`` that chapter ``chapter`` does not know."""
    unknown = set(params) - set(known)
    if unknown:
        raise KeyError(f"unknown {chapter} parameters {sorted(unknown)}; known: {tuple(known)}")


def module(chapter: str):
    if chapter not in CHAPTER_MODULES:
        raise KeyError(f"no paper module for chapter {chapter!r}; known: {sorted(CHAPTER_MODULES)}")
    return importlib.import_module(f"{__name__}.{CHAPTER_MODULES[chapter]}")


def dry_run_chapter(chapter: str, params: dict):
    """(report text, all required steps valid) for ``chapter`` at ``params``."""
    m = module(chapter)
    d = m.dry_run(params)
    return m.dry_run_report(d), d["all_required_valid"]


def read_param_file(chapter: str, path, complete: bool = None) -> dict:
    """The parameters in the YAML file ``path`` for ``chapter``, checked before papermill sees them: at most
    :data:`MAX_PARAM_FILE_BYTES`, no YAML anchors or aliases (a 'billion laughs' file would hang the run), a
    mapping whose every key is a parameter of the chapter (an unknown key is named: papermill would only log
    it) and, when ``complete`` (default: any scale but ``tiny``, whose values are the notebook's defaults),
    naming every parameter (a missing key would silently keep the tiny default)."""
    import yaml
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no parameter file {path}")
    size = path.stat().st_size
    if size > MAX_PARAM_FILE_BYTES:
        raise ValueError(f"{path}: {size} bytes; a parameter file is at most {MAX_PARAM_FILE_BYTES} bytes")
    text = path.read_text()
    try:
        if any(isinstance(t, (yaml.AliasToken, yaml.AnchorToken)) for t in yaml.scan(text)):
            raise ValueError(f"{path}: YAML anchors and aliases are not allowed in a parameter file")
        p = yaml.safe_load(text)
    except yaml.YAMLError as e:
        raise ValueError(f"{path}: not valid YAML ({e})") from None
    if not isinstance(p, dict):
        raise ValueError(f"{path}: not a YAML mapping of parameters")
    known = module(chapter).PARAMS
    unknown = sorted(set(p) - set(known))
    if unknown:
        raise KeyError(f"{path}: unknown {chapter} parameters {unknown}; known: {tuple(known)}")
    if complete is None:
        complete = p.get("scale", "tiny") != "tiny"
    missing = [k for k in known if k not in p]
    if complete and missing:
        raise KeyError(f"{path}: a {p.get('scale')!r} parameter set must name every parameter (a missing one keeps the "
                       f"notebook's tiny default); missing {missing}")
    return p
