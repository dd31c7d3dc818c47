"""``python -m papers dryrun CHAPTER=FILE [CHAPTER=FILE ...]``: build each chapter's configuration from the given
parameter file (YAML, checked by :func:`papers.read_param_file`), check its sampling and estimate its cost,
without training. Exits 1 if a required step is invalid.

``python -m papers check CHAPTER FILE``: check a parameter file before papermill runs the chapter with it
(unknown or, outside tiny, missing parameters; size; no YAML aliases). Exits 2 with the reason. With
``--print KEY`` it then prints the file's value of KEY (how the Makefile reads ``checkpoint_dir``).

``[torchrun --nproc_per_node=N] python -m papers run CHAPTER FILE OUT.ipynb [-p NAME VALUE ...]``: run a chapter's
notebook with the parameter file (checked as above) under papermill, as ``make chapter`` does. Under torchrun every
process runs the notebook, its kernel inheriting the process group's environment; a chapter whose long loops are
sharded (chapter 05's designs: each process takes its share of the fields, the gradients summed over the
processes) then does them N times faster, the rest once per process. Only process 0 writes ``OUT.ipynb`` and the
chapter's results.

``python -m papers seeds DIR [DIR ...]``: every claim of the results in the given folders (one folder per seed,
e.g. ``_build/results`` and ``_build/seeds/1``), side by side, as a Markdown table (``make check-seeds``)."""
import argparse
import sys

from . import check_names, dry_run_chapter, module, read_param_file


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m papers", description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    d = sub.add_parser("dryrun", help="dry-run chapters at the given parameter files")
    d.add_argument("runs", nargs="+", help="CHAPTER=FILE pairs, e.g. dko=params/dko/full.yaml")
    c = sub.add_parser("check", help="check a parameter file for a chapter")
    c.add_argument("chapter")
    c.add_argument("file")
    c.add_argument("--print", dest="key", metavar="KEY",
                   help="after the check, print the file's value of KEY (nothing if it is empty or null)")
    sd = sub.add_parser("seeds", help="tabulate claims across results folders of different seeds")
    sd.add_argument("dirs", nargs="+")
    r = sub.add_parser("run", help="run a chapter's notebook with a parameter file (under torchrun: every process)")
    r.add_argument("chapter")
    r.add_argument("file")
    r.add_argument("out", help="the executed notebook (written by process 0 only)")
    r.add_argument("-p", dest="extra", nargs=2, action="append", default=[], metavar=("NAME", "VALUE"),
                   help="a parameter over the file's (a YAML value)")
    r.add_argument("--cwd", help="the kernel's working folder (default: the output's)")
    a = ap.parse_args(argv)
    if a.cmd == "run":
        return run_chapter(a.chapter, a.file, a.out, a.extra, a.cwd)
    if a.cmd == "seeds":
        from optlib.report import load_results, seed_table
        runs = [r for d in a.dirs for r in load_results(d) if r["scale"] == "tiny"]
        print(seed_table(runs))
        return 0
    if a.cmd == "check":
        try:
            p = read_param_file(a.chapter, a.file)
        except (KeyError, ValueError, FileNotFoundError) as e:
            print(f"parameter file refused: {e.args[0] if e.args else e}", file=sys.stderr)
            return 2
        if a.key:
            if a.key not in p and a.key not in module(a.chapter).PARAMS:
                print(f"{a.key!r} is not a {a.chapter} parameter", file=sys.stderr)
                return 2
            print(p.get(a.key) or "")
        return 0
    ok = True
    for run in a.runs:
        chapter, sep, path = run.partition("=")
        if not sep:
            raise SystemExit(f"{run!r}: expected CHAPTER=FILE")
        try:
            p = read_param_file(chapter, path)
        except (KeyError, ValueError, FileNotFoundError) as e:
            print(f"{run}: {e.args[0] if e.args else e}", file=sys.stderr)
            return 2
        report, valid = dry_run_chapter(chapter, p)
        print(f"== {chapter} ({path})\n{report}\n")
        ok &= valid
    return 0 if ok else 1


def run_chapter(chapter: str, path, out, extra=(), cwd=None) -> int:
    """``python -m papers run`` (module docstring). Returns 2 if the parameters are refused."""
    import os
    from pathlib import Path

    import jupytext
    import papermill
    import yaml
    try:
        p = read_param_file(chapter, path)
        over = {k: yaml.safe_load(v) for k, v in extra}
        check_names(chapter, over, module(chapter).PARAMS)
    except (KeyError, ValueError, FileNotFoundError) as e:
        print(f"parameters refused: {e.args[0] if e.args else e}", file=sys.stderr)
        return 2
    src = sorted(Path(__file__).resolve().parents[1].glob(f"book/chapters/*_{chapter}.py"))
    if len(src) != 1:
        print(f"no chapter source for {chapter!r}", file=sys.stderr)
        return 2
    import tempfile

    from optlib.report import RESULTS_ENV
    rank = int(os.environ.get("RANK", "0"))
    out = Path(out).resolve()
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as scratch:
        if rank != 0:  # the other processes' results (the same chapter's) go nowhere: the kernel inherits this
            os.environ[RESULTS_ENV] = scratch
        papermill.execute_notebook(jupytext.read(src[0]), str(out) if rank == 0 else None, parameters={**p, **over},
                                   kernel_name="python3", cwd=cwd or str(out.parent), progress_bar=rank == 0)
    return 0


if __name__ == "__main__":
    sys.exit(main())
