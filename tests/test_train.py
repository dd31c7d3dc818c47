"""Training loop: seeding, atomic checkpoints, resume equals an uninterrupted run, time budget; DDP with gloo."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from optlib import train


def _problem(seed=0):
    g = torch.Generator().manual_seed(0)  # the data are the same in every run
    x = torch.randn(64, 3, generator=g)
    y = x @ torch.tensor([1.0, -2.0, 0.5]) + 0.1 * torch.randn(64, generator=g)
    train.seed_everything(seed)  # model init and batch order depend on the seed
    model = torch.nn.Linear(3, 1)
    opt = torch.optim.Adam(model.parameters(), lr=0.05)
    sched = torch.optim.lr_scheduler.StepLR(opt, 10, 0.5)

    def step(i):
        idx = torch.randint(0, 64, (16,))
        return ((model(x[idx]).squeeze(-1) - y[idx]) ** 2).mean()

    return model, opt, sched, step


def test_resume_matches_uninterrupted_run(tmp_path):
    m1, o1, s1, st1 = _problem()
    r1 = train.fit(st1, m1, o1, 30, s1, progress=False)
    ck = tmp_path / "ck.pt"
    m2, o2, s2, st2 = _problem()
    train.fit(st2, m2, o2, 17, s2, checkpoint=str(ck), checkpoint_every=5, progress=False)
    m3, o3, s3, st3 = _problem(seed=123)  # different state: everything must come from the checkpoint
    r3 = train.fit(st3, m3, o3, 30, s3, checkpoint=str(ck), progress=False)
    assert r3.resumed_from == 17 and r3.steps_run == 13
    assert torch.equal(m1.weight, m3.weight) and torch.equal(m1.bias, m3.bias)
    assert r3.history == pytest.approx(r1.history)


def test_checkpoint_is_atomic_and_data_only(tmp_path):
    p = tmp_path / "a.pt"
    train.save_checkpoint(p, {"w": torch.ones(2), "step": 3})
    assert train.load_checkpoint(p)["step"] == 3
    assert [f.name for f in tmp_path.iterdir()] == ["a.pt"]  # no temporary left behind

    class Evil:
        def __reduce__(self):
            return (os.system, ("echo pwned",))

    torch.save({"x": Evil()}, p)
    with pytest.raises(ValueError, match="not a valid optlib checkpoint"):
        train.load_checkpoint(p)
    p.write_bytes(b"garbage")
    with pytest.raises(ValueError):
        train.load_checkpoint(p)


def test_time_budget_stops_early():
    m, o, s, st = _problem()
    r = train.fit(st, m, o, 10 ** 6, s, progress=False, time_budget_s=0.2)
    assert 0 < r.steps_run < 10 ** 6 and r.runtime_s < 5


def test_micro_batch_losses_sum_to_the_whole_batch_loss():
    """A step function may return its micro-batches' losses (gradient accumulation, as the Kleiner et al. code):
    the step then equals one on the sum of those losses (float64), and the history records the sum."""
    g = torch.Generator().manual_seed(0)
    x = torch.randn(40, 3, generator=g, dtype=torch.float64)
    y = torch.randn(40, generator=g, dtype=torch.float64)

    def run(micro):
        torch.manual_seed(1)
        model = torch.nn.Linear(3, 1).double()
        opt = torch.optim.Adam(model.parameters(), lr=0.05)
        part = lambda idx: ((model(x[idx]).squeeze(-1) - y[idx]) ** 2).mean()  # noqa: E731
        chunks = torch.arange(40).split(10)

        def step(i):
            if micro:
                return (part(c) for c in chunks)  # a generator: one graph at a time
            return sum(part(c) for c in chunks)

        r = train.fit(step, model, opt, 5, progress=False)
        return model, r.history

    (m1, h1), (m2, h2) = run(False), run(True)
    assert torch.allclose(m1.weight, m2.weight, rtol=1e-12, atol=0) and torch.allclose(m1.bias, m2.bias, rtol=1e-12, atol=0)
    assert h2 == pytest.approx(h1, rel=1e-12)
    assert h1[0] > 4 * 0.5  # four summed means, not one mean of a unit-variance target


def test_shard_covers_range():
    parts = [list(train.shard(10, r, 3)) for r in range(3)]
    assert sum(parts, []) == list(range(10)) and [len(p) for p in parts] == [4, 3, 3]


WORKER = Path(__file__).with_name("ddp_worker.py")


def _torchrun_and_alone(worker: Path, port: int, tmp_path):
    """Run ``worker`` under torchrun with 2 gloo processes and once alone; (its JSON from each run)."""
    env = dict(os.environ, OMP_NUM_THREADS="1")
    out, single = tmp_path / "two.json", tmp_path / "single.json"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", f"--master_port={port}",
           str(worker), str(out)]
    subprocess.run(cmd, check=True, env=env, timeout=240, capture_output=True)
    subprocess.run([sys.executable, str(worker), str(single)], check=True, env=env, timeout=120)
    a, b = json.loads(out.read_text()), json.loads(single.read_text())
    assert a["world"] == 2 and b["world"] == 1
    return a, b


def test_torchrun_two_processes_gloo_matches_single_process(tmp_path):
    a, b = _torchrun_and_alone(WORKER, 29533, tmp_path)
    assert a["weights"] == pytest.approx(b["weights"], rel=1e-5, abs=1e-7)


def _epoch_problem(seed=0, intensity_per_epoch=True):
    """The shape of the all-optical SR and classifier loops of chapter 02: one random order of the data per
    epoch and one random intensity per epoch, kept in a loop state between steps."""
    g0 = torch.Generator().manual_seed(0)
    x = torch.randn(40, 3, generator=g0)
    y = x @ torch.tensor([1.0, -2.0, 0.5])
    train.seed_everything(seed)
    model = torch.nn.Linear(3, 1)
    opt = torch.optim.Adam(model.parameters(), lr=0.05)
    g = torch.Generator().manual_seed(seed)
    state = {"perm": None, "p": 1.0}
    per_epoch = 5

    def step(i):
        j = i % per_epoch
        if j == 0:
            state["perm"] = torch.randperm(40, generator=g)
            if intensity_per_epoch:
                state["p"] = float(torch.rand((), generator=g)) + 0.5
        idx = state["perm"][j * 8:(j + 1) * 8]
        return ((model(x[idx] * state["p"]).squeeze(-1) - y[idx]) ** 2).mean()

    return model, opt, step, g, state


@pytest.mark.parametrize("kill_at", [7, 13, 22])  # mid-epoch (7, 13, 22 are not multiples of 5)
def test_an_epoch_loop_resumes_mid_epoch_bitwise(tmp_path, kill_at):
    m1, o1, s1, g1, st1 = _epoch_problem()
    r1 = train.fit(s1, m1, o1, 30, progress=False, generator=g1, state=st1)
    ck = tmp_path / "ck.pt"

    class Killed(Exception):
        pass

    m2, o2, s2, g2, st2 = _epoch_problem()

    def dying(i):
        if i == kill_at:
            raise Killed
        return s2(i)

    with pytest.raises(Killed):
        train.fit(dying, m2, o2, 30, checkpoint=str(ck), checkpoint_every=1, progress=False, generator=g2, state=st2,
                  key="run")
    m3, o3, s3, g3, st3 = _epoch_problem(seed=99)  # another seed: everything must come from the checkpoint
    r3 = train.fit(s3, m3, o3, 30, checkpoint=str(ck), progress=False, generator=g3, state=st3, key="run")
    assert r3.resumed_from == kill_at
    assert torch.equal(m1.weight, m3.weight) and torch.equal(m1.bias, m3.bias)
    assert r3.history == r1.history  # bitwise: the same losses, step by step


def test_a_checkpoint_of_another_run_or_with_more_steps_is_refused(tmp_path):
    ck = tmp_path / "ck.pt"
    m, o, s, g, st = _epoch_problem()
    train.fit(s, m, o, 10, checkpoint=str(ck), progress=False, generator=g, state=st,
              key=train.run_key("sr", {"lr": 0.05, "device": "cpu"}))
    m, o, s, g, st = _epoch_problem()
    with pytest.raises(ValueError, match="another run"):  # a changed learning rate is not silently replaced
        train.fit(s, m, o, 20, checkpoint=str(ck), progress=False, generator=g, state=st,
                  key=train.run_key("sr", {"lr": 0.01, "device": "cpu"}))
    # where it runs is not part of the key
    train.fit(s, m, o, 12, checkpoint=str(ck), progress=False, generator=g, state=st,
              key=train.run_key("sr", {"lr": 0.05, "device": "cuda"}))
    with pytest.raises(ValueError, match="12 steps done, more than the 8"):
        train.fit(s, m, o, 8, checkpoint=str(ck), progress=False, generator=g, state=st,
                  key=train.run_key("sr", {"lr": 0.05, "device": "cpu"}))


def test_a_temporary_left_by_a_killed_writer_is_cleaned_up(tmp_path):
    p = tmp_path / "a.pt"
    (tmp_path / "a.pt.xyz123.tmp").write_bytes(b"half a checkpoint")  # what a SIGKILL mid-write leaves
    train.save_checkpoint(p, {"step": 1})
    assert sorted(f.name for f in tmp_path.iterdir()) == ["a.pt"]


SUM_WORKER = Path(__file__).with_name("fit_sum_worker.py")


def test_fit_sum_over_ranks_under_torchrun_takes_the_single_process_steps(tmp_path):
    """A loss summed over fields, each rank its share: the two-process run's parameters and loss history equal
    the single process's to float64 rounding; a parameter only rank 1 reaches moves on rank 0 too, and one no
    field reaches keeps no gradient, as it would alone (an optimiser counts a zero gradient as a step)."""
    a, b = _torchrun_and_alone(SUM_WORKER, 29541, tmp_path)
    assert a["x"] == pytest.approx(b["x"], rel=1e-12, abs=1e-14)
    assert a["last_only"] == pytest.approx(b["last_only"], rel=1e-12) and abs(a["last_only"]) > 1e-3
    assert a["history"] == pytest.approx(b["history"], rel=1e-12)
    assert a["unused_grad_is_none"] and b["unused_grad_is_none"]


def test_fit_sum_over_ranks_is_a_no_op_alone():
    m = torch.nn.Linear(2, 1).double()
    opt = torch.optim.SGD(m.parameters(), lr=0.1)
    x = torch.ones(3, 2, dtype=torch.float64)
    m2 = torch.nn.Linear(2, 1).double()
    m2.load_state_dict(m.state_dict())
    opt2 = torch.optim.SGD(m2.parameters(), lr=0.1)
    train.fit(lambda i: m(x).pow(2).sum(), m, opt, 5, progress=False, sum_over_ranks=True)
    train.fit(lambda i: m2(x).pow(2).sum(), m2, opt2, 5, progress=False)
    assert torch.equal(m.weight, m2.weight) and torch.equal(m.bias, m2.bias)


def test_step_subset_is_a_replayable_uniform_draw():
    """step_subset: k distinct items of range(n), the same for the same (seed, step) in a fresh call (what another
    process or a resumed run makes), different over steps; each item drawn about k / n of the time over 3000
    steps (binomial sd 0.9 %); all of them when k >= n; bad sizes refused."""
    from optlib.train import step_subset
    a = step_subset(9, 3, 5, 17)
    assert a == step_subset(9, 3, 5, 17) and a == sorted(set(a)) and len(a) == 3 and all(0 <= i < 9 for i in a)
    assert len({tuple(step_subset(9, 3, 5, s)) for s in range(20)}) > 5
    assert step_subset(9, 3, 6, 17) != a or step_subset(9, 3, 6, 18) != step_subset(9, 3, 5, 18)
    counts = [0] * 9
    for s in range(3000):
        for i in step_subset(9, 3, 0, s):
            counts[i] += 1
    assert all(abs(c / 3000 - 1 / 3) < 0.03 for c in counts)
    assert step_subset(4, 4, 0, 0) == step_subset(4, 9, 1, 2) == [0, 1, 2, 3]
    for n, k in ((0, 1), (3, 0), (3, True), (2.0, 1)):
        with pytest.raises(ValueError, match="step_subset"):
            step_subset(n, k, 0, 0)
