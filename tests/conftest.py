import os
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))


@pytest.fixture
def f64():
    return torch.float64


# nbval waits a fixed 5 s for each output message after a cell's reply (IPyNbCell.output_timeout). A chapter's
# training cell queues thousands of progress-bar messages meanwhile, and on a loaded machine the kernel's IOPub
# thread can fall more than 5 s behind: CI then fails a cell that ran correctly ("Timeout of 5 seconds exceeded
# waiting for output"). A longer wait changes nothing else; the cell's own timeout (--nbval-cell-timeout) stands.
NBVAL_OUTPUT_TIMEOUT_S = 120


def pytest_collection_modifyitems(config, items):
    for item in items:
        if type(item).__name__ == "IPyNbCell" and hasattr(item, "output_timeout"):
            item.output_timeout = NBVAL_OUTPUT_TIMEOUT_S
