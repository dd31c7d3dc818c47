"""The book's paper-specific code: one module per chapter, named for its paper (set-ups built from the chapter's
parameters, the paper's own network assembly and metrics, its numbers, and the ``full``-scale dry run). It is
composed from :mod:`optlib` and imported by its chapter, the tests and the dry-run CLI; nothing in ``optlib``
imports it (the library stays paper-agnostic). Parameter files are read only by callers that are handed a
file: ``python -m papers dryrun CHAPTER --params FILE``.

Each module exposes ``PARAMS`` (its parameter names), ``check(params)``, ``dry_run(params)`` and
``dry_run_report(result)``.
"""
import importlib

CHAPTER_MODULES = {"foundations": "foundations", "sitzmann2018": "sitzmann2018", "kleiner2025": "kleiner2025",
                   "dko": "dko", "ho2024": "ho2024"}


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
