"""The code a reader copies: every python block of the README's quickstart and of the book's "Your own set-up"
page runs as written, in one namespace per document, in the order given."""
import contextlib
import io
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ["README.md", "book/your_own.md"]


def python_blocks(path: Path):
    return re.findall(r"```python\n(.*?)```", path.read_text(), flags=re.S)


def run_blocks(doc: str) -> str:
    """Run every python block of ``doc``; returns what they printed."""
    blocks = python_blocks(ROOT / doc)
    assert blocks, f"{doc} has no python blocks"
    ns = {"__name__": f"doc:{doc}"}
    out = io.StringIO()
    for i, code in enumerate(blocks):
        with contextlib.redirect_stdout(out):
            try:
                exec(compile(code, f"{doc}[block {i}]", "exec"), ns)
            except Exception as e:  # the block and its error, as a reader would meet them
                raise AssertionError(f"{doc}, python block {i} fails: {type(e).__name__}: {e}\n{code}") from e
    return out.getvalue()


@pytest.mark.parametrize("doc", DOCS)
def test_python_blocks_run(doc):
    run_blocks(doc)


def test_your_own_page_learns_something():
    """The page's last block claims the fit puts more energy into the disc: its printed numbers must show it."""
    text = run_blocks("book/your_own.md")
    first, last = [float(v) for v in re.findall(r"energy in the 12 um disc ([\d.]+)", text)]
    assert last > first * 1.05, text
