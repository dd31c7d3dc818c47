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
# Verdicts: **reproduced**: our number is within the stated tolerance of the paper's (or the analytic
# value); **qualitatively reproduced**: the number differs (scale, substituted data) but the paper's claim
# that it supports holds on our run; **not reproduced**: neither, with the reason; **measured**: the paper
# gives no number to compare with.

# %% tags=["parameters"]
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
