"""Where the built book is, and its pages in the order of the table of contents (for test_book, test_browser)."""
import os
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
HTML = ROOT / "_build" / "html"
STAGE = ROOT / "_build" / "book"


def book_built() -> bool:
    """Whether the book has been rendered; raises when it must have been (make test sets OPTLIB_REQUIRE_BOOK)."""
    if (HTML / "index.html").is_file():
        return True
    if os.environ.get("OPTLIB_REQUIRE_BOOK"):
        raise RuntimeError("the book was not built: run `make book` (make test does it first)")
    return False


def toc_files():
    toc = yaml.safe_load((ROOT / "book" / "_toc.yml").read_text())
    files = [toc["root"]]
    for part in toc.get("parts", []):
        files += [c["file"] for c in part["chapters"]]
    return files
