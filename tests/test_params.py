"""Parameter files: every key is a parameter of its notebook, tiny.yaml equals the notebook defaults, the
chapter files follow the naming scheme, and every full.yaml passes its dry run (no training)."""
import ast
import subprocess
import sys
from pathlib import Path

import jupytext
import pytest
import yaml

import papers as experiments

ROOT = Path(__file__).resolve().parents[1]
CHAPTER_IDS = ["foundations", "sitzmann2018", "kleiner2025", "dko", "ho2024", "yang2024"]
CHAPTERS = sorted((ROOT / "book" / "chapters").glob("*.py"))


def notebook_parameters(path: Path) -> dict:
    nb = jupytext.read(path)
    cells = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(cells) == 1, f"{path.name} must have exactly one cell tagged 'parameters'"
    out = {}
    for node in ast.parse(cells[0].source).body:
        assert isinstance(node, ast.Assign) and len(node.targets) == 1, f"{path.name}: parameters cell holds only assignments"
        out[node.targets[0].id] = ast.literal_eval(node.value)
    return out


def chapter_id(path: Path) -> str:
    return path.stem.split("_", 1)[1]


def test_chapters_exist_and_are_named():
    assert CHAPTERS, "no chapters in book/chapters"
    for p in CHAPTERS:
        num, cid = p.stem.split("_", 1)
        assert num.isdigit() and len(num) == 2, p.name
        assert cid in CHAPTER_IDS, f"{p.name}: chapter id {cid!r} not in {CHAPTER_IDS}"


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_param_files_match_notebook(path):
    params = notebook_parameters(path)
    assert "seed" in params and "scale" in params, f"{path.name}: every chapter has seed and scale parameters"
    cid = chapter_id(path)
    for scale in ("tiny", "full"):
        f = ROOT / "params" / cid / f"{scale}.yaml"
        assert f.is_file(), f"missing {f}"
        values = yaml.safe_load(f.read_text())
        unknown = set(values) - set(params)
        assert not unknown, f"{f}: keys {sorted(unknown)} are not parameters of {path.name} (papermill would ignore them)"
        assert values["scale"] == scale
        if scale == "tiny":
            assert values == params, f"{f} must equal the notebook's defaults (the defaults are the tiny set)"


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_full_dry_run(path):
    cid = chapter_id(path)
    mod = experiments.module(cid)
    nb_params = notebook_parameters(path)
    assert set(mod.PARAMS) == set(nb_params), "paper module and notebook must declare the same parameters"
    full = yaml.safe_load((ROOT / "params" / cid / "full.yaml").read_text())
    report, valid = experiments.dry_run_chapter(cid, {**nb_params, **full})
    assert valid, report
    d = mod.dry_run({**nb_params, **full})
    assert d["peak_bytes"] < 40 * 2 ** 30, "full configuration must fit a 40 GB GPU"


def test_unknown_parameter_is_rejected():
    from papers import foundations
    p = yaml.safe_load((ROOT / "params" / "foundations" / "tiny.yaml").read_text())
    with pytest.raises(KeyError, match="unknown foundations parameters"):
        foundations.setups({**p, "airy_nn": 3})


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_every_full_set_names_every_parameter(path):
    cid = chapter_id(path)
    p = experiments.read_param_file(cid, ROOT / "params" / cid / "full.yaml")
    assert set(p) == set(notebook_parameters(path))


def test_a_parameter_file_is_checked_before_papermill_sees_it(tmp_path):
    full = (ROOT / "params" / "foundations" / "full.yaml").read_text()
    f = tmp_path / "p.yaml"
    f.write_text(full + "airy_nn: 3\n")  # a misspelt key: papermill would only log it
    with pytest.raises(KeyError, match=r"p\.yaml: unknown foundations parameters \['airy_nn'\]"):
        experiments.read_param_file("foundations", f)
    f.write_text("\n".join(ln for ln in full.splitlines() if not ln.startswith("rs_n:")) + "\n")
    with pytest.raises(KeyError, match=r"missing \['rs_n'\]"):  # the tiny default would be used silently
        experiments.read_param_file("foundations", f)
    tiny = yaml.safe_load((ROOT / "params" / "foundations" / "tiny.yaml").read_text())
    f.write_text("scale: tiny\nseed: 1\n")  # a tiny set may override only some defaults
    assert experiments.read_param_file("foundations", f) == {"scale": "tiny", "seed": 1} and tiny["seed"] == 0
    f.write_text("a: &a [x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\nc: [*b, *b, *b]\n")
    with pytest.raises(ValueError, match="aliases"):  # a 'billion laughs' file
        experiments.read_param_file("foundations", f)
    f.write_text("seed: 0\n" + "#" * (experiments.MAX_PARAM_FILE_BYTES + 1) + "\n")
    with pytest.raises(ValueError, match="bytes"):
        experiments.read_param_file("foundations", f)
    f.write_text("- 1\n- 2\n")
    with pytest.raises(ValueError, match="mapping"):
        experiments.read_param_file("foundations", f)
    f.write_text(full + "airy_nn: 3\n")
    r = subprocess.run([sys.executable, "-m", "papers", "check", "foundations", str(f)], cwd=ROOT,
                       capture_output=True, text=True)
    assert r.returncode == 2 and "airy_nn" in r.stderr


def test_the_cli_works_outside_the_repository_and_names_a_misspelt_chapter(tmp_path):
    """``python -m papers`` from another folder (issue 14.8: a bare FileNotFoundError outside the repository root):
    a good file is checked, a misspelt chapter or a missing file exits 2 with one line naming it."""
    def cli(*args):
        return subprocess.run([sys.executable, "-m", "papers", *args], cwd=tmp_path, capture_output=True, text=True)
    good = ROOT / "params" / "foundations" / "tiny.yaml"
    r = cli("check", "foundations", str(good))
    assert r.returncode == 0, r.stderr
    r = cli("dryrun", f"fundations={good}")
    assert r.returncode == 2 and "'fundations'" in r.stderr and "foundations" in r.stderr and "Traceback" not in r.stderr
    r = cli("dryrun", "foundations=params/foundations/tiny.yaml")  # relative to the repository, not to the cwd
    assert r.returncode == 2 and "no parameter file params/foundations/tiny.yaml" in r.stderr
    r = cli("check", "foundation", str(good))
    assert r.returncode == 2 and "'foundation'" in r.stderr and "Traceback" not in r.stderr
