"""``python -m papers dryrun CHAPTER --params FILE [CHAPTER --params FILE ...]``: build each chapter's configuration
from the given parameter file (YAML, read with ``yaml.safe_load``), check its sampling and estimate its cost,
without training. Exits 1 if a required step is invalid."""
import argparse
import sys
from pathlib import Path

import yaml

from . import dry_run_chapter


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m papers", description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    d = sub.add_parser("dryrun", help="dry-run chapters at the given parameter files")
    d.add_argument("runs", nargs="+", help="CHAPTER=FILE pairs, e.g. dko=params/dko/full.yaml")
    a = ap.parse_args(argv)
    ok = True
    for run in a.runs:
        chapter, sep, path = run.partition("=")
        if not sep:
            raise SystemExit(f"{run!r}: expected CHAPTER=FILE")
        p = yaml.safe_load(Path(path).read_text())
        if not isinstance(p, dict):
            raise SystemExit(f"{path}: not a YAML mapping of parameters")
        report, valid = dry_run_chapter(chapter, p)
        print(f"== {chapter} ({path})\n{report}\n")
        ok &= valid
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
