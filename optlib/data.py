"""Dataset loaders with their real download code and an offline local-mirror option.

Where files are looked for, in order:
1. ``$OPTLIB_DATA/<dataset>/`` -- a local mirror folder (CI points it at ``../shared/data``);
2. ``$OPTLIB_CACHE/<dataset>/`` (default ``~/.cache/optlib``) -- where downloads are kept;
3. the official URL, downloaded atomically into the cache (only with ``download=True``).
If all fail, :class:`DataNotFoundError` names the files, the folders searched and the fix.

Files are data, never code: IDX and .npy are parsed with explicit checks (``allow_pickle=False``), images
with Pillow; archives are read member by member without extracting.
"""
from __future__ import annotations

import gzip
import hashlib
import io
import os
import struct
import tarfile
import tempfile
import urllib.request
from pathlib import Path
from typing import List, Optional, Sequence, Tuple

import numpy as np
import torch

MIRROR_ENV = "OPTLIB_DATA"
CACHE_ENV = "OPTLIB_CACHE"


class DataNotFoundError(FileNotFoundError):
    """A dataset file is missing; the message says where it was looked for and how to provide it."""


class DataFormatError(ValueError):
    """A dataset file exists but is malformed; the message names the file and what is wrong."""


def mirror_root() -> Optional[Path]:
    v = os.environ.get(MIRROR_ENV)
    return Path(v).expanduser() if v else None


def cache_root() -> Path:
    return Path(os.environ.get(CACHE_ENV, Path.home() / ".cache" / "optlib")).expanduser()


def _search_dirs(dataset: str, root=None) -> List[Path]:
    dirs = []
    if root is not None:
        dirs.append(Path(root))
    m = mirror_root()
    if m is not None:
        dirs.append(m / dataset)
    dirs.append(cache_root() / dataset)
    return dirs


def download(url: str, dest: Path, sha256: Optional[str] = None, timeout: float = 60.0) -> Path:
    """Download ``url`` to ``dest`` atomically (temporary file, then rename); verify ``sha256`` if given."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=dest.name + ".", suffix=".part")
    try:
        h = hashlib.sha256()
        with os.fdopen(fd, "wb") as f, urllib.request.urlopen(url, timeout=timeout) as r:  # noqa: S310
            while True:
                chunk = r.read(1 << 20)
                if not chunk:
                    break
                h.update(chunk)
                f.write(chunk)
        if sha256 and h.hexdigest() != sha256:
            raise DataFormatError(f"checksum mismatch for {url}: got {h.hexdigest()}, expected {sha256}")
        os.replace(tmp, dest)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return dest


def find_file(dataset: str, names: Sequence[str], urls: Sequence[str] = (), root=None, download_ok: bool = True,
              sha256: Optional[str] = None) -> Path:
    """Return the first existing ``dataset/<name>`` in the search folders, else download, else raise.

    ``names`` are alternatives for one file (e.g. ``x.gz`` and ``x``); ``urls`` are download sources for
    ``names[0]``.
    """
    dirs = _search_dirs(dataset, root)
    for d in dirs:
        for n in names:
            p = d / n
            if p.is_file():
                return p
    errors = []
    if download_ok and urls:
        dest = cache_root() / dataset / names[0]
        for url in urls:
            try:
                return download(url, dest, sha256)
            except Exception as e:  # network down, 404, checksum
                errors.append(f"{url}: {e}")
    looked = ", ".join(str(d) for d in dirs)
    hint = (f"Put {names[0]} in a mirror folder and set {MIRROR_ENV} to its parent (files go in "
            f"${MIRROR_ENV}/{dataset}/), or allow a download")
    if urls:
        hint += f" from {urls[0]}"
    detail = ("; download failed: " + " | ".join(errors)) if errors else ""
    raise DataNotFoundError(f"{dataset}: none of {list(names)} found in [{looked}]. {hint}{detail}")


# --- IDX (MNIST family) -------------------------------------------------------------------------------
_IDX_TYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def read_idx(path) -> np.ndarray:
    """Read an IDX file (optionally gzipped) into an array, checking magic number, dims and length."""
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as f:
            raw = f.read()
    except (OSError, EOFError) as e:
        raise DataFormatError(f"{path}: cannot read ({e}); the file may be truncated or not gzip") from e
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _IDX_TYPES:
        raise DataFormatError(f"{path}: not an IDX file (bad magic number {raw[:4]!r})")
    ndim = raw[3]
    if ndim < 1 or len(raw) < 4 + 4 * ndim:
        raise DataFormatError(f"{path}: IDX header truncated")
    dims = struct.unpack(">" + "I" * ndim, raw[4:4 + 4 * ndim])
    dt = np.dtype(_IDX_TYPES[raw[2]])
    need = int(np.prod(dims)) * dt.itemsize
    body = raw[4 + 4 * ndim:]
    if len(body) != need:
        raise DataFormatError(f"{path}: IDX body has {len(body)} bytes, header {dims} needs {need}")
    return np.frombuffer(body, dtype=dt).reshape(dims)


_MNIST_URLS = ["https://ossci-datasets.s3.amazonaws.com/mnist/", "http://yann.lecun.com/exdb/mnist/"]
_FASHION_URLS = ["http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"]


def _idx_pair(dataset, split, urls, root, download_ok):
    prefix = "train" if split == "train" else "t10k"
    out = []
    for kind in ("images-idx3-ubyte", "labels-idx1-ubyte"):
        name = f"{prefix}-{kind}"
        p = find_file(dataset, [name + ".gz", name], [u + name + ".gz" for u in urls], root, download_ok)
        out.append(read_idx(p))
    x, y = out
    if x.shape[0] != y.shape[0]:
        raise DataFormatError(f"{dataset} {split}: {x.shape[0]} images but {y.shape[0]} labels")
    return x, y


def _check_split(split):
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")


def load_mnist(split: str = "train", n: Optional[int] = None, root=None, download: bool = True):
    """MNIST as ``(images uint8 (N, 28, 28), labels int64 (N,))`` tensors, the first ``n`` of ``split``.

    If the full training images are unavailable but the mirror holds ``mnist_train_first10k.npz`` (the first
    10,000 training images in original order) and ``n <= 10000``, that file is used.
    """
    _check_split(split)
    try:
        x, y = _idx_pair("mnist", split, _MNIST_URLS, root, download)
    except DataNotFoundError as e:
        if split != "train" or (n is not None and n > 10000):
            raise
        try:
            p = find_file("mnist", ["mnist_train_first10k.npz"], (), root, False)
        except DataNotFoundError:
            raise e
        with np.load(p, allow_pickle=False) as z:
            if "x" not in z or "y" not in z or z["x"].shape[1:] != (28, 28):
                raise DataFormatError(f"{p}: expected arrays x (N, 28, 28) and y (N,)")
            x, y = z["x"], z["y"]
    n = x.shape[0] if n is None else min(n, x.shape[0])
    return torch.from_numpy(np.array(x[:n])), torch.from_numpy(np.array(y[:n]).astype(np.int64))


def load_fashion_mnist(split: str = "train", n: Optional[int] = None, root=None, download: bool = True):
    """Fashion-MNIST (Zalando, MIT) as ``(images uint8 (N, 28, 28), labels (N,))``."""
    _check_split(split)
    x, y = _idx_pair("fashion_mnist", split, _FASHION_URLS, root, download)
    n = x.shape[0] if n is None else min(n, x.shape[0])
    return torch.from_numpy(np.array(x[:n])), torch.from_numpy(np.array(y[:n]).astype(np.int64))


# --- Quick, Draw! ---------------------------------------------------------------------------------------
QUICKDRAW_URL = "https://storage.googleapis.com/quickdraw_dataset/full/numpy_bitmap/{}.npy"
QUICKDRAW_PAPER_CLASSES = ["aircraft carrier", "banana", "cake", "diamond", "fish", "guitar", "hexagon", "key",
                           "microphone", "saxophone"]


def load_quickdraw(classes: Sequence[str] = QUICKDRAW_PAPER_CLASSES, n_per_class: int = 1000, root=None,
                   download: bool = True, offset: int = 0):
    """Quick, Draw! 28x28 bitmaps from the official per-class ``<class>.npy`` files ((N, 784) uint8).

    Returns ``(images uint8 (C*n, 28, 28), labels (C*n,))`` taking ``n_per_class`` drawings per class
    starting at ``offset``.
    """
    xs, ys = [], []
    for label, cls in enumerate(classes):
        names = [f"{cls}.npy", f"full_numpy_bitmap_{cls}.npy", f"{cls.replace(' ', '_')}.npy"]
        p = find_file("quickdraw", names, [QUICKDRAW_URL.format(cls.replace(" ", "%20"))], root, download)
        try:
            a = np.load(p, mmap_mode="r", allow_pickle=False)
        except ValueError as e:
            raise DataFormatError(f"{p}: not a plain .npy array ({e})") from e
        if a.ndim != 2 or a.shape[1] != 784 or a.dtype != np.uint8:
            raise DataFormatError(f"{p}: expected a (N, 784) uint8 array, got {a.shape} {a.dtype}")
        if a.shape[0] < offset + n_per_class:
            raise DataFormatError(f"{p}: has {a.shape[0]} drawings, need {offset + n_per_class}")
        xs.append(np.array(a[offset:offset + n_per_class]).reshape(-1, 28, 28))
        ys.append(np.full(n_per_class, label, dtype=np.int64))
    return torch.from_numpy(np.concatenate(xs)), torch.from_numpy(np.concatenate(ys))


# --- photos -----------------------------------------------------------------------------------------------
_PHOTO_EXT = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff"}
KODAK_URL = "http://r0k.us/graphics/kodak/kodak/kodim{:02d}.png"


def photo_paths(dataset: str = "kodak", root=None, download: bool = True) -> List[Path]:
    """Sorted image files of a photo folder: ``kodak``, ``wikimedia_photos`` or any folder name under the
    mirror/cache (or ``root``). Kodak can be downloaded; other folders must be present."""
    for d in _search_dirs(dataset, root):
        if d.is_dir():
            files = sorted(p for p in d.iterdir() if p.suffix.lower() in _PHOTO_EXT)
            if files:
                return files
    if dataset == "kodak" and download:
        return [find_file("kodak", [f"kodim{i:02d}.png"], [KODAK_URL.format(i)], root, True) for i in range(1, 25)]
    raise DataNotFoundError(f"photo folder {dataset!r}: no images in {[str(d) for d in _search_dirs(dataset, root)]}. "
                            f"Set {MIRROR_ENV} to a folder containing {dataset}/ with .png/.jpg files")


def load_image(path, mode: str = "RGB") -> torch.Tensor:
    """An image file as float tensor in [0, 1], ``(3, H, W)`` for RGB or ``(1, H, W)`` for L."""
    from PIL import Image
    try:
        with Image.open(path) as im:
            a = np.asarray(im.convert(mode), dtype=np.float32) / 255.0
    except OSError as e:
        raise DataFormatError(f"{path}: not a readable image ({e})") from e
    t = torch.from_numpy(a.copy())
    return t.permute(2, 0, 1) if t.dim() == 3 else t[None]


def random_crops(paths: Sequence[Path], size: int, n: int, generator: Optional[torch.Generator] = None,
                 mode: str = "RGB") -> torch.Tensor:
    """``n`` random ``size x size`` crops (float [0, 1], ``(n, C, size, size)``) from images cycled in order."""
    out = []
    cache = {}
    for i in range(n):
        p = paths[i % len(paths)]
        if p not in cache:
            cache[p] = load_image(p, mode)
        img = cache[p]
        _, H, W = img.shape
        if H < size or W < size:
            raise ValueError(f"{p} is {W}x{H}, smaller than the {size} crop")
        t = int(torch.randint(0, H - size + 1, (1,), generator=generator))
        l = int(torch.randint(0, W - size + 1, (1,), generator=generator))
        out.append(img[:, t:t + size, l:l + size])
    return torch.stack(out)


# --- Imagenette ------------------------------------------------------------------------------------------
IMAGENETTE_URL = "https://s3.amazonaws.com/fast-ai-imageclas/imagenette2-320.tgz"
IMAGENETTE_CLASSES = {"n01440764": "tench", "n02102040": "English springer", "n02979186": "cassette player",
                      "n03000684": "chain saw", "n03028079": "church", "n03394916": "French horn",
                      "n03417042": "garbage truck", "n03425413": "gas pump", "n03445777": "golf ball",
                      "n03888257": "parachute"}


def load_imagenette(split: str = "val", n_per_class: Optional[int] = None, size: int = 64, root=None,
                    download: bool = False):
    """Imagenette images resized (shorter side, then centre crop) to ``size``, as ``(x (N,3,s,s), y (N,))``.

    Reads the mirror's ``imagenette_<split>*.tar`` or the official ``imagenette2-320.tgz`` (6 GB class
    folders ``<split>/<wnid>/*.JPEG``) member by member.
    """
    from PIL import Image
    if split not in ("train", "val"):
        raise ValueError("split must be 'train' or 'val'")
    names = [f"imagenette_{split}_224.tar", f"imagenette_{split}150_224.tar", "imagenette2-320.tgz"]
    p = find_file("imagenette", names, [IMAGENETTE_URL], root, download)
    wnids = sorted(IMAGENETTE_CLASSES)
    per = {w: [] for w in wnids}
    with tarfile.open(p) as tar:
        for m in tar:
            if not m.isfile() or not m.name.lower().endswith((".jpeg", ".jpg")):
                continue
            parts = m.name.split("/")
            if split not in parts:
                continue
            w = parts[parts.index(split) + 1] if parts.index(split) + 1 < len(parts) else None
            if w in per and (n_per_class is None or len(per[w]) < n_per_class):
                data = tar.extractfile(m).read()
                with Image.open(io.BytesIO(data)) as im:
                    im = im.convert("RGB")
                    s = size / min(im.size)
                    im = im.resize((max(size, round(im.size[0] * s)), max(size, round(im.size[1] * s))))
                    l, t = (im.size[0] - size) // 2, (im.size[1] - size) // 2
                    a = np.asarray(im.crop((l, t, l + size, t + size)), dtype=np.float32) / 255.0
                per[w].append(torch.from_numpy(a.copy()).permute(2, 0, 1))
    xs, ys = [], []
    for label, w in enumerate(wnids):
        xs += per[w]
        ys += [label] * len(per[w])
    if not xs:
        raise DataFormatError(f"{p}: no {split}/<wnid>/*.JPEG members found")
    return torch.stack(xs), torch.tensor(ys)


# --- KITTI depth (the official depth-completion layout) ------------------------------------------------
KITTI_DEPTH_URL = "https://www.cvlibs.net/datasets/kitti/eval_depth.php?benchmark=depth_completion"


def kitti_depth_pairs(split: str = "val", root=None, camera: str = "image_02") -> List[Tuple[Path, Path]]:
    """(RGB, ground-truth depth) file pairs of KITTI's depth-completion benchmark, in its official layout:

    ``<root>/data_depth_annotated/<split>/<drive>/proj_depth/groundtruth/<camera>/<frame>.png`` with the
    RGB frames of KITTI raw at ``<root>/raw/<date>/<drive>/<camera>/data/<frame>.png`` (or
    ``<root>/<date>/<drive>/...``), ``<date>`` being the drive name's first 10 characters. ``root``
    defaults to ``$OPTLIB_DATA/kitti`` then the cache. KITTI needs a registration to download
    (``KITTI_DEPTH_URL``), so there is no automatic download."""
    if split not in ("train", "val"):
        raise ValueError("split must be 'train' or 'val'")
    for base in _search_dirs("kitti", root):
        ann = base / "data_depth_annotated" / split
        if not ann.is_dir():
            continue
        pairs = []
        for drive in sorted(p for p in ann.iterdir() if p.is_dir()):
            gt_dir = drive / "proj_depth" / "groundtruth" / camera
            for gt in sorted(gt_dir.glob("*.png")):
                date = drive.name[:10]
                cands = [base / "raw" / date / drive.name / camera / "data" / gt.name,
                         base / date / drive.name / camera / "data" / gt.name]
                rgb = next((c for c in cands if c.is_file()), None)
                if rgb is None:
                    raise DataNotFoundError(f"{gt}: no RGB frame at {cands[0]} or {cands[1]}; unpack KITTI raw "
                                            f"for drive {drive.name} there")
                pairs.append((rgb, gt))
        if pairs:
            return pairs
    raise DataNotFoundError(f"KITTI depth ({split}): no data_depth_annotated/{split}/<drive>/proj_depth/groundtruth/"
                            f"{camera}/*.png under {[str(d) for d in _search_dirs('kitti', root)]}. Register and "
                            f"download at {KITTI_DEPTH_URL}, then unpack it (and KITTI raw) into "
                            f"${MIRROR_ENV}/kitti/")


def load_kitti_depth(pair: Tuple[Path, Path]):
    """One KITTI frame: RGB (3, H, W) in [0, 1], depth (1, H, W) in metres (uint16 / 256, the benchmark's
    encoding) and the valid mask (1, H, W) (depth 0 means no measurement)."""
    from PIL import Image
    rgb_path, gt_path = pair
    rgb = load_image(rgb_path)
    try:
        with Image.open(gt_path) as im:
            a = np.asarray(im)
    except OSError as e:
        raise DataFormatError(f"{gt_path}: not a readable depth PNG ({e})") from e
    if a.dtype not in (np.uint16, np.int32) or a.ndim != 2:
        raise DataFormatError(f"{gt_path}: KITTI depth maps are single-channel 16-bit PNGs, got {a.dtype} {a.shape}")
    if a.shape != tuple(rgb.shape[1:]):
        raise DataFormatError(f"{gt_path}: depth {a.shape} and RGB {tuple(rgb.shape[1:])} sizes differ")
    depth = torch.from_numpy(a.astype(np.float32) / 256.0)[None]
    return rgb, depth, depth > 0
