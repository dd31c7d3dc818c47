"""Figure helpers shared by chapters. Axes in physical units (um), images shown with their extent."""
from __future__ import annotations

import numpy as np
import torch


def to_np(x):
    if isinstance(x, torch.Tensor):
        return x.detach().cpu().numpy()
    return np.asarray(x)


def extent_um(grid):
    """``imshow`` extent (left, right, bottom, top) in micrometres for a Grid, measured from its origin (a PSF
    window on a chief ray is shown about its centre)."""
    H, W = grid.shape
    x0 = -(W // 2) * grid.dx
    y0 = -(H // 2) * grid.dy
    return [x0 * 1e6, (x0 + W * grid.dx) * 1e6, (y0 + H * grid.dy) * 1e6, y0 * 1e6]


def show(ax, img, grid=None, title=None, cmap="inferno", log=False, colorbar=False, **kw):
    """Show a 2-D array (or an RGB ``(3, H, W)``/``(H, W, 3)``) with physical axes when ``grid`` is given."""
    a = to_np(img)
    if a.ndim == 3 and a.shape[0] in (1, 3):
        a = np.moveaxis(a, 0, -1).squeeze()
    if log:
        a = np.log10(np.maximum(a / a.max(), 1e-8))
    im = ax.imshow(np.clip(a, 0, 1) if a.ndim == 3 else a, cmap=None if a.ndim == 3 else cmap,
                   extent=extent_um(grid) if grid is not None else None, **kw)
    if title:
        ax.set_title(title, fontsize=9)
    if grid is not None:
        ax.set_xlabel("x (um)" if grid.origin == (0.0, 0.0) else "x - x0 (um)", fontsize=8)
    else:
        ax.set_xticks([])
        ax.set_yticks([])
    if colorbar:
        ax.figure.colorbar(im, ax=ax, fraction=0.046)
    return im


def image_row(images, titles=None, grid=None, size=2.4, **kw):
    """One figure with a row of images."""
    import matplotlib.pyplot as plt
    n = len(images)
    fig, axes = plt.subplots(1, n, figsize=(size * n, size * 1.05), squeeze=False)
    for i, (ax, im) in enumerate(zip(axes[0], images)):
        show(ax, im, grid, titles[i] if titles else None, **kw)
    fig.tight_layout()
    return fig, axes[0]


def figure_to_png(fig, dpi=80) -> bytes:
    """PNG bytes of a matplotlib figure (for image widgets); closes the figure."""
    import io
    import matplotlib.pyplot as plt
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight")
    plt.close(fig)
    return buf.getvalue()


def image_png(img, size: int = 200, cmap: str = "inferno", gamma: float = 0.5, scale_bar=None) -> bytes:
    """PNG bytes of a 2-D array in [0, 1] (shown as ``img ** gamma`` through ``cmap``), or of an RGB
    (3, H, W) image; nearest-neighbour resized to ``size`` pixels (for offline widget explorers).
    ``scale_bar``: ``(fraction, label)`` draws a white bar ``fraction`` of the image's width long, with
    ``label`` (e.g. ``(0.25, "100 um")``), in the lower left corner."""
    import io

    import matplotlib.pyplot as plt
    from PIL import Image, ImageDraw
    a = to_np(img)
    if a.ndim == 3:
        rgb = np.clip(a.transpose(1, 2, 0), 0, 1)
    else:
        rgb = plt.get_cmap(cmap)(np.clip(a, 0, 1) ** gamma)[..., :3]
    im = Image.fromarray(np.asarray(rgb * 255, dtype=np.uint8)).resize((size, size), Image.NEAREST)
    if scale_bar is not None:
        fraction, label = scale_bar
        if not 0 < fraction <= 1:
            raise ValueError(f"scale_bar fraction must be in (0, 1], got {fraction!r}")
        d = ImageDraw.Draw(im)
        x0, y0 = round(0.06 * size), round(0.92 * size)
        d.rectangle([x0, y0, x0 + round(fraction * size), y0 + max(2, size // 80)], fill="white")
        d.text((x0, y0 - max(12, size // 16)), label, fill="white")
    buf = io.BytesIO()
    im.save(buf, format="PNG")
    return buf.getvalue()


def stack_over(slider, values, make_child, start: int = 0, links: list = None):
    """An ipywidgets ``Stack`` with one child per slider value, switched by a ``jslink`` in the browser
    (so the rendered book needs no kernel). Nest calls for several sliders; keep ``links`` alive."""
    import ipywidgets as widgets
    st = widgets.Stack([make_child(v) for v in values], selected_index=start)
    link = widgets.jslink((slider, "index"), (st, "selected_index"))
    if links is not None:
        links.append(link)
    return st


def plain_log_ticks(ax, values, axis: str = "x", fmt: str = "{:g}") -> None:
    """Label a log ``axis`` ("x" or "y") of ``ax`` at ``values`` only, as plain numbers ("0.2", not
    "2 x 10^-1"), with no minor labels (matplotlib labels minor ticks of a short log axis, which overlap)."""
    from matplotlib.ticker import FixedFormatter, FixedLocator, NullFormatter
    if axis not in ("x", "y"):
        raise ValueError(f"axis must be 'x' or 'y', got {axis!r}")
    a = ax.xaxis if axis == "x" else ax.yaxis
    vals = [float(v) for v in values]
    a.set_major_locator(FixedLocator(vals))
    a.set_major_formatter(FixedFormatter([fmt.format(v) for v in vals]))
    a.set_minor_formatter(NullFormatter())
