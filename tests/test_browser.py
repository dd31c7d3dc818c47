"""The built book read in a real browser (issue 16.7): headless Chromium opens every page offline (file://) and
the test fails on a console error, an uncaught exception, a failed local load, a request leaving file://, raw
TeX in prose, a formula MathJax did not typeset, a widget that did not render, an error output or an image that
does not load. A full-page screenshot of each page is saved under _build/browser/ (CI keeps them).

Needs Chromium (Debian's package: .ci/run installs it when absent); skipped without it unless
OPTLIB_REQUIRE_BROWSER is set, as CI sets it."""
import os
import shutil
from pathlib import Path

import pytest

from bookpaths import HTML, ROOT, book_built, toc_files

CHROMIUM = os.environ.get("OPTLIB_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
if not CHROMIUM:
    if os.environ.get("OPTLIB_REQUIRE_BROWSER"):
        raise RuntimeError("no Chromium found (apt-get install chromium, or set OPTLIB_CHROMIUM to its path)")
    pytest.skip("no Chromium (apt-get install chromium); the browser test is skipped", allow_module_level=True)

from playwright.sync_api import sync_playwright  # noqa: E402  (only once a browser is known to exist)

SHOTS = ROOT / "_build" / "browser"
# Chromium's flags for a closed network: no background connections to Google's services
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage"]

# Run in the page once it has loaded, MathJax has typeset and the widgets have rendered: what a reader sees.
INSPECT = r"""
async () => {
  const skip = 'pre, code, script, style, textarea, mjx-container, .math, .highlight, kbd, .MathJax';
  const raw = [];
  const walker = document.createTreeWalker(document.querySelector('main') || document.body, NodeFilter.SHOW_TEXT);
  const tex = /(\$[^$\n]{1,120}\$)|\\(frac|mathrm|lambda|sqrt|alpha|theta|sum|cdot|times|approx|le|ge)\b|\\\(|\\\[/;
  while (walker.nextNode()) {
    const n = walker.currentNode;
    if (n.parentElement && n.parentElement.closest(skip)) continue;
    const m = n.textContent.match(tex);
    if (m) raw.push(n.textContent.trim().slice(0, 120));
  }
  const untypeset = [...document.querySelectorAll('.math')]
    .filter(e => !e.querySelector('mjx-container')).map(e => e.textContent.trim().slice(0, 80));
  const views = document.querySelectorAll('script[type="application/vnd.jupyter.widget-view+json"]');
  const unrendered = [...views].filter(s => !(s.parentElement && s.parentElement.querySelector('.jupyter-widgets')))
    .map(s => s.textContent.trim().slice(0, 80));
  const errors = [...document.querySelectorAll('.output.traceback, .output.error, .output_error')]
    .map(e => e.textContent.trim().slice(0, 200));
  if (document.body.innerText.includes('Traceback (most recent call last)')) errors.push('a printed traceback');
  const imgs = [...document.images].map(i => i.currentSrc || i.src);
  const broken = [];
  await Promise.all(imgs.map(src => new Promise(res => {
    const im = new Image();
    im.onload = () => { if (!im.naturalWidth) broken.push(src); res(); };
    im.onerror = () => { broken.push(src); res(); };
    im.src = src;
  })));
  // the widget bundle's AMD modules take their fonts from beside their own URLs: all must be the vendored folder
  // (which module asks first is a race, so a wrong mapping fails only sometimes as a 404; check the mapping)
  const amd = (typeof window.require === "function" && window.require.toUrl)
    ? ["@jupyter-widgets/base", "@jupyter-widgets/controls", "@jupyter-widgets/html-manager",
       "@jupyter-widgets/html-manager/dist/libembed-amd"]
        .map(n => [n, new URL(window.require.toUrl(n), document.baseURI).href])
        .filter(([n, u]) => !/\/_static\/vendor\/html-manager\/[^/]+$/.test(u.split("?")[0]))
        .map(([n, u]) => n + " -> " + u)
    : [];
  return {raw, untypeset, views: views.length, unrendered, errors, images: imgs.length, broken, amd,
          maths: document.querySelectorAll('.math').length};
}
"""

WAIT_TYPESET = r"""
async (limit) => {
  if (window.MathJax && MathJax.startup && MathJax.startup.promise) await MathJax.startup.promise;
  const t0 = Date.now();
  const views = () => document.querySelectorAll('script[type="application/vnd.jupyter.widget-view+json"]').length;
  const rendered = () => document.querySelectorAll('.jupyter-widgets.widget-container, .jupyter-widgets').length;
  while (views() && rendered() < views() && Date.now() - t0 < limit) await new Promise(r => setTimeout(r, 200));
}
"""

PAGES = toc_files()


@pytest.fixture(scope="module")
def browser():
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        yield b
        b.close()


def visit(browser, page_file: Path, shot: Path = None, widget_wait_ms: int = 20000) -> dict:
    """Open ``page_file`` and return what went wrong: console errors, failed or non-local requests, and the
    page's own inspection (see INSPECT)."""
    ctx = browser.new_context(viewport={"width": 1280, "height": 900})
    page = ctx.new_page()
    console, failed, remote = [], [], []
    page.on("console", lambda m: console.append(f"{m.text[:300]} ({m.location.get('url', '')})")
            if m.type == "error" else None)
    page.on("pageerror", lambda e: console.append(f"uncaught: {str(e)[:300]}"))
    page.on("requestfailed", lambda r: failed.append(f"{r.url} ({r.failure})"))

    def route(r):
        if r.request.url.startswith(("file:", "data:", "blob:", "about:")):
            r.continue_()
        else:
            remote.append(r.request.url)
            r.abort()
    page.route("**/*", route)
    page.goto(page_file.as_uri(), wait_until="load")
    page.evaluate(WAIT_TYPESET, widget_wait_ms)
    found = page.evaluate(INSPECT)
    if shot is not None:
        shot.parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(shot), full_page=True)
    ctx.close()
    return dict(found, console=console, failed=failed, remote=remote)


def problems(r: dict) -> list:
    out = []
    for key, what in [("console", "console error"), ("failed", "failed load"), ("remote", "left file://"),
                      ("raw", "raw TeX in prose"), ("untypeset", "formula not typeset"),
                      ("unrendered", "widget not rendered"), ("errors", "error output"), ("broken", "broken image"),
                      ("amd", "widget module outside the vendored folder")]:
        out += [f"{what}: {x}" for x in r[key]]
    return out


@pytest.mark.parametrize("f", PAGES)
def test_page_reads_clean_in_chromium(browser, f):
    if not book_built():
        pytest.skip("book not built (run `make test`, which builds it first)")
    r = visit(browser, HTML / f"{f}.html", SHOTS / f"{f.replace('/', '_')}.png")
    assert not problems(r), f"{f}.html in Chromium:\n" + "\n".join(problems(r))
    if f.startswith("chapters/"):
        assert r["images"] >= 1, f"{f}: no images"


def test_the_inspection_can_fail(browser, tmp_path):
    """The same inspection on a page with one of each defect finds every one of them."""
    (tmp_path / "bad.html").write_text(r"""<html><head>
<script>console.error("boom");</script></head><body><main>
<p>an unrendered formula $E = mc^2$ and \frac{a}{b}</p>
<span class="math">\(x^2\)</span>
<div><script type="application/vnd.jupyter.widget-view+json">{"model_id": "x"}</script></div>
<div class="output traceback"><pre>ZeroDivisionError</pre></div>
<img src="missing.png"><script src="https://example.invalid/x.js"></script>
</main></body></html>""")
    r = visit(browser, tmp_path / "bad.html", widget_wait_ms=500)
    for key in ("console", "failed", "remote", "raw", "untypeset", "unrendered", "errors", "broken"):
        assert r[key], f"the inspection missed the planted '{key}' defect"


def test_search_finds_a_chapter(browser):
    """The book's search works offline: searching "Airy" lists the foundations chapter."""
    if not book_built():
        pytest.skip("book not built (run `make test`, which builds it first)")
    ctx = browser.new_context()
    page = ctx.new_page()
    page.goto((HTML / "search.html").as_uri() + "?q=Airy", wait_until="load")
    page.wait_for_selector("#search-results a, .search li a", timeout=20000)
    links = page.eval_on_selector_all("#search-results a, .search li a", "els => els.map(e => e.href)")
    ctx.close()
    assert any("00_foundations" in h for h in links), links
