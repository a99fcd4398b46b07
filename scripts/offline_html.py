"""Sphinx extension (loaded from _config.yml): keep the HTML free of outside URLs.

Jupyter Book always loads sphinx-thebe, which writes the address of the Thebe
script on a public CDN into every page, even with launch buttons off.  Nothing
fetches it, but the book promises pages that refer to no outside host, so this
extension drops that inline script after sphinx-thebe has added it.
"""

from __future__ import annotations


def _is_thebe_config(filename, attributes) -> bool:
    return filename is None and "THEBE_JS_URL" in str(attributes.get("body", ""))


def _drop_thebe_config(app, env=None, docnames=None) -> None:
    app.registry.js_files[:] = [
        (name, attrs) for name, attrs in app.registry.js_files if not _is_thebe_config(name, attrs)
    ]
    builder_files = getattr(app.builder, "_js_files", None)
    if builder_files is not None:
        builder_files[:] = [
            js for js in builder_files if not _is_thebe_config(js.filename, js.attributes)
        ]


def setup(app):
    # Priority 900: after sphinx-thebe's own handler for the same event (default 500).
    app.connect("env-before-read-docs", _drop_thebe_config, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
