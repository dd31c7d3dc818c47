"""What the Makefile does with long runs (issue 16.5): a full run's checkpoints live outside _build, and
make clean spares what a full run made (its results and executed notebooks)."""
import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
RESUMABLE = sorted(p.parent.name for p in ROOT.glob("params/*/full.yaml")
                   if re.search(r"^checkpoint_dir:\s*\"?[^\"\s#]", p.read_text(), re.M))


def test_some_chapters_resume():
    assert len(RESUMABLE) >= 3, RESUMABLE


@pytest.mark.parametrize("chapter", RESUMABLE)
def test_full_run_checkpoints_outside_build(chapter):
    out = subprocess.run(["make", "-n", "chapter", f"CHAPTER={chapter}", "SCALE=full"], cwd=ROOT,
                         capture_output=True, text=True, check=True).stdout
    m = re.search(r"-p checkpoint_dir (\S+)", out)
    assert m, f"make chapter does not pass {chapter}'s checkpoint_dir:\n{out}"
    path = Path(m.group(1))
    assert path.is_absolute() and path == ROOT / "checkpoints" / chapter
    assert (ROOT / "_build") not in path.parents


def test_clean_spares_full_runs(tmp_path):
    shutil.copy(ROOT / "Makefile", tmp_path / "Makefile")
    files = ["_build/html/index.html", "_build/book/chapters/00_x.ipynb", "_build/results/x.tiny.json",
             "_build/results/x.full.json", "_build/runs/tiny/x.ipynb", "_build/runs/full/x.ipynb",
             "_build/lockenv/bin/python", "checkpoints/x/step_10.pt"]
    for f in files:
        (tmp_path / f).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / f).write_text("x")
    subprocess.run(["make", "clean"], cwd=tmp_path, capture_output=True, text=True, check=True)
    left = sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*") if p.is_file() and p.name != "Makefile")
    assert left == ["_build/results/x.full.json", "_build/runs/full/x.ipynb", "checkpoints/x/step_10.pt"]


def test_check_seeds_runs_each_chapter_with_each_seed_into_its_own_results():
    out = subprocess.run(["make", "-n", "check-seeds", "SEEDS=5 6", "CHAPTER=foundations"], cwd=ROOT,
                         capture_output=True, text=True, check=True).stdout
    assert out.count("-p seed $s") == 1 and "for s in 5 6" in out and "OPTLIB_RESULTS_DIR=" in out
    assert "-m papers seeds" in out and "_build/seeds/5" in out and "_build/seeds/6" in out


def test_a_parameter_value_is_read_by_the_yaml_parser(tmp_path):
    """make reads checkpoint_dir through ``python -m papers check --print`` (YAML quoting and comments handled by
    the parser, not by sed); an unknown key is refused."""
    import sys
    f = tmp_path / "full.yaml"
    src = (ROOT / "params" / "dko" / "full.yaml").read_text()
    f.write_text(re.sub(r"^checkpoint_dir:.*$", "checkpoint_dir: 'my runs/dko'  # a comment, quotes", src, flags=re.M))
    run = lambda *a: subprocess.run([sys.executable, "-m", "papers", "check", "dko", str(f), *a], cwd=ROOT,  # noqa: E731
                                    capture_output=True, text=True)
    assert run("--print", "checkpoint_dir").stdout == "my runs/dko\n"
    bad = run("--print", "checkpoint_dri")
    assert bad.returncode == 2 and "not a dko parameter" in bad.stderr
