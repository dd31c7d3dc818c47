"""Results JSON and scoreboard verdicts."""
import json

import pytest

from optlib import report


def _res(tmp_path):
    r = report.Results("foundations", "tiny", 3)
    r.item("a", "within", 1.004, 1.0, "m", tol=0.01)
    r.item("b", "off but claim holds", 2.0, 1.0, "", tol=0.01, claim="c1", note="tiny scale")
    r.item("c", "off", 2.0, 1.0, "", tol=0.01)
    r.item("d", "no paper", 5.0)
    r.item("e", "zero ref", 1e-12, 0.0, "", tol=1e-10)
    r.item("f", "nan", float("nan"), 1.0)
    r.claim("c1", "bigger is better", True)
    r.claim("c2", "never", False)
    r.check("c3", "beats the best baseline", 0.592, ">", 0.462)
    return r, r.write(tmp_path)


def test_write_schema_and_verdicts(tmp_path):
    r, p = _res(tmp_path)
    assert p.name == "foundations.tiny.json"
    d = json.loads(p.read_text())
    assert set(report.REQUIRED_KEYS) <= set(d)
    assert d["seed"] == 3 and d["items"][5]["ours"] is None
    claims = {c["id"]: c for c in d["claims"]}
    v = {it["id"]: report.verdict(it, claims)[0] for it in d["items"]}
    # a verdict belongs to the number: a holding claim never lifts a miss
    assert v == {"a": "reproduced", "b": "not reproduced", "c": "not reproduced", "d": "measured",
                 "e": "reproduced", "f": "not reproduced"}
    assert "ours / paper = 2 at this scale" in report.verdict(d["items"][1])[1]
    html = report.scoreboard_html(report.load_results(tmp_path), ["foundations"])
    assert "off but claim holds" in html and "qualitatively" not in html and "holds: bigger is better" in html
    assert "0.592 vs 0.462 (needs &gt;)" in html  # a claim shows the comparison it rests on


def test_claims_carry_their_comparison_and_cannot_contradict_it():
    r = report.Results("x", "tiny", 0)
    r.check("k1", "ours beats the baseline", 0.592, ">", 0.462)
    r.check("k2", "ours beats the other", 0.40, ">", 0.462)
    r.check("k3", "nan never holds", float("nan"), "<", 1.0)
    assert [c["holds"] for c in r.claims] == [True, False, False]
    with pytest.raises(ValueError, match="holds=True but 0.1 > 0.2 is False"):
        r.claim("k4", "contradicted", True, value=0.1, op=">", threshold=0.2)
    with pytest.raises(ValueError, match="together"):
        r.claim("k5", "half given", True, value=0.1)
    with pytest.raises(ValueError, match="op must be"):
        r.check("k6", "bad op", 1.0, "==", 1.0)


def test_claim_of_several_comparisons_records_all_and_names_the_deciding_one():
    r = report.Results("x", "tiny", 0)
    # all hold: the deciding part is the one closest to failing relative to its threshold (0.5 % vs 40 %)
    r.check_all("all", "three hold", [("zero", 1.005, "<", 1.01), ("ee", 0.5, ">", 0.1 / 0.3), ("abs", -0.1, "<", 0)])
    c = r.claims[-1]
    assert c["holds"] and c["deciding"] == "zero" and len(c["parts"]) == 3 and all(p["holds"] for p in c["parts"])
    assert report.claim_evidence(c).startswith("zero: 1.005 vs 1.01 (needs <); closest to failing of 3")
    # one fails (a NaN never holds): the claim fails and names the first failing part, not the closest
    r.check_all("one_fails", "second fails", [("a", 2.0, ">", 1.0), ("b", float("nan"), "<", 1.0), ("c", 3.0, "<", 1.0)])
    c = r.claims[-1]
    assert not c["holds"] and c["deciding"] == "b" and [p["holds"] for p in c["parts"]] == [True, False, False]
    assert "b: - vs 1 (needs <); first failing of 3" in report.claim_evidence(c)
    with pytest.raises(ValueError, match="op must be"):
        r.check_all("bad", "bad op", [("a", 1.0, "==", 1.0)])
    with pytest.raises(TypeError, match="not booleans"):
        r.check_all("bool", "a bool is no comparison", [("a", True, ">", 0)])
    with pytest.raises(ValueError, match="no comparisons"):
        r.check_all("empty", "nothing", [])


def test_bad_inputs(tmp_path):
    r = report.Results("x", "tiny", 0)
    r.item("a", "a", 1.0)
    with pytest.raises(ValueError, match="duplicate"):
        r.item("a", "again", 2.0)
    with pytest.raises(TypeError):
        r.item("s", "string", "1.0")
    (tmp_path / "bad.json").write_text(json.dumps({"chapter": "x"}))
    with pytest.raises(ValueError, match="lacks keys"):
        report.load_results(tmp_path)


def test_benchmark_script_runs_quick(tmp_path):
    import importlib.util
    from pathlib import Path
    spec = importlib.util.spec_from_file_location("bench", Path(__file__).parents[1] / "benchmarks" / "bench_propagation.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    rows = bench.main(["--quick", "--json", str(tmp_path / "b.json")])
    speed = [r for r in rows if "ratio" in r]
    assert len(speed) == 2 and all(r["ratio"] > 0 and r["floor_s"] > 0 for r in speed)
    mem = [r for r in rows if "memory_ratio" in r]
    assert len(mem) == 2 and mem[0]["memory_optlib_MB"] > 0 and mem[0]["memory_floor_MB"] > 0
    assert mem[1]["warm"] and mem[1]["memory_optlib_MB"] >= 0 and mem[1]["memory_floor_MB"] >= 0  # a second call


def test_ray_benchmark_script_runs_quick(tmp_path):
    import importlib.util
    from pathlib import Path
    spec = importlib.util.spec_from_file_location("bench_rays", Path(__file__).parents[1] / "benchmarks" / "bench_rays.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    rows = bench.main(["--quick", "--json", str(tmp_path / "r.json")])
    assert rows["trace"]["rays_per_s"] > 0 and rows["trace_backward"]["rays_per_s"] > 0
    assert rows["psf_0deg"]["ncc_vs_converged"] > 0.99 and 0.9 < rows["psf_0deg"]["sum"] < 1.01


def test_meta_benchmark_script_runs_quick(tmp_path):
    import importlib.util
    from pathlib import Path
    spec = importlib.util.spec_from_file_location("bench_meta", Path(__file__).parents[1] / "benchmarks" / "bench_meta.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    out = bench.main(["--quick", "--json", str(tmp_path / "m.json")])
    assert all(v["forward_s"] > 0 and v["floor_s"] > 0 for v in out.values())


def test_seed_table_puts_every_claim_beside_its_other_seeds(tmp_path):
    """``python -m papers seeds`` (make check-seeds): one row per claim, one column per seed, the comparison's
    value in each cell and the count of seeds it holds for; a claim absent from a run shows '-'."""
    import subprocess
    import sys
    from pathlib import Path
    for seed, value in ((0, 0.6), (1, 0.4), (2, 0.7)):
        r = report.Results("foundations", "tiny", seed)
        r.check("beats", "beats the baseline", value, ">", 0.5, note="fails for the baseline | itself")
        if seed != 2:
            r.claim("trend", "a trend", True)
        r.write(tmp_path / str(seed))
    full = report.Results("foundations", "full", 0)  # other scales are left out
    full.claim("beats", "beats the baseline", True)
    full.write(tmp_path / "0")
    out = subprocess.run([sys.executable, "-m", "papers", "seeds"] + [str(tmp_path / s) for s in "012"],
                         capture_output=True, text=True, check=True, cwd=Path(__file__).resolve().parents[1]).stdout
    assert "### foundations (tiny)" in out and "(full)" not in out
    assert ("| `beats` | holds (0.6 vs 0.5) | **fails** (0.4 vs 0.5) | holds (0.7 vs 0.5) | 2/3 | beats the baseline "
            "[needs >] | fails for the baseline \\| itself |") in out
    assert "| `trend` | holds | holds | - | 2/3 | a trend |  |" in out


def test_render_benchmark_script_runs_quick(tmp_path):
    import importlib.util
    from pathlib import Path
    spec = importlib.util.spec_from_file_location("bench_render", Path(__file__).parents[1] / "benchmarks" / "bench_render.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    out = bench.main(["--quick", "--json", str(tmp_path / "r.json")])
    assert [r["n_t"] for r in out["render"]] == [4, 9]
    assert all(r["forward_s"] > 0 and r["floor_s"] > 0 and r["forward_backward_over_floor"] > 0 for r in out["render"])
    assert out["singlet"][0]["forward_s"] > 0 and out["singlet"][0]["forward_backward_s"] > 0
