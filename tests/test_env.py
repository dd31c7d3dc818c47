"""The environment the book is built in: pinned by requirements.lock, and JupyterLab opening a chapter's percent
``.py`` as a notebook (issue 16.3 and 16.8)."""
import json
import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def _lines(path):
    for raw in path.read_text().splitlines():
        line = raw.split("#", 1)[0].strip()
        if line:
            yield line


def lock():
    """{canonical name: version} from requirements.lock."""
    out = {}
    for line in _lines(ROOT / "requirements.lock"):
        m = re.fullmatch(r"([A-Za-z0-9_.\-]+)==([^\s;]+)", line)
        assert m, f"requirements.lock: '{line}' is not an exact pin (name==version)"
        out[canonicalize_name(m.group(1))] = m.group(2)
    return out


def test_lock_satisfies_requirements():
    """Every direct dependency is in the lock, at a version its range allows (a lock made from an older
    requirements.txt fails here: run 'make lock')."""
    pins = lock()
    for line in _lines(ROOT / "requirements.txt"):
        req = Requirement(line)
        name = canonicalize_name(req.name)
        assert name in pins, f"{req.name} is in requirements.txt but not in requirements.lock: run 'make lock'"
        assert req.specifier.contains(Version(pins[name]), prereleases=True), \
            f"requirements.lock has {req.name}=={pins[name]}, outside requirements.txt's '{req.specifier}'"
    assert pins["torch"] == "2.13.0"


def test_installed_environment_is_the_lock():
    """What runs the book is what the lock says (make venv installs the lock): each pinned package is installed
    at exactly its version (torch's build label, +cpu or +cu..., is the installer's choice)."""
    wrong = []
    for name, version in lock().items():
        try:
            have = metadata.version(name)
        except metadata.PackageNotFoundError:
            wrong.append(f"{name} missing (lock: {version})")
            continue
        if Version(have).public != Version(version).public:
            wrong.append(f"{name} {have} (lock: {version})")
    assert not wrong, "the environment differs from requirements.lock (run 'make venv'): " + "; ".join(wrong)


def test_lab_opens_chapter_as_notebook(tmp_path):
    """make lab's settings make a chapter's .py open as a notebook, the jupytext extension is installed, and a
    Jupyter server started as make lab starts it serves a chapter's percent .py as a notebook whose cells
    include the tagged parameters cell."""
    overrides = json.loads((ROOT / "book" / "lab-overrides.json").read_text())
    viewers = overrides["@jupyterlab/docmanager-extension:plugin"]["defaultViewers"]
    assert viewers["python"] == "Jupytext Notebook"
    installed = Path(sys.prefix) / "share" / "jupyter" / "lab" / "settings" / "overrides.json"
    assert installed.exists() and json.loads(installed.read_text()) == overrides, \
        f"{installed} is not book/lab-overrides.json: run 'make venv'"
    assert (Path(sys.prefix) / "share" / "jupyter" / "labextensions" / "jupyterlab-jupytext").is_dir()

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    token = "optlib-test"
    env = dict(os.environ, JUPYTER_CONFIG_DIR=str(tmp_path / "config"), JUPYTER_RUNTIME_DIR=str(tmp_path / "rt"))
    proc = subprocess.Popen(
        [str(BIN / "jupyter"), "server", "--no-browser", "--ip=127.0.0.1", f"--port={port}",
         f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={ROOT / 'book' / 'chapters'}"]
        + (["--allow-root"] if hasattr(os, "geteuid") and os.geteuid() == 0 else []),
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    try:
        name = sorted(p.name for p in (ROOT / "book" / "chapters").glob("*.py"))[0]
        url = f"http://127.0.0.1:{port}/api/contents/{name}?type=notebook&content=1&token={token}"
        deadline = time.time() + 60
        while True:
            try:
                with urllib.request.urlopen(url, timeout=5) as r:
                    model = json.load(r)
                break
            except OSError:
                if proc.poll() is not None:
                    err = proc.stderr.read().decode(errors="replace")[-2000:]
                    raise AssertionError(f"jupyter server exited: {err}")
                if time.time() > deadline:
                    raise AssertionError("jupyter server did not answer in 60 s")
                time.sleep(0.5)
        assert model["type"] == "notebook"
        cells = model["content"]["cells"]
        assert len(cells) > 5
        assert any("parameters" in c["metadata"].get("tags", []) for c in cells)
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
