"""``python -m papers run``: a chapter's notebook under papermill with a checked parameter file, alone and under
torchrun (every process runs it; only process 0 writes the notebook and the results)."""
import json
import os
import shutil
import subprocess
import sys

import pytest

from conftest import ROOT


def _run(cmd, tmp_path, **env):
    e = {**os.environ, "OPTLIB_RESULTS_DIR": str(tmp_path / "results"), **env}
    return subprocess.run(cmd, cwd=ROOT, env=e, capture_output=True, text=True, timeout=900)


def test_run_refuses_unknown_parameters_before_running(tmp_path):
    r = _run([sys.executable, "-m", "papers", "run", "foundations", "params/foundations/tiny.yaml",
              str(tmp_path / "nb.ipynb"), "-p", "sead", "1"], tmp_path)
    assert r.returncode == 2 and "sead" in r.stderr
    assert not (tmp_path / "nb.ipynb").exists()


@pytest.mark.skipif(shutil.which("torchrun", path=os.path.dirname(sys.executable)) is None,
                    reason="torchrun is not installed beside this Python")
def test_run_under_torchrun_writes_once(tmp_path):
    """Chapter 00 under torchrun with two processes: the executed notebook and one results file, from process 0,
    the same verdicts as the chapter's own tiny run records (its claims do not depend on the process)."""
    torchrun = os.path.join(os.path.dirname(sys.executable), "torchrun")
    out = tmp_path / "run" / "foundations.ipynb"
    r = _run([torchrun, "--standalone", "--nproc_per_node=2", "-m", "papers", "run", "foundations",
              "params/foundations/tiny.yaml", str(out), "-p", "seed", "0"], tmp_path)
    assert r.returncode == 0, r.stderr[-2000:]
    nb = json.loads(out.read_text())
    assert nb["metadata"]["papermill"]["parameters"]["seed"] == 0
    assert not any(o.get("output_type") == "error" for c in nb["cells"] for o in c.get("outputs", []))
    files = list((tmp_path / "results").glob("*.json"))
    assert [f.name for f in files] == ["foundations.tiny.json"]
    claims = json.loads(files[0].read_text())["claims"]
    assert claims and all(c["holds"] for c in claims if c["id"] != "speed")  # speed: timing on a shared CPU
