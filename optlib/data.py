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
import math
import os
import struct
import warnings
import zlib
import tarfile
import tempfile
import urllib.request
from pathlib import Path
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence, Tuple

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


def _safe_name(what: str, name: str) -> str:
    """``name`` if it is one plain path component (no separator, not '.' or '..'), else a ValueError: a dataset
    or file name never reaches outside its folder."""
    if not isinstance(name, str) or not name or name in (".", "..") or "/" in name or "\\" in name or "\x00" in name:
        raise ValueError(f"{what} must be a plain name (no path separators, not '.' or '..'), got {name!r}")
    return name


def _search_dirs(dataset: str, root=None) -> List[Path]:
    _safe_name("dataset", dataset)
    dirs = []
    if root is not None:
        dirs.append(Path(root))
    m = mirror_root()
    if m is not None:
        dirs.append(m / dataset)
    dirs.append(cache_root() / dataset)
    return dirs


def download(url: str, dest: Path, sha256: Optional[str] = None, timeout: float = 60.0,
             fingerprint: Optional[str] = None) -> Path:
    """Download ``url`` to ``dest`` atomically (temporary file, then rename); verify ``sha256`` if given, and
    an image's :func:`image_fingerprint` against ``fingerprint`` if given. Nothing is kept on a mismatch."""
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
        if fingerprint:
            check_fingerprint(tmp, fingerprint, name=f"fingerprint mismatch for {url}")
        os.replace(tmp, dest)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return dest


def find_file(dataset: str, names: Sequence[str], urls: Sequence[str] = (), root=None, download_ok: bool = True,
              sha256: Optional[str] = None, fingerprint: Optional[str] = None) -> Path:
    """Return the first existing ``dataset/<name>`` in the search folders, else download, else raise.

    ``names`` are alternatives for one file (e.g. ``x.gz`` and ``x``); ``urls`` are download sources for
    ``names[0]``.
    """
    for n in names:
        _safe_name("file name", n)
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
                return download(url, dest, sha256, fingerprint=fingerprint)
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
#: the largest IDX payload read (bytes): the header's declared size is checked against it before anything
#: is inflated (a gzip bomb declares, or inflates to, far more)
MAX_IDX_BYTES = 1 << 30

#: sha256 of the *decompressed* IDX files (robust to re-gzipping: the mirror's Fashion-MNIST files were
#: re-compressed by Debian, their content is Zalando's), verified on every load, mirror or download. Computed
#: from the copies in shared/data, whose decompressed md5s equal the canonical ones (MANIFEST.md). MNIST's
#: training images are not pinned: no copy could be verified here.
IDX_SHA256 = {
    ("mnist", "t10k-images-idx3-ubyte"): "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
    ("mnist", "t10k-labels-idx1-ubyte"): "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
    ("mnist", "train-labels-idx1-ubyte"): "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
    ("fashion_mnist", "t10k-images-idx3-ubyte"): "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
    ("fashion_mnist", "t10k-labels-idx1-ubyte"): "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
    ("fashion_mnist", "train-images-idx3-ubyte"): "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
    ("fashion_mnist", "train-labels-idx1-ubyte"): "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
}


def read_idx(path, sha256: Optional[str] = None, max_bytes: int = MAX_IDX_BYTES) -> np.ndarray:
    """Read an IDX file (optionally gzipped) into an array, streaming: the magic number and the declared size
    are checked (at most ``max_bytes``) before the body is inflated, the body must have exactly that size,
    and with ``sha256`` the decompressed content must hash to it."""
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    h = hashlib.sha256()
    try:
        with opener(path, "rb") as f:
            head = f.read(4)
            if len(head) < 4 or head[0] != 0 or head[1] != 0 or head[2] not in _IDX_TYPES:
                raise DataFormatError(f"{path}: not an IDX file (bad magic number {head!r})")
            ndim = head[3]
            dims_raw = f.read(4 * ndim)
            if ndim < 1 or len(dims_raw) < 4 * ndim:
                raise DataFormatError(f"{path}: IDX header truncated")
            dims = struct.unpack(">" + "I" * ndim, dims_raw)
            dt = np.dtype(_IDX_TYPES[head[2]])
            need = math.prod(dims) * dt.itemsize  # Python integers: no overflow
            if need > max_bytes:
                raise DataFormatError(f"{path}: IDX header declares {dims} ({need} bytes), more than the {max_bytes} "
                                      "allowed; not a dataset file")
            body = f.read(need)
            extra = f.read(1)
    except (OSError, EOFError, zlib.error) as e:
        raise DataFormatError(f"{path}: cannot read ({e}); the file may be truncated or not gzip") from e
    if len(body) != need or extra:
        raise DataFormatError(f"{path}: IDX body has {len(body)}{'+' if extra else ''} bytes, header {dims} needs {need}")
    if sha256 is not None:
        h.update(head + dims_raw + body)
        if h.hexdigest() != sha256:
            raise DataFormatError(f"{path}: content sha256 {h.hexdigest()} != the pinned {sha256}; the file is not the "
                                  "published one (delete it to download again)")
    return np.frombuffer(body, dtype=dt).reshape(dims)


_MNIST_URLS = ["https://ossci-datasets.s3.amazonaws.com/mnist/"]
_FASHION_URLS = ["https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/"]


def _idx_pair(dataset, split, urls, root, download_ok):
    prefix = "train" if split == "train" else "t10k"
    out = []
    for kind in ("images-idx3-ubyte", "labels-idx1-ubyte"):
        name = f"{prefix}-{kind}"
        p = find_file(dataset, [name + ".gz", name], [u + name + ".gz" for u in urls], root, download_ok)
        out.append(read_idx(p, IDX_SHA256.get((dataset, name))))
    x, y = out
    if x.shape[0] != y.shape[0]:
        raise DataFormatError(f"{dataset} {split}: {x.shape[0]} images but {y.shape[0]} labels")
    return x, y


def _check_n(n, what: str = "n"):
    if n is not None and (isinstance(n, bool) or not isinstance(n, int) or n < 1):
        raise ValueError(f"{what} must be a positive integer or None (all), got {n!r}")


def _check_split(split):
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")


def load_mnist(split: str = "train", n: Optional[int] = None, root=None, download: bool = True):
    """MNIST as ``(images uint8 (N, 28, 28), labels int64 (N,))`` tensors, the first ``n`` of ``split``.

    If the full training images are unavailable but the mirror holds ``mnist_train_first10k.npz`` (the first
    10,000 training images in original order) and ``n <= 10000``, that file is used.
    """
    _check_split(split)
    _check_n(n)
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
            if "x" not in z or "y" not in z or z["x"].shape[1:] != (28, 28) or z["y"].ndim != 1:
                raise DataFormatError(f"{p}: expected arrays x (N, 28, 28) and y (N,)")
            x, y = z["x"], z["y"]
            if x.shape[0] != y.shape[0] or x.dtype != np.uint8:
                raise DataFormatError(f"{p}: {x.shape[0]} images ({x.dtype}) but {y.shape[0]} labels; expected equal "
                                      "counts of uint8 images")
    n = x.shape[0] if n is None else min(n, x.shape[0])
    return torch.from_numpy(np.array(x[:n])), torch.from_numpy(np.array(y[:n]).astype(np.int64))


def load_fashion_mnist(split: str = "train", n: Optional[int] = None, root=None, download: bool = True):
    """Fashion-MNIST (Zalando, MIT) as ``(images uint8 (N, 28, 28), labels (N,))``."""
    _check_split(split)
    _check_n(n)
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
    _check_n(n_per_class, "n_per_class")
    if isinstance(offset, bool) or not isinstance(offset, int) or offset < 0:
        raise ValueError(f"offset must be a non-negative integer, got {offset!r}")
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
@dataclass(frozen=True)
class PhotoSet:
    """A downloadable folder of photographs: ``base_url + path.format(name)`` for each file ``name``, verified
    against its pinned sha256, or, where no sha256 is known (``None``), against its pinned
    :func:`image_fingerprint` in ``fingerprints`` (said in ``note``)."""

    base_url: str
    path: str
    files: Dict[str, Optional[str]]
    note: str = ""
    fingerprints: Dict[str, str] = field(default_factory=dict)

    def url(self, name: str) -> str:
        return self.base_url + self.path.format(name)


#: the largest difference (8-bit levels) between a downloaded image's fingerprint and the pinned one: block
#: means of a re-encoded copy (e.g. JPEG q95 of a PNG) differ by a fraction of a level, another photograph by tens
FINGERPRINT_TOLERANCE = 2


def image_fingerprint(source, name: Optional[str] = None) -> str:
    """``"<W>x<H>:<hex>"``: an image's size in pixels and the means of its 8 x 8 blocks per RGB channel (8-bit,
    192 bytes). It identifies a photograph across lossless and high-quality lossy encodings of the same pixels,
    where a byte checksum cannot: :func:`check_fingerprint` compares two."""
    a = _decode_image(source, name or str(source), "RGB").astype(np.float64)
    h, w = a.shape[:2]
    if h < 8 or w < 8:
        raise DataFormatError(f"{name or source}: {w}x{h} is too small to fingerprint (needs 8x8 pixels)")
    ys, xs = (np.arange(9) * h) // 8, (np.arange(9) * w) // 8
    blocks = np.array([[a[ys[i]:ys[i + 1], xs[j]:xs[j + 1]].mean(axis=(0, 1)) for j in range(8)] for i in range(8)])
    return f"{w}x{h}:" + np.round(blocks).astype(np.uint8).tobytes().hex()


def check_fingerprint(path, expected: str, tolerance: int = FINGERPRINT_TOLERANCE, name: Optional[str] = None) -> None:
    """Raise :class:`DataFormatError` naming ``name`` (default ``path``) unless the image's :func:`image_fingerprint`
    has ``expected``'s size and every block mean within ``tolerance`` levels of it."""
    got = image_fingerprint(path, name)
    size_g, hex_g = got.split(":")
    size_e, hex_e = expected.split(":")
    diff = np.abs(np.frombuffer(bytes.fromhex(hex_g), np.uint8).astype(int)
                  - np.frombuffer(bytes.fromhex(hex_e), np.uint8).astype(int)).max()
    if size_g != size_e or diff > tolerance:
        raise DataFormatError(f"{name or path}: not the pinned photograph (size {size_g}, expected {size_e}; largest "
                              f"block difference {diff} levels, allowed {tolerance})")


PINS_DIR = Path(__file__).resolve().parent / "pins"


def _read_pins(filename: str) -> Dict[str, str]:
    """``{path: value}`` from a pin file of the package (``<value>  <path>`` per line, as ``sha256sum`` writes)."""
    out = {}
    for line in (PINS_DIR / filename).read_text().splitlines():
        if line.strip():
            value, path = line.split("  ", 1)
            out[path] = value
    return out


#: the GitHub repository the project's mirror took its photographs from, at a fixed commit (content at a
#: commit URL never changes)
ZELEX_IMAGES = "https://raw.githubusercontent.com/Zelex/images/0b8a89db599a384124fb991b85d40cfd63c73d58/"
#: sha256 of Kodak's 24 PNGs as served at that commit (they equal the mirror's copies, shared/data/MANIFEST.md)
KODAK_SHA256 = {
    "kodim01.png": "6b4fbe6f3e8e0e20150d5b0c32248bf072e22b5989d415f96f796c5b7004a70f",
    "kodim02.png": "1788370471429d992750a09caf6702ac74e56962447de02520d4b161738c0369",
    "kodim03.png": "b9c800ee568f0b18c983817df08d9f7f24a7ddb3abfdc31bde9234c4fde83137",
    "kodim04.png": "0c60c62599ad33fd78b29c36013fbe4120946f6c327c0ef0ec6983297fb48d23",
    "kodim05.png": "ccf694ceb6bbf431e0009ed0d5573a8ff0915095b69ddfb527b91d8325897f5e",
    "kodim06.png": "f4212cc927d1d579c712843cf8320c7eccb571e5ea80456022ffe99d67e9cd5d",
    "kodim07.png": "7cdd6d63ae0a245f6f9d983d740e11c6808c2efc24f8351aad9b5f676c27b55a",
    "kodim08.png": "5a6a089bdb47605287c00d89ebf2a5312981eb998c94b5853d917c93a9066cdb",
    "kodim09.png": "4d8d801592aeaf446978bbd1c83b76c498242d0f684769311a4e7248289500bf",
    "kodim10.png": "7aca487dc83db732a5690b7affe8558e9dadf5bb44a4589ba2b607480a07228b",
    "kodim11.png": "c7c02bd6e942d1181518e3ce2d97cf0451e4494a5e9d6ddee276940e4875d746",
    "kodim12.png": "df571f5e66d1aefd764ea77855e81e3be61528c34962a0fd1d50557502162c1e",
    "kodim13.png": "797949ce1152ef157ff0a1231c95cb8ed7641615e0b0f5f77f851a44aee19e8d",
    "kodim14.png": "08a1898d5702f32e7d9f94a94651d74a62cb9325475775a558b388c8d98f1846",
    "kodim15.png": "416c475f39b0eb9203ce7f77d2af8824f5bffc1a86a4605865017f04c41639b9",
    "kodim16.png": "5d03303693decdf7a1e1e930b5ca6684283aa80a9e7d8d6a842a74fa5f790640",
    "kodim17.png": "19d90e98e5835efae20a6e17e22e5ac6814ee2c8efb32d188ea4359abaf9f5bd",
    "kodim18.png": "83df267dfec61e9b9d3756c422502160b2fab595650c73a8b12940540ad09ec5",
    "kodim19.png": "86560efe85a13413b228ef7e42dde0d439b25a94fb8e2d6fb1dc1631cf48853b",
    "kodim20.png": "1ae187d92b3a4483b6717f7fd08592846ffdfc340c6424f6756627a27f3d8ea7",
    "kodim21.png": "26e193795108c4b5ec47206ae4ff07a353d2492947f7a7ae8d380e042b74027b",
    "kodim22.png": "627b76fccf714b4ddffb739b2eb63ba2817cf5b5a8e222079542dcf2cfdda939",
    "kodim23.png": "85c67d7ea758cb0604fb6980ab0c65091a2eefa7b3b50cbb1bc702a60206dfe5",
    "kodim24.png": "9f1c26df52217bd49f998a720a2ffeba41a535cf826f4ae32e355fb2b0bbc0fe",
}
PHOTO_SETS: Dict[str, PhotoSet] = {
    "kodak": PhotoSet(ZELEX_IMAGES, "kodak/{}", dict(KODAK_SHA256)),
    "wikimedia_photos": PhotoSet(
        ZELEX_IMAGES, "wikipedia-photos/{}", {f"{i:03d}.png": None for i in range(1, 50)},
        note="the lossless PNGs of that commit; no sha256 of them could be taken here (the project's mirror "
             "holds JPEG q95 re-encodes of the same 49 photographs), so each download is checked against the "
             "size and 8x8 block means of the mirror's copy (optlib/pins/wikimedia_photos.fingerprint): another "
             "or a cropped photograph is refused, a few changed pixels would not be; numbers from a download "
             "differ from the book's by the JPEG error",
        fingerprints=_read_pins("wikimedia_photos.fingerprint")),
}


def photo_paths(dataset: str = "kodak", root=None, download: bool = True) -> List[Path]:
    """Sorted image files of a photo folder: ``kodak``, ``wikimedia_photos`` or any folder name under the
    mirror/cache (or ``root``). The folders of :data:`PHOTO_SETS` are downloaded into the cache when absent
    (each file checked against its pinned sha256 where one is known); other folders must be present."""
    known = PHOTO_SETS.get(dataset)
    for d in _search_dirs(dataset, root):
        if d.is_dir():
            files = sorted(p for p in d.iterdir() if p.suffix.lower() in _PHOTO_EXT)
            if known is None and files:
                return files
            by_stem = {p.stem: p for p in files}  # a known set is whole or not used: the mirror may hold .jpg
            if known is not None and all(Path(n).stem in by_stem for n in known.files):
                return [by_stem[Path(n).stem] for n in known.files]
    if known is not None and download:  # the missing files of an interrupted download are fetched again
        return [find_file(dataset, [name], [known.url(name)], root, True, sha256=sha,
                          fingerprint=None if sha else known.fingerprints.get(name))
                for name, sha in known.files.items()]
    raise DataNotFoundError(f"photo folder {dataset!r}: no images in {[str(d) for d in _search_dirs(dataset, root)]}. "
                            f"Set {MIRROR_ENV} to a folder containing {dataset}/ with .png/.jpg files"
                            + ("" if dataset in PHOTO_SETS else f" (downloadable: {sorted(PHOTO_SETS)})"))


def _decode_image(source, name: str, mode: str):
    """Decode an image (a path or a file object) to an ``mode`` array, or a DataFormatError naming ``name``:
    a corrupt file, or a decompression bomb (more pixels than Pillow's limit, its warning included)."""
    from PIL import Image
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(source) as im:
                return np.asarray(im.convert(mode))
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
        raise DataFormatError(f"{name}: refused, too many pixels for an image file ({e})") from None
    except (OSError, ValueError, SyntaxError, EOFError) as e:  # Pillow's errors for truncated or corrupt data
        raise DataFormatError(f"{name}: not a readable image ({e})") from None


def load_image(path, mode: str = "RGB") -> torch.Tensor:
    """An image file as float tensor in [0, 1], ``(3, H, W)`` for RGB or ``(1, H, W)`` for L."""
    a = _decode_image(path, str(path), mode).astype(np.float32) / 255.0
    t = torch.from_numpy(a.copy())
    return t.permute(2, 0, 1) if t.dim() == 3 else t[None]


def load_square(path, size: int, mode: str = "RGB") -> torch.Tensor:
    """An image file scaled so that its shorter side is ``size`` pixels (Pillow's bicubic filter), then its
    centre ``size`` x ``size`` square, as float ``(C, size, size)`` in [0, 1] (C = 3 for RGB, 1 for L)."""
    from PIL import Image
    if isinstance(size, bool) or not isinstance(size, int) or size < 1:
        raise ValueError(f"load_square: size must be a whole number of pixels >= 1, got {size!r}")
    return _square(Image.fromarray(_decode_image(path, str(path), mode)), size)


def _square(im, size: int) -> torch.Tensor:
    """A Pillow image's shorter side scaled to ``size``, then its centre square, as a float (C, size, size)."""
    from PIL import Image
    s = size / min(im.size)
    im = im.resize((max(size, round(im.size[0] * s)), max(size, round(im.size[1] * s))), Image.Resampling.BICUBIC)
    l, t = (im.size[0] - size) // 2, (im.size[1] - size) // 2
    t_ = torch.from_numpy(np.asarray(im.crop((l, t, l + size, t + size)), dtype=np.float32).copy() / 255.0)
    return t_.permute(2, 0, 1) if t_.dim() == 3 else t_[None]


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


#: the Imagenette validation photographs file by file: GitHub thunderInfy/imagenette at a fixed commit (shorter
#: side 224 px; the original JPEG bytes, which the project's mirror packs into imagenette_val_224.tar)
IMAGENETTE_FILES_URL = ("https://raw.githubusercontent.com/thunderInfy/imagenette/"
                        "b850f030ff0701c36a4adc8b928ea9483a46915b/")
#: sha256 of each of the 3925 validation files at that commit (``val/<wnid>/<name>.JPEG``: the mirror's bytes)
IMAGENETTE_VAL_PINS = "imagenette_val.sha256"


def load_imagenette(split: str = "val", n_per_class: Optional[int] = None, size: int = 64, root=None,
                    download: bool = False):
    """Imagenette images resized (shorter side, then centre crop) to ``size``, as ``(x (N,3,s,s), y (N,))``;
    per class the first ``n_per_class`` files in name order (all when ``None``).

    Reads, in order: the mirror's ``imagenette_<split>*.tar`` or the official ``imagenette2-320.tgz`` (class
    folders ``<split>/<wnid>/*.JPEG``, member by member); for ``val``, the pinned files one by one
    (``imagenette/val/<wnid>/<name>.JPEG`` in the mirror or the cache, downloaded with ``download=True`` from
    :data:`IMAGENETTE_FILES_URL`, each checked against its sha256 in ``optlib/pins``); for ``train``, the
    official archive (330 MB, not pinned).
    """
    if split not in ("train", "val"):
        raise ValueError("split must be 'train' or 'val'")
    _check_n(n_per_class, "n_per_class")
    wnids = sorted(IMAGENETTE_CLASSES)
    per = {w: [] for w in wnids}
    names = [f"imagenette_{split}_224.tar", f"imagenette_{split}150_224.tar", "imagenette2-320.tgz"]
    try:
        p = find_file("imagenette", names, [], root, False)
    except DataNotFoundError:
        if split != "val":
            p = find_file("imagenette", names, [IMAGENETTE_URL], root, download)
        else:
            p = None
    if p is None:
        for w, files in _imagenette_val_files(n_per_class, root, download).items():
            per[w] = [_imagenette_image(f.read_bytes(), str(f), size) for f in files]
    else:
        try:
            tar = tarfile.open(p)
        except (tarfile.TarError, OSError, EOFError) as e:
            raise DataFormatError(f"{p}: not a readable tar archive ({e})") from None
        with tar:
            for m in _members(tar, p):
                if not m.isfile() or not m.name.lower().endswith((".jpeg", ".jpg")):
                    continue
                parts = m.name.split("/")
                if split not in parts:
                    continue
                w = parts[parts.index(split) + 1] if parts.index(split) + 1 < len(parts) else None
                if w in per and (n_per_class is None or len(per[w]) < n_per_class):
                    try:
                        data = tar.extractfile(m).read()
                    except (tarfile.TarError, OSError, EOFError, zlib.error) as e:
                        raise DataFormatError(f"{p}[{m.name}]: cannot read the member ({e})") from None
                    per[w].append(_imagenette_image(data, f"{p}[{m.name}]", size))
    xs, ys = [], []
    for label, w in enumerate(wnids):
        xs += per[w]
        ys += [label] * len(per[w])
    if not xs:
        raise DataFormatError(f"{p}: no {split}/<wnid>/*.JPEG members found")
    return torch.stack(xs), torch.tensor(ys)


def _imagenette_image(data: bytes, name: str, size: int) -> torch.Tensor:
    """One JPEG's bytes as a float (3, size, size) tensor in [0, 1]: shorter side to ``size``, centre crop."""
    from PIL import Image
    return _square(Image.fromarray(_decode_image(io.BytesIO(data), name, "RGB")), size)


def _imagenette_val_files(n_per_class: Optional[int], root, download_ok: bool) -> Dict[str, List[Path]]:
    """``{wnid: [path, ...]}``: the first ``n_per_class`` pinned validation files of each class, found in the
    search folders or downloaded (in parallel, each verified against its sha256) into the cache."""
    pins = _read_pins(IMAGENETTE_VAL_PINS)
    by_class: Dict[str, List[str]] = {w: [] for w in sorted(IMAGENETTE_CLASSES)}
    for rel in sorted(pins):
        parts = rel.split("/")
        for part in parts:
            _safe_name("pinned file path", part)
        by_class[parts[1]].append(rel)
    wanted = {w: rels[:n_per_class] for w, rels in by_class.items()}
    dirs = _search_dirs("imagenette", root)
    found, missing = {}, []
    for rels in wanted.values():
        for rel in rels:
            hit = next((d / rel for d in dirs if (d / rel).is_file()), None)
            if hit is None:
                missing.append(rel)
            else:
                found[rel] = hit
    if missing and not download_ok:
        raise DataNotFoundError(
            f"imagenette: {len(missing)} of the {sum(map(len, wanted.values()))} validation files asked for are "
            f"not in [{', '.join(map(str, dirs))}] (e.g. {missing[0]}), nor imagenette_val_224.tar. Allow the "
            f"download (download=True: {len(missing)} files from {IMAGENETTE_FILES_URL}, each checked against "
            f"its pinned sha256), or put the mirror's tar in ${MIRROR_ENV}/imagenette/")
    if missing:
        from concurrent.futures import ThreadPoolExecutor
        from tqdm.auto import tqdm
        cache = cache_root() / "imagenette"

        def fetch(rel):
            try:
                return rel, download(IMAGENETTE_FILES_URL + rel, cache / rel, pins[rel]), None
            except Exception as e:  # network down, 404, checksum: reported together below
                return rel, None, e

        errors = []
        with ThreadPoolExecutor(max_workers=8) as pool:
            for rel, path, err in tqdm(pool.map(fetch, missing), total=len(missing), desc="Imagenette (val)",
                                       unit="file", disable=None):
                if err is None:
                    found[rel] = path
                else:
                    errors.append(f"{rel}: {err}")
        if errors:
            raise DataNotFoundError(f"imagenette: {len(errors)} of {len(missing)} downloads failed (nothing kept "
                                    f"for them; run again to complete): " + " | ".join(errors[:3]))
    return {w: [found[rel] for rel in rels] for w, rels in wanted.items()}


def _members(tar, p):
    """The members of an open tar archive, a truncated or corrupt archive raising a DataFormatError naming it."""
    it = iter(tar)
    while True:
        try:
            m = next(it)
        except StopIteration:
            return
        except (tarfile.TarError, OSError, EOFError, zlib.error) as e:
            raise DataFormatError(f"{p}: the archive is truncated or corrupt ({e})") from None
        yield m


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
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(gt_path) as im:
                a = np.asarray(im)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning, OSError, ValueError, SyntaxError) as e:
        raise DataFormatError(f"{gt_path}: not a readable depth PNG ({e})") from None
    if a.dtype not in (np.uint16, np.int32) or a.ndim != 2:
        raise DataFormatError(f"{gt_path}: KITTI depth maps are single-channel 16-bit PNGs, got {a.dtype} {a.shape}")
    if a.shape != tuple(rgb.shape[1:]):
        raise DataFormatError(f"{gt_path}: depth {a.shape} and RGB {tuple(rgb.shape[1:])} sizes differ")
    depth = torch.from_numpy(a.astype(np.float32) / 256.0)[None]
    return rgb, depth, depth > 0
