"""Prepare executed notebooks for the static book (in place), without changing what ran:

- papermill's injected-parameters cell is tagged ``remove-input``, so a page shows its parameters once (the
  cell still runs, and nbval still checks it);
- progress bars are dropped: tqdm draws them as widgets, which in a static page are a frozen bar or, once
  closed, an empty gap that splits the cell's other output. Only outputs that are nothing but a tqdm bar go,
  and only in cells whose output nbval does not compare (``nbval-ignore-output``)."""
import re
import sys

import nbformat

# tqdm's text form of a bar: "desc:  40%|####      | 60/150 [00:01<00:02, 45.1it/s]"
BAR = re.compile(r"^[^\n]*\d+%\|[^\n]*\| *[\d.]+[kMG]?/[\d.?]+[kMG]? \[[^\]]*\]$")


def is_progress_bar(out) -> bool:
    data = out.get("data", {})
    return (out.get("output_type") == "display_data" and "application/vnd.jupyter.widget-view+json" in data
            and bool(BAR.match(str(data.get("text/plain", "")).strip())))


def prepare(nb) -> int:
    """Tag and strip ``nb`` in place; returns how many progress-bar outputs were dropped."""
    dropped = 0
    for cell in nb.cells:
        tags = cell.metadata.setdefault("tags", [])
        if "injected-parameters" in tags and "remove-input" not in tags:
            tags.append("remove-input")
        if cell.cell_type == "code" and "nbval-ignore-output" in tags:
            keep = [o for o in cell.outputs if not is_progress_bar(o)]
            dropped += len(cell.outputs) - len(keep)
            cell.outputs = keep
    return dropped


if __name__ == "__main__":
    for path in sys.argv[1:]:
        nb = nbformat.read(path, as_version=4)
        prepare(nb)
        nbformat.write(nb, path)
