"""Per-chapter configuration builders: the notebook and the ``full``-scale dry run share this code.

Each chapter module exposes ``PARAMS`` (its parameter names), ``setups(params)`` and ``dry_run(params)``.
"""
import importlib

CHAPTER_MODULES = {"foundations": "foundations", "sitzmann2018": "sitzmann2018", "kleiner2025": "kleiner2025",
                   "dko": "dko"}


def check_names(chapter: str, params: dict, known) -> None:
    """Raise ``KeyError`` naming any parameter of ``params`` that chapter ``chapter`` does not know."""
    unknown = set(params) - set(known)
    if unknown:
        raise KeyError(f"unknown {chapter} parameters {sorted(unknown)}; known: {tuple(known)}")


def module(chapter: str):
    if chapter not in CHAPTER_MODULES:
        raise KeyError(f"no experiment module for chapter {chapter!r}; known: {sorted(CHAPTER_MODULES)}")
    return importlib.import_module(f"{__name__}.{CHAPTER_MODULES[chapter]}")


def dry_run_chapter(chapter: str, params: dict):
    """(report text, all required steps valid) for ``chapter`` at ``params``."""
    m = module(chapter)
    d = m.dry_run(params)
    return m.dry_run_report(d), d["all_required_valid"]
