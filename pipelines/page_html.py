"""What the run page (`report`) and the node pages (`node_pages`) share.

Escaping, relative links, the style sheet, parameters as `name = value`,
durations, file-safe names and writing a page whole. A module of its own
because `report` imports `node_pages` (the run page writes its nodes' pages
first) and both need these: kept in either, the other would import it back.
"""

from __future__ import annotations

import html
import json
import os
import re

HTML_TYPE = "frontier.HtmlReport"  # = schemas.artifacts.HtmlReport.TYPE_NAME
COMPONENT_VERSION = "component_version"  # = versioning.COMPONENT_VERSION_KEY
# Parameter values longer than this (characters) are folded into a <details>.
_SHORT_VALUE = 60

STYLE = (
    "body{font-family:system-ui,sans-serif;margin:1.5em;max-width:1200px;color:#222}"
    "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:3px 8px;text-align:left;"
    "vertical-align:top}th{background:#f3f3f3}td{max-width:30em;overflow-wrap:anywhere}"
    ".graph{overflow:auto}.CACHED,.COMPLETE{color:#1e8e3e}.CACHED{color:#1a73e8}"
    ".FAILED{color:#c22}.INTERRUPTED{color:#e37400}.muted{color:#777}"
    ".details th{background:none;border:none;padding:1px 12px 1px 0;font-weight:600}"
    ".details td{border:none;padding:1px 0}"
    ".cards{display:flex;flex-wrap:wrap;gap:12px;align-items:flex-start}"
    ".tag{font-size:.8em;background:#e8f0fe;color:#1967d2;border-radius:4px;padding:1px 5px}"
    ".card{border:1px solid #dadce0;border-radius:8px;padding:8px;width:360px}"
    ".card h3{font-size:1em;margin:0 0 4px}.card p{margin:4px 0;font-size:.92em}"
    ".params td{max-width:none;font-size:.92em}.params td:first-child{white-space:nowrap}.params code{background:#f1f3f4;padding:0 3px;border-radius:3px}"
    ".kv{display:inline-block;margin:0 10px 2px 0}details.kv{display:block}"
    "details pre{white-space:pre-wrap;max-height:20em;overflow:auto;background:#f8f9fa;"
    "padding:4px;margin:2px 0}summary{cursor:pointer}"
)


def esc(v: object) -> str:
    """`v` as text, HTML-escaped (quotes too: it goes into attributes as well)."""
    return html.escape(str(v))


def link(uri: str, base: str, text: str | None = None) -> str:
    """A link to `uri`, relative to `base` (the page's folder) for local paths."""
    target = uri if "://" in uri else os.path.relpath(uri, base)
    return f'<a href="{esc(target)}">{esc(text or target)}</a>'


def file_safe(name: str) -> str:
    # A TFX run id is a timestamp: a ':' would make a relative link read as a URL scheme.
    return re.sub(r"[^A-Za-z0-9._-]", "-", name)


def duration(seconds: float) -> str:
    minutes, s = divmod(round(seconds), 60)
    return f"{minutes} min {s} s" if minutes else f"{seconds:.1f} s"


def parameter(name: str, value: object) -> str:
    """One parameter as `name = value`; a long value (JSON, paths) folded into a
    <details> whose summary is its start, pretty-printed when it is JSON."""
    text = value if isinstance(value, str) else repr(value)
    shown = json.dumps(text) if text == "" else text  # an empty string is still a value
    if len(shown) <= _SHORT_VALUE:
        return f"<span class='kv'><code>{esc(name)}</code> = {esc(shown)}</span>"
    try:
        full = json.dumps(json.loads(text), indent=1, sort_keys=True)
    except ValueError:
        full = text
    return (
        f"<details class='kv'><summary><code>{esc(name)}</code> = "
        f"{esc(shown[: _SHORT_VALUE - 10])}\u2026 <span class='muted'>({len(shown)} characters)"
        f"</span></summary><pre>{esc(full)}</pre></details>"
    )


def parameters(params: dict) -> str:
    """Parameters as `parameter`s, short ones first so that folded ones do not split them."""
    short = [parameter(k, v) for k, v in params.items() if len(str(v)) <= _SHORT_VALUE]
    long = [parameter(k, v) for k, v in params.items() if len(str(v)) > _SHORT_VALUE]
    return "".join(short + long) or "<span class='muted'>none recorded</span>"


def write_whole(path: str, text: str) -> None:
    """Writes `path` whole or not at all: a reader never sees half a page."""
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(tmp, path)
