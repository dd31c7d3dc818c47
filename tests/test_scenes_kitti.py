"""Procedural road scenes (exact depth from the camera geometry) and the KITTI depth loader on a small
fixture written in the official layout."""
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from optlib import data
from optlib.scenes import road_scene, road_scenes


def _textures():
    g = torch.Generator().manual_seed(0)
    return torch.rand(3, 3, 32, 32, generator=g)


def test_ground_depth_follows_the_camera_geometry_and_objects_stand_on_it():
    H, W, f, hc = 96, 320, 240.0, 1.65
    rgb, depth = road_scene(_textures(), H, W, torch.Generator().manual_seed(1), n_objects=(0, 0), focal=f,
                            cam_height=hc)
    assert rgb.shape == (3, H, W) and depth.shape == (1, H, W)
    assert float(rgb.min()) >= 0 and float(rgb.max()) <= 1
    d = depth[0, :, 0]  # the left column: ground and sky only
    rows = torch.nonzero(d < 80).flatten()
    y_h = float(rows[-1]) - hc * f / float(d[rows[-1]])  # horizon from the bottom row
    for y in rows[-20:]:
        assert float(d[y]) == pytest.approx(hc * f / (float(y) - y_h), rel=1e-5)
    assert torch.all(d[rows[-20:]][1:] < d[rows[-20:]][:-1])  # nearer towards the bottom
    # one plane (same random stream for the road): it stands on the road, so the ground just below its
    # foot is at the plane's depth, and it is drawn at the size its depth implies
    checked = 0
    for seed in range(4):
        _, d0 = road_scene(_textures(), H, W, torch.Generator().manual_seed(seed), n_objects=(0, 0), focal=f)
        _, d1 = road_scene(_textures(), H, W, torch.Generator().manual_seed(seed), n_objects=(1, 1), focal=f)
        mask = d1[0] != d0[0]
        if not bool(mask.any()):
            continue
        ground = torch.nonzero(d0[0, :, 0] < 80).flatten()
        y_h = float(ground[-1]) - hc * f / float(d0[0, ground[-1], 0])
        dp = float(d1[0][mask].unique()[0])
        assert d1[0][mask].unique().numel() == 1
        foot = int(torch.nonzero(mask.any(1)).max())
        if foot + 1 < H:
            col = int(torch.nonzero(mask[foot]).flatten()[0])
            z_below = float(d0[0, foot + 1, col])
            step = hc * f / (foot + 1 - y_h) - hc * f / (foot + 2 - y_h)
            assert abs(z_below - dp) <= 1.5 * abs(step) + 1e-6
            checked += 1
    assert checked >= 2


def test_scenes_are_reproducible_and_bounded():
    a = road_scenes(_textures(), 3, 48, 160, torch.Generator().manual_seed(5))
    b = road_scenes(_textures(), 3, 48, 160, torch.Generator().manual_seed(5))
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    assert a[0].shape == (3, 3, 48, 160) and a[1].shape == (3, 1, 48, 160)
    assert float(a[1].min()) > 0 and float(a[1].max()) <= 80.0


def _write_kitti(root, split="val", drive="2011_09_26_drive_0002_sync", frames=("0000000005", "0000000006")):
    gt_dir = root / "data_depth_annotated" / split / drive / "proj_depth" / "groundtruth" / "image_02"
    rgb_dir = root / "raw" / drive[:10] / drive / "image_02" / "data"
    gt_dir.mkdir(parents=True)
    rgb_dir.mkdir(parents=True, exist_ok=True)  # both splits share KITTI raw
    rng = np.random.default_rng(0)
    depths = []
    for fr in frames:
        dep = (rng.uniform(1, 80, (6, 10)) * 256).astype(np.uint16)
        dep[0, :] = 0  # no measurement
        Image.fromarray(dep).save(gt_dir / f"{fr}.png")
        Image.fromarray(rng.integers(0, 255, (6, 10, 3), dtype=np.uint8)).save(rgb_dir / f"{fr}.png")
        depths.append(dep)
    return depths


def test_kitti_loader_reads_the_official_layout(tmp_path):
    depths = _write_kitti(tmp_path)
    pairs = data.kitti_depth_pairs("val", root=tmp_path)
    assert [p[1].stem for p in pairs] == ["0000000005", "0000000006"]
    rgb, depth, valid = data.load_kitti_depth(pairs[0])
    assert rgb.shape == (3, 6, 10) and depth.shape == (1, 6, 10)
    assert torch.allclose(depth[0], torch.from_numpy(depths[0].astype(np.float32) / 256))
    assert not bool(valid[0, 0].any()) and bool(valid[0, 1:].all())
    with pytest.raises(data.DataNotFoundError, match="kitti"):
        data.kitti_depth_pairs("train", root=tmp_path / "nowhere")


def test_kitti_loader_refuses_malformed_files(tmp_path):
    _write_kitti(tmp_path)
    gt = sorted((tmp_path / "data_depth_annotated").rglob("*.png"))[0]
    Image.fromarray(np.zeros((6, 10, 3), dtype=np.uint8)).save(gt)  # an RGB image where depth belongs
    with pytest.raises(data.DataFormatError, match="16-bit"):
        data.load_kitti_depth(data.kitti_depth_pairs("val", root=tmp_path)[0])
    rgb = sorted((tmp_path / "raw").rglob("*.png"))[1]
    rgb.unlink()
    with pytest.raises(data.DataNotFoundError, match="no RGB frame"):
        data.kitti_depth_pairs("val", root=tmp_path)


def test_dko_chapter_trains_and_evaluates_on_kitti_layout(tmp_path, monkeypatch):
    """The full scale's data path: KITTI frames read lazily, resized, sparse depth kept sparse."""
    import yaml
    import papers.dko as X
    import optlib as ol
    for split in ("train", "val"):
        _write_kitti(tmp_path / "kitti", split=split)
    monkeypatch.setenv("OPTLIB_DATA", str(tmp_path))
    p = yaml.safe_load((Path(__file__).resolve().parents[1] / "params" / "dko" / "tiny.yaml").read_text())
    p.update(dataset="kitti", image_h=64, image_w=64, n_train=2, n_test=2)
    train_set, test_set = X.make_data(p)
    assert train_set[0].shape == (2, 3, 64, 64) and len(test_set[1]) == 2
    batch = train_set[1][torch.tensor([1, 0])]
    assert batch.shape == (2, 1, 64, 64) and bool((batch[:, :, :10] == 0).all())  # the unmeasured top row
    net = X.make_net(p, 0)
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    g = torch.Generator().manual_seed(0)

    def step(i):
        idx = torch.randint(0, 2, (2,), generator=g)
        return X.depth_loss(net(train_set[0][idx]), train_set[1][idx], p["max_depth"])

    ol.train.fit(step, net, opt, 2, progress=False)
    m = X.evaluate(net, test_set)
    assert 0 < m["abs_rel"] < 100 and 0 <= m["delta1"] <= 1
