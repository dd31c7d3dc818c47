"""Loaders on small generated fixtures: IDX, Quick, Draw! .npy, photos, Imagenette tar; clear errors."""
import contextlib
import functools
import gzip
import http.server
import io
import struct
import tarfile
import threading
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from optlib import data


def _write_idx(path, arr, gz=True):
    arr = np.asarray(arr, dtype=np.uint8)
    raw = bytes([0, 0, 0x08, arr.ndim]) + struct.pack(">" + "I" * arr.ndim, *arr.shape) + arr.tobytes()
    (gzip.open if gz else open)(path, "wb").write(raw)


REAL_MIRROR = data.mirror_root()  # the project's data mirror, if this machine has it (before any fixture)


@pytest.fixture
def mirror(tmp_path, monkeypatch):
    monkeypatch.setattr(data, "IDX_SHA256", {})  # the fixtures are small fakes under the real file names
    monkeypatch.setenv(data.MIRROR_ENV, str(tmp_path / "mirror"))
    monkeypatch.setenv(data.CACHE_ENV, str(tmp_path / "cache"))
    (tmp_path / "mirror").mkdir()
    return tmp_path / "mirror"


def test_idx_roundtrip_and_mnist_loader(mirror):
    d = mirror / "mnist"
    d.mkdir()
    x = np.random.default_rng(0).integers(0, 255, (5, 28, 28))
    _write_idx(d / "t10k-images-idx3-ubyte.gz", x)
    _write_idx(d / "t10k-labels-idx1-ubyte.gz", np.arange(5))
    xi, yi = data.load_mnist("test", download=False)
    assert xi.shape == (5, 28, 28) and torch.equal(xi, torch.from_numpy(x.astype(np.uint8)))
    assert yi.tolist() == [0, 1, 2, 3, 4]
    xi, _ = data.load_mnist("test", n=3, download=False)
    assert xi.shape[0] == 3


def test_mnist_train_falls_back_to_first10k_npz(mirror):
    d = mirror / "mnist"
    d.mkdir()
    np.savez(d / "mnist_train_first10k.npz", x=np.zeros((7, 28, 28), np.uint8), y=np.arange(7, dtype=np.uint8),
             index=np.arange(7, dtype=np.int32))
    x, y = data.load_mnist("train", n=5, download=False)
    assert x.shape == (5, 28, 28) and y.tolist() == [0, 1, 2, 3, 4]
    with pytest.raises(data.DataNotFoundError):
        data.load_mnist("train", n=20000, download=False)


def test_malformed_idx_is_a_clear_error(tmp_path):
    p = tmp_path / "bad.idx"
    p.write_bytes(b"\x00\x00\x08\x03" + struct.pack(">III", 10, 28, 28) + b"\x00" * 100)
    with pytest.raises(data.DataFormatError, match="needs 7840"):
        data.read_idx(p)
    p.write_bytes(b"PK\x03\x04junk")
    with pytest.raises(data.DataFormatError, match="magic"):
        data.read_idx(p)


def test_missing_data_names_files_and_fix(mirror):
    with pytest.raises(data.DataNotFoundError) as e:
        data.load_fashion_mnist("test", download=False)
    msg = str(e.value)
    assert "t10k-images-idx3-ubyte.gz" in msg and data.MIRROR_ENV in msg and "fashion_mnist" in msg
    with pytest.raises(ValueError, match="split"):
        data.load_mnist("validation")


def test_quickdraw_npy_fixture(mirror):
    d = mirror / "quickdraw"
    d.mkdir()
    rng = np.random.default_rng(1)
    for cls in ("cat", "dog"):
        np.save(d / f"{cls}.npy", rng.integers(0, 255, (12, 784)).astype(np.uint8))
    x, y = data.load_quickdraw(["cat", "dog"], n_per_class=5, download=False)
    assert x.shape == (10, 28, 28) and y.tolist() == [0] * 5 + [1] * 5
    np.save(d / "bad.npy", np.zeros((3, 10), np.float32))
    with pytest.raises(data.DataFormatError, match="784"):
        data.load_quickdraw(["bad"], n_per_class=1, download=False)
    np.save(d / "obj.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(data.DataFormatError):  # pickled objects are refused, never unpickled
        data.load_quickdraw(["obj"], n_per_class=1, download=False)


def test_photos_and_crops(mirror):
    d = mirror / "my_photos"
    d.mkdir()
    for i in range(2):
        Image.fromarray(np.full((40, 50, 3), 60 * i, np.uint8)).save(d / f"kodim{i + 1:02d}.png")
    paths = data.photo_paths("my_photos", download=False)
    assert len(paths) == 2
    (mirror / "kodak").mkdir()  # a known set is used whole or not at all (2 of Kodak's 24 are not Kodak)
    for p in paths:
        (mirror / "kodak" / p.name).write_bytes(p.read_bytes())
    with pytest.raises(data.DataNotFoundError, match="kodak"):
        data.photo_paths("kodak", download=False)
    crops = data.random_crops(paths, 16, 5, torch.Generator().manual_seed(0))
    assert crops.shape == (5, 3, 16, 16) and float(crops.max()) <= 1.0
    with pytest.raises(ValueError, match="smaller"):
        data.random_crops(paths, 64, 1)
    with pytest.raises(data.DataNotFoundError):
        data.photo_paths("nonexistent_folder", download=False)


def test_imagenette_tar_fixture(mirror):
    d = mirror / "imagenette"
    d.mkdir()
    with tarfile.open(d / "imagenette_val_224.tar", "w") as tar:
        for wnid in ("n01440764", "n03888257"):
            for k in range(2):
                buf = io.BytesIO()
                Image.fromarray(np.full((30, 40, 3), 100, np.uint8)).save(buf, format="JPEG")
                info = tarfile.TarInfo(f"val/{wnid}/img{k}.JPEG")
                info.size = len(buf.getvalue())
                tar.addfile(info, io.BytesIO(buf.getvalue()))
    x, y = data.load_imagenette("val", size=24)
    assert x.shape == (4, 3, 24, 24)
    assert sorted(y.tolist()) == [0, 0, 9, 9]


def test_pinned_hashes_hold_for_the_mirror_and_catch_a_changed_file(tmp_path):
    if REAL_MIRROR is None or not (REAL_MIRROR / "fashion_mnist").is_dir():
        pytest.skip("no data mirror on this machine")
    for (ds, name), sha in data.IDX_SHA256.items():
        data.read_idx(REAL_MIRROR / ds / f"{name}.gz", sha)  # every pinned file of the mirror verifies
    # one changed label in a re-compressed copy is caught (the hash is of the content, not the .gz bytes)
    raw = bytearray(gzip.open(REAL_MIRROR / "mnist" / "t10k-labels-idx1-ubyte.gz").read())
    raw[100] = (raw[100] + 1) % 10
    bad = tmp_path / "t10k-labels-idx1-ubyte.gz"
    with gzip.open(bad, "wb", compresslevel=1) as f:
        f.write(bytes(raw))
    with pytest.raises(data.DataFormatError, match="pinned"):
        data.read_idx(bad, data.IDX_SHA256[("mnist", "t10k-labels-idx1-ubyte")])


def test_bad_data_inputs_are_refused_by_name(tmp_path, mirror):
    # a gzip bomb: a tiny .gz whose header declares 2^40 bytes is refused before anything is inflated
    p = tmp_path / "bomb.gz"
    with gzip.open(p, "wb") as f:
        f.write(bytes([0, 0, 0x08, 3]) + struct.pack(">III", 1 << 20, 1 << 10, 1 << 10))
        f.write(b"\x00" * (1 << 20))
    with pytest.raises(data.DataFormatError, match="more than the"):
        data.read_idx(p)
    # a declared size whose product overflows 32 bits
    q = tmp_path / "over.idx"
    q.write_bytes(bytes([0, 0, 0x08, 2]) + struct.pack(">II", 0xFFFFFFFF, 0xFFFFFFFF) + b"\x00" * 16)
    with pytest.raises(data.DataFormatError, match="more than the"):
        data.read_idx(q)
    # trailing bytes after the declared body
    r = tmp_path / "long.idx"
    r.write_bytes(bytes([0, 0, 0x08, 1]) + struct.pack(">I", 4) + b"\x00" * 5)
    with pytest.raises(data.DataFormatError, match=r"4\+ bytes"):
        data.read_idx(r)
    # n must be a positive count (n=-5 returned 9,995 images)
    d = mirror / "mnist"
    d.mkdir()
    _write_idx(d / "t10k-images-idx3-ubyte.gz", np.zeros((5, 28, 28)))
    _write_idx(d / "t10k-labels-idx1-ubyte.gz", np.arange(5))
    for n in (-5, 0, 2.5, True):
        with pytest.raises(ValueError, match="positive integer"):
            data.load_mnist("test", n=n, download=False)
    # the fallback .npz with mismatched counts
    np.savez(d / "mnist_train_first10k.npz", x=np.zeros((7, 28, 28), np.uint8), y=np.arange(6, dtype=np.uint8))
    with pytest.raises(data.DataFormatError, match="7 images .* 6 labels"):
        data.load_mnist("train", n=5, download=False)
    # names never leave the mirror
    for bad in ("../mnist", "..", "a/b"):
        with pytest.raises(ValueError, match="plain name"):
            data.photo_paths(bad, download=False)
    with pytest.raises(ValueError, match="plain name"):
        data.find_file("mnist", ["../../etc/passwd"], download_ok=False)


def test_image_bombs_and_corrupt_members_name_the_file(tmp_path, mirror, monkeypatch):
    from PIL import Image as PILImage
    png = tmp_path / "big.png"
    PILImage.new("L", (300, 300)).save(png)
    monkeypatch.setattr(PILImage, "MAX_IMAGE_PIXELS", 10_000)  # 90,000 pixels: a 'bomb' at this limit
    with pytest.raises(data.DataFormatError, match=r"big\.png: refused, too many pixels"):
        data.load_image(png)
    monkeypatch.setattr(PILImage, "MAX_IMAGE_PIXELS", 60_000)  # between the limit and twice it: Pillow only warns
    with pytest.raises(data.DataFormatError, match="too many pixels"):
        data.load_image(png)
    monkeypatch.undo()
    monkeypatch.setattr(data, "IDX_SHA256", {})
    monkeypatch.setenv(data.MIRROR_ENV, str(mirror))
    monkeypatch.setenv(data.CACHE_ENV, str(tmp_path / "cache"))
    bad = tmp_path / "cut.png"
    bad.write_bytes(png.read_bytes()[:60])
    with pytest.raises(data.DataFormatError, match=r"cut\.png: not a readable image"):
        data.load_image(bad)
    d = mirror / "imagenette"
    d.mkdir()
    with tarfile.open(d / "imagenette_val_224.tar", "w") as tar:
        blob = b"not a jpeg"
        info = tarfile.TarInfo("imagenette/val/n01440764/x.JPEG")
        info.size = len(blob)
        tar.addfile(info, io.BytesIO(blob))
    with pytest.raises(data.DataFormatError, match=r"imagenette_val_224\.tar\[imagenette/val/n01440764/x\.JPEG\]"):
        data.load_imagenette("val", n_per_class=1)
    (d / "imagenette_val_224.tar").write_bytes((d / "imagenette_val_224.tar").read_bytes()[:700])
    with pytest.raises(data.DataFormatError, match="imagenette_val_224.tar"):
        data.load_imagenette("val", n_per_class=1)


@contextlib.contextmanager
def _http_server(root):
    """A local HTTP server on 127.0.0.1 serving the folder ``root``; yields its base URL."""
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    handler.log_message = lambda *a, **k: None
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{srv.server_address[1]}/"
    finally:
        srv.shutdown()
        srv.server_close()


@pytest.fixture
def photo_server(tmp_path):
    """A local HTTP server on 127.0.0.1 serving three fixture photographs under ``set/``."""
    root = tmp_path / "served"
    (root / "set").mkdir(parents=True)
    for i in range(3):
        Image.fromarray(np.full((8, 8, 3), 40 * i, np.uint8)).save(root / "set" / f"p{i}.png")
    with _http_server(root) as base:
        yield root, base


def test_photo_sets_download_verified_resume_and_refuse_a_changed_file(mirror, photo_server, monkeypatch):
    """With no mirror, a known photo set is downloaded into the cache and each file checked against its pinned
    sha256; an interrupted download is completed; a file whose bytes changed is refused by name, nothing kept."""
    import hashlib
    served, base = photo_server
    pins = {f"p{i}.png": hashlib.sha256((served / "set" / f"p{i}.png").read_bytes()).hexdigest() for i in range(3)}
    monkeypatch.setitem(data.PHOTO_SETS, "kodak", data.PhotoSet(base, "set/{}", dict(pins)))
    paths = data.photo_paths("kodak")
    cache = data.cache_root() / "kodak"
    assert [p.name for p in paths] == ["p0.png", "p1.png", "p2.png"] and all(p.parent == cache for p in paths)
    assert all(p.read_bytes() == (served / "set" / p.name).read_bytes() for p in paths)
    (cache / "p1.png").unlink()  # an interrupted download: the set is completed, not returned short
    assert [p.name for p in data.photo_paths("kodak")] == ["p0.png", "p1.png", "p2.png"]
    (cache / "p2.png").unlink()
    Image.fromarray(np.full((8, 8, 3), 7, np.uint8)).save(served / "set" / "p2.png")  # the source changed
    with pytest.raises(data.DataNotFoundError, match="checksum mismatch") as e:
        data.photo_paths("kodak")
    assert "p2.png" in str(e.value) and not (cache / "p2.png").exists()
    assert not list(cache.glob("*.part"))  # no partial file left
    with pytest.raises(data.DataNotFoundError, match="download failed"):  # and with no server at all
        monkeypatch.setitem(data.PHOTO_SETS, "kodak", data.PhotoSet("http://127.0.0.1:9/", "set/{}", dict(pins)))
        data.photo_paths("kodak")


def test_the_pinned_kodak_hashes_are_the_mirrors():
    """The download pins equal the shared mirror's manifest (its files came from the same commit)."""
    import re
    manifest = Path(__file__).resolve().parents[2] / "shared" / "data" / "MANIFEST.md"
    if not manifest.is_file():
        pytest.skip("no shared/data/MANIFEST.md beside the repository")
    listed = dict(re.findall(r"\| kodak/(kodim\d\d\.png) \| \S+ \| `([0-9a-f]{64})`", manifest.read_text()))
    assert listed == data.KODAK_SHA256 and len(listed) == 24
    assert set(data.PHOTO_SETS["kodak"].files) == set(listed)


def test_fingerprint_accepts_a_re_encoding_and_refuses_another_photograph(tmp_path):
    """The Wikimedia photographs' pin (size and 8x8 block means, no sha256 could be taken of the PNGs) accepts
    the same pixels through a lossy re-encoding and refuses another photograph, a crop and a mirror image."""
    if REAL_MIRROR is None or not (REAL_MIRROR / "wikimedia_photos").is_dir():
        pytest.skip("no data mirror on this machine")
    pins = data.PHOTO_SETS["wikimedia_photos"].fingerprints
    assert len(pins) == 49
    src = REAL_MIRROR / "wikimedia_photos" / "001.jpg"
    data.check_fingerprint(src, pins["001.png"])
    im = Image.open(src).convert("RGB")
    im.save(tmp_path / "a.png")  # lossless copy of the mirror's pixels
    im.save(tmp_path / "b.jpg", quality=90)  # a second lossy generation
    for ok in ("a.png", "b.jpg"):
        data.check_fingerprint(tmp_path / ok, pins["001.png"])
    Image.open(REAL_MIRROR / "wikimedia_photos" / "002.jpg").resize(im.size).save(tmp_path / "c.png")
    im.transpose(Image.Transpose.FLIP_LEFT_RIGHT).save(tmp_path / "d.png")
    im.crop((0, 0, im.width - 8, im.height)).save(tmp_path / "e.png")
    for bad in ("c.png", "d.png", "e.png"):
        with pytest.raises(data.DataFormatError, match="not the pinned photograph"):
            data.check_fingerprint(tmp_path / bad, pins["001.png"])
    for name, fp in pins.items():  # and every pin is the mirror's copy
        data.check_fingerprint(REAL_MIRROR / "wikimedia_photos" / name.replace(".png", ".jpg"), fp)


def test_photo_set_with_fingerprints_refuses_a_substituted_download(mirror, photo_server, monkeypatch):
    served, base = photo_server
    fps = {f"p{i}.png": data.image_fingerprint(served / "set" / f"p{i}.png") for i in range(3)}
    monkeypatch.setitem(data.PHOTO_SETS, "kodak", data.PhotoSet(base, "set/{}", dict.fromkeys(fps), fingerprints=fps))
    assert len(data.photo_paths("kodak")) == 3
    (data.cache_root() / "kodak" / "p1.png").unlink()
    Image.fromarray(np.full((8, 8, 3), 200, np.uint8)).save(served / "set" / "p1.png")  # another picture
    with pytest.raises(data.DataNotFoundError, match="fingerprint mismatch"):
        data.photo_paths("kodak")
    assert not (data.cache_root() / "kodak" / "p1.png").exists() and not list(data.cache_root().rglob("*.part"))


@pytest.fixture
def imagenette_server(tmp_path, monkeypatch):
    """Two JPEGs per Imagenette class served on 127.0.0.1 as ``val/<wnid>/<name>``, with their sha256 pinned."""
    import hashlib
    root = tmp_path / "served"
    pins = []
    for c, wnid in enumerate(sorted(data.IMAGENETTE_CLASSES)):
        (root / "val" / wnid).mkdir(parents=True)
        for k in range(2):
            p = root / "val" / wnid / f"ILSVRC2012_val_{c}{k}.JPEG"
            Image.fromarray(np.full((30, 40, 3), 20 * c + 5 * k, np.uint8)).save(p, format="JPEG")
            pins.append(f"{hashlib.sha256(p.read_bytes()).hexdigest()}  val/{wnid}/{p.name}")
    (tmp_path / "pins").mkdir()
    (tmp_path / "pins" / data.IMAGENETTE_VAL_PINS).write_text("\n".join(pins) + "\n")
    monkeypatch.setattr(data, "PINS_DIR", tmp_path / "pins")
    with _http_server(root) as base:
        monkeypatch.setattr(data, "IMAGENETTE_FILES_URL", base)
        yield root


def test_imagenette_pinned_files_download_verified_and_equal_the_tar(mirror, imagenette_server):
    """With no tar, the validation files are fetched one by one, each checked against its pin, and give the
    same tensors as the tar that holds the same bytes; a changed file is refused, nothing kept."""
    served = imagenette_server
    with pytest.raises(data.DataNotFoundError, match="10 of the 10 validation files"):
        data.load_imagenette("val", n_per_class=1, size=24)  # no download asked for
    x, y = data.load_imagenette("val", n_per_class=1, size=24, download=True)
    assert x.shape == (10, 3, 24, 24) and y.tolist() == list(range(10))
    cache = data.cache_root() / "imagenette"
    assert len(list(cache.rglob("*.JPEG"))) == 10
    (mirror / "imagenette").mkdir()
    with tarfile.open(mirror / "imagenette" / "imagenette_val_224.tar", "w") as tar:
        for p in sorted(served.rglob("*.JPEG")):
            tar.add(p, arcname=str(p.relative_to(served)))
    xt, yt = data.load_imagenette("val", n_per_class=1, size=24)
    assert torch.equal(x, xt) and torch.equal(y, yt)
    (mirror / "imagenette" / "imagenette_val_224.tar").unlink()
    victim = sorted(served.rglob("*1.JPEG"))[3]  # a second file of class 3, not yet downloaded
    Image.fromarray(np.full((30, 40, 3), 99, np.uint8)).save(victim, format="JPEG")
    with pytest.raises(data.DataNotFoundError, match="checksum mismatch"):
        data.load_imagenette("val", n_per_class=2, size=24, download=True)
    assert not (cache / victim.relative_to(served)).exists() and not list(cache.rglob("*.part"))
    assert len(list(cache.rglob("*.JPEG"))) == 19  # the others were kept: a re-run fetches only what is missing


def test_the_imagenette_pins_are_the_mirrors_bytes():
    import hashlib
    tar_path = None if REAL_MIRROR is None else REAL_MIRROR / "imagenette" / "imagenette_val_224.tar"
    if tar_path is None or not tar_path.is_file():
        pytest.skip("no data mirror on this machine")
    pins = data._read_pins(data.IMAGENETTE_VAL_PINS)
    with tarfile.open(tar_path) as tar:
        got = {m.name: hashlib.sha256(tar.extractfile(m).read()).hexdigest() for m in tar if m.isfile()}
    assert got == pins and len(pins) == 3925


def test_load_square_scales_the_shorter_side_and_keeps_the_centre(tmp_path):
    """load_square: a 60 x 30 image, dark left half and bright right half, at 30 px keeps its centre 30 columns
    unscaled (15 dark, 15 bright, exactly); at 15 px, scaled by 1/2 to 30 x 15, its columns 7-21: the edge falls
    between the 8th and 9th; grey and RGB; bad sizes refused."""
    from PIL import Image as PILImage
    a = np.zeros((30, 60), np.uint8)
    a[:, 30:] = 255
    png = tmp_path / "halves.png"
    PILImage.fromarray(a).save(png)
    sq = data.load_square(png, 30, "L")
    assert sq.shape == (1, 30, 30)
    assert float(sq[..., :15].abs().max()) == 0.0 and float(sq[..., 15:].min()) == 1.0
    half = data.load_square(png, 15)
    assert half.shape == (3, 15, 15)
    assert float(half[..., :7].abs().max()) < 0.01 and float(half[..., 9:].min()) > 0.99
    for bad in (0, 2.5, True):
        with pytest.raises(ValueError, match="load_square"):
            data.load_square(png, bad)
