"""Dry-run estimates (issue 16.4): counted FLOPs at rates measured once and stated, per step and in total, for
the CPU and a GPU class, the paper's own times beside; the same configuration always gets the same numbers."""
import math

import pytest
import yaml

from optlib import budget
import papers as experiments
from papers import dko, sitzmann2018
from test_params import CHAPTERS, ROOT, chapter_id, notebook_parameters


def full_params(cid):
    path = next(p for p in CHAPTERS if chapter_id(p) == cid)
    return {**notebook_parameters(path), **yaml.safe_load((ROOT / "params" / cid / "full.yaml").read_text())}


def test_flop_counts():
    assert budget.fft_flops((1024, 1024)) == 5 * 1024 ** 2 * 20
    assert budget.fft_flops((8, 4), count=3) == 3 * 5 * 32 * 5
    assert budget.matmul_flops(2, 3, 4, count=2) == 2 * 8 * 24


@pytest.mark.parametrize("bad", [dict(steps=0), dict(fft=-1.0), dict(matmul=float("nan"))])
def test_a_malformed_row_is_refused(bad):
    with pytest.raises(ValueError, match="dry-run row"):
        budget.step("x", True, 1, **bad)


@pytest.mark.parametrize("cid", ["foundations", "sitzmann2018", "kleiner2025", "dko"])
def test_same_configuration_same_estimate(cid):
    p = full_params(cid)
    mod = experiments.module(cid)
    a, b = mod.dry_run(p)["rows"], mod.dry_run(p)["rows"]
    assert a == b, "a dry run must measure nothing: the same configuration must give the same rows"
    for r in a:
        assert math.isclose(budget.seconds(r), budget.seconds(r, total=False) * r["steps"])
        assert budget.seconds(r, budget.GPU) < budget.seconds(r, budget.CPU)


def test_a_step_row_holds_one_step():
    """The EDOF row is one step, repeated the run's 20,001 times (it held the total of all steps)."""
    p = full_params("sitzmann2018")
    rows = sitzmann2018.dry_run(p)["rows"]
    edof = next(r for r in rows if r["step"].startswith("EDOF: one step"))
    assert edof["steps"] == p["steps"] == 20001
    n_pad = math.ceil(p["n_grid"] * p["padding"])
    assert edof["fft_flops"] == budget.fft_flops((n_pad, n_pad), 4 * 4 * len(p["wavelengths_nm"]))


def test_report_states_rates_devices_and_the_papers_times():
    text = dko.dry_run_report(dko.dry_run(full_params("dko")))
    assert "per step: CPU" in text and "total: CPU" in text and "GPU" in text
    assert "Table 1: 100 ms (A100)" in text and "Table 2: 12 h" in text
    for rate in budget.RATES:
        assert rate.source in text
    assert "stated, not measured" in budget.GPU.source and "measured" in budget.CPU.source
