"""Chapter 04's full-scale PSF maps: ``python -m papers.ho2024 maps`` under torchrun writes the maps the chapter
would compute, and the chapter's reader refuses maps of other settings."""
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml

import papers.ho2024 as H

ROOT = Path(__file__).resolve().parents[1]
SMALL = {"map_ref_n": 3, "map_n": [1, 3], "render_psf_n": 9, "map_n_side": 160}


def small_params(tmp_path):
    p = {**yaml.safe_load((ROOT / "params" / "ho2024" / "tiny.yaml").read_text()), **SMALL}
    path = tmp_path / "small.yaml"
    path.write_text(yaml.safe_dump(p))
    return p, path


def test_maps_entry_point_under_torchrun_writes_the_chapters_maps(tmp_path):
    p, path = small_params(tmp_path)
    env = dict(os.environ, OMP_NUM_THREADS="1")
    out = tmp_path / "ckpt"
    r = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "--master_port=29549",
                        "-m", "papers.ho2024", "maps", "--params", str(path), "--out", str(out), "--no-progress"],
                       env=env, cwd=ROOT, timeout=300, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "18 PSFs by 2 process(es)" in r.stdout
    file = out / "tiny_render_maps.pt"
    saved = torch.load(file, weights_only=True)
    assert set(saved["maps"]) == {"singlet", "Cooke x0.1"}
    # the chapter's call, in this process: reads the file (the same tensors), and computing afresh agrees
    read, pitch = H.render_maps(H.setup(p), p, checkpoint=file)
    fresh, pitch2 = H.render_maps(H.setup(p), p)
    assert pitch == pitch2
    for k in fresh:
        assert read[k].shape == (3, 3, 9, 9) and torch.equal(read[k], saved["maps"][k])
        assert float((read[k] - fresh[k]).abs().max() / fresh[k].abs().max()) < 1e-12
    # maps of other settings are refused, naming both keys; a setting outside the maps' key is not
    with pytest.raises(ValueError, match="other settings.*map_n_side"):
        H.render_maps(H.setup(p), {**p, "map_n_side": 176}, checkpoint=file)
    H.render_maps(H.setup(p), {**p, "recon_steps": 7}, checkpoint=file)


def test_maps_entry_point_refuses_a_bad_parameter_file(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("map_ref_n: 3\nmap_sides: 4\n")
    r = subprocess.run([sys.executable, "-m", "papers.ho2024", "maps", "--params", str(bad), "--out", str(tmp_path)],
                       cwd=ROOT, timeout=120, capture_output=True, text=True)
    assert r.returncode != 0 and "map_sides" in r.stderr and not list(tmp_path.glob("*.pt"))
