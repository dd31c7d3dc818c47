"""The tools between an executed chapter and its page: preparing notebooks for the static book, result tables
as HTML, and the plot helpers the explorers and log plots use."""
import sys
from pathlib import Path

import matplotlib
import nbformat
import numpy as np
import pytest
from tqdm import tqdm

import optlib as ol

matplotlib.use("Agg")
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "book"))
from prepare_notebook import is_progress_bar, prepare  # noqa: E402

VIEW = "application/vnd.jupyter.widget-view+json"


def widget_output(text):
    return nbformat.v4.new_output("display_data", data={VIEW: {"model_id": "m", "version_major": 2},
                                                        "text/plain": text})


@pytest.mark.parametrize("n,total,desc", [(0, 150, "std_mnist"), (60, 150, "fit rank 0"), (3, 3, ""),
                                          (1500, 20001, "EDOF")])
def test_tqdm_bars_are_recognised(n, total, desc):
    text = tqdm.format_meter(n, total, elapsed=1.5, prefix=desc)
    assert is_progress_bar(widget_output(text)), text


def test_other_widgets_and_text_are_kept():
    assert not is_progress_bar(widget_output("VBox(children=(HTML(value='<b>Precomputed PSF explorer</b>'),))"))
    assert not is_progress_bar(widget_output("IntSlider(value=50)"))
    text_bar = tqdm.format_meter(3, 10, elapsed=1.0)
    assert not is_progress_bar(nbformat.v4.new_output("stream", name="stdout", text=text_bar))
    table = "item                    ours   paper\nAiry zero    33.5%|  33.5 | 1/2 [x]"
    assert not is_progress_bar(widget_output(table))


def test_prepare_drops_bars_only_where_nbval_ignores_output():
    bar = widget_output(tqdm.format_meter(5, 10, elapsed=1.0, prefix="train"))
    text = nbformat.v4.new_output("stream", name="stdout", text="loss 0.1\n")
    ignored = nbformat.v4.new_code_cell("fit()", metadata={"tags": ["nbval-ignore-output"]})
    ignored.outputs = [bar, text]
    compared = nbformat.v4.new_code_cell("fit()")
    compared.outputs = [bar, text]
    injected = nbformat.v4.new_code_cell("scale = 'tiny'", metadata={"tags": ["injected-parameters"]})
    nb = nbformat.v4.new_notebook(cells=[injected, ignored, compared])
    assert prepare(nb) == 1
    assert ignored.outputs == [text] and compared.outputs == [bar, text]
    assert "remove-input" in injected.metadata["tags"]


def test_results_show_as_html_tables():
    r = ol.report.Results("demo", "tiny", 0, "cpu")
    r.item("zero", "Airy first zero <x>", 33.54, 33.541, "um", tol=0.005)
    r.check("c1", "ours beats the baseline", 0.59, ">", 0.46)
    html = r._repr_html_()
    assert html.count("<table") == 2 and "Airy first zero &lt;x&gt;" in html
    assert "reproduced" in html and "0.59 vs 0.46 (needs &gt;)" in html and "holds" in html


def test_scale_bar_is_drawn_and_checked():
    from PIL import Image
    import io
    img = np.zeros((32, 32))
    plain = np.asarray(Image.open(io.BytesIO(ol.plot.image_png(img, 120))))
    barred = np.asarray(Image.open(io.BytesIO(ol.plot.image_png(img, 120, scale_bar=(0.25, "100 um")))))
    white = (barred[..., :3] == 255).all(-1)
    assert not (plain[..., :3] == 255).all(-1).any() and white.sum() >= 0.25 * 120
    cols = np.nonzero(white[int(0.92 * 120)])[0]
    assert abs((cols.max() - cols.min() + 1) - 30) <= 1  # a quarter of 120 pixels
    with pytest.raises(ValueError, match="fraction"):
        ol.plot.image_png(img, 120, scale_bar=(0, "x"))


def test_plain_log_ticks():
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots()
    r = [0.05, 0.1, 0.2, 0.4]
    ax.loglog(r, r)
    ol.plot.plain_log_ticks(ax, r)
    fig.canvas.draw()
    assert [t.get_text() for t in ax.get_xticklabels()] == ["0.05", "0.1", "0.2", "0.4"]
    assert not any(t.get_text() for t in ax.xaxis.get_minorticklabels())
    with pytest.raises(ValueError, match="axis"):
        ol.plot.plain_log_ticks(ax, r, axis="z")
    plt.close(fig)
