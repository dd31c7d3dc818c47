"""A Sphinx extension for the offline book: drops sphinx-thebe's scripts from every page, and reads optlib's
docstrings as the plain text they are written in for the API page.

Jupyter Book 1 always loads sphinx-thebe, which adds its script, and its ``const THEBE_JS_URL`` twice to
every page ("Identifier 'THEBE_JS_URL' has already been declared" in the console). Thebe runs code on a
remote Binder kernel; this book is read offline and offers no live-code button, so its scripts are dropped."""


def _is_thebe(script) -> bool:
    name = str(script)
    body = getattr(script, "attributes", {}).get("body", "") or ""
    return "thebe" in name or "THEBE_JS_URL" in body


def _drop_thebe(app, pagename, templatename, context, doctree):
    if "script_files" in context:
        context["script_files"] = [s for s in context["script_files"] if not _is_thebe(s)]


def _plain_pipes(app, what, name, obj, options, lines):
    """optlib's docstrings write absolute values and norms as |x - Q|, which reStructuredText reads as a
    substitution reference: escape the bars (the docstrings have no reST tables)."""
    for i, line in enumerate(lines):
        lines[i] = line.replace("|", "\\|")


def setup(app):
    app.connect("html-page-context", _drop_thebe, priority=900)
    app.connect("autodoc-process-docstring", _plain_pipes)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
