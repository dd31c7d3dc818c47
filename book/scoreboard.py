# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Scoreboard
#
# Every chapter writes its measured numbers and the paper's qualitative claims, as tested on that run, to
# `_build/results/<chapter>.<scale>.json`. This page reads those files; nothing here is typed by hand.
#
# Verdicts belong to the numbers alone: **reproduced**: our number is within the stated tolerance of the
# paper's (or the analytic value); **not reproduced**: it is not (the reason gives the measured ratio to the
# paper, at the scale of the run, and what was substituted), or there is no measurement yet; **measured**:
# the paper gives no number to compare with. Claims tested on a run are listed separately, each with the
# comparison it rests on ("0.592 vs 0.462 (needs >)") where it is one comparison; an item may name a related
# claim, shown beside it, which never changes the item's verdict.

# %% tags=["parameters", "remove-input"]
results_dir = "../results"

# %% tags=["nbval-ignore-output"]
# (output not compared by nbval: a re-run of a chapter may change a timing verdict; tests/test_book.py
# checks the rendered page instead)
from IPython.display import HTML, display

import optlib as ol

CHAPTERS = ["foundations", "sitzmann2018", "kleiner2025", "dko", "ho2024", "yang2024"]
runs = ol.report.load_results(results_dir)
counts = ol.report.summary_counts(runs)
print(f"{len(runs)} chapter run(s): " + ", ".join(f"{r['chapter']} ({r['scale']})" for r in runs))
print("verdicts: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))
display(HTML(ol.report.scoreboard_html(runs, CHAPTERS)))
