"""Tag papermill's injected-parameters cell ``remove-input`` in an executed notebook (in place), so the book
shows the parameters once; the cell still runs and nbval still checks it."""
import sys

import nbformat

for path in sys.argv[1:]:
    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:
        tags = cell.metadata.setdefault("tags", [])
        if "injected-parameters" in tags and "remove-input" not in tags:
            tags.append("remove-input")
    nbformat.write(nb, path)
