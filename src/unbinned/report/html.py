"""A self-contained HTML page (plots embedded as PNG data URIs) and its JSON summary.

The page needs no network: styles are inline, every image is a
``data:image/png;base64`` URI.  Every number shown in a table carries the key of
the same number in the JSON summary (``data-key="results.observed.unbinned.value"``),
so a test can check that the page and the summary agree.  A small inline script
counts the images the browser decoded and writes the count into
``<body data-images-loaded="N" data-images-total="M">``.
"""

from __future__ import annotations

import base64
import html
import io
import json
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from unbinned._io import atomic_write_text
from unbinned.exceptions import ConfigError

__all__ = [
    "Cell",
    "Figure",
    "Section",
    "Table",
    "figure_png",
    "format_number",
    "lookup",
    "render_html",
    "write_report",
]


def format_number(value: Any) -> str:
    """How a number appears on the page: 4 significant digits, ``n/a`` for None/NaN."""
    if value is None:
        return "n/a"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            return "n/a"
        return f"{value:.4g}"
    return str(value)


def lookup(summary: Mapping[str, Any], key: str) -> Any:
    """The value at a dotted key of the summary (list indices as numbers)."""
    node: Any = summary
    for part in key.split("."):
        if isinstance(node, list):
            node = node[int(part)]
        elif isinstance(node, Mapping) and part in node:
            node = node[part]
        else:
            raise ConfigError(f"the summary has no key {key!r} (stopped at {part!r})")
    return node


@dataclass(frozen=True)
class Cell:
    """A table cell: a text, or a number looked up in the summary by ``key``."""

    text: str = ""
    key: str | None = None


@dataclass(frozen=True)
class Table:
    """A table: a caption, column headers and rows of cells (or plain strings)."""

    caption: str
    columns: Sequence[str]
    rows: Sequence[Sequence[Cell | str]]


@dataclass(frozen=True)
class Figure:
    """An embedded PNG image with a name (its element id) and a caption."""

    name: str
    caption: str
    png: bytes


@dataclass(frozen=True)
class Section:
    """A section of the page: a title, a paragraph, tables and figures."""

    title: str
    text: str = ""
    tables: Sequence[Table] = field(default_factory=tuple)
    figures: Sequence[Figure] = field(default_factory=tuple)


def figure_png(fig: Any, *, dpi: int = 90) -> bytes:
    """Render a matplotlib figure to PNG bytes and close it."""
    import matplotlib.pyplot as plt  # optional extra (plot)

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight")
    plt.close(fig)
    return buf.getvalue()


_CSS = """
.warnings { background: #fff0e0; border: 2px solid #c60; padding: .6em 1em; margin: 1em 0; }
.warnings strong { color: #a40; }
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1100px; color: #222; }
h1 { border-bottom: 2px solid #446; padding-bottom: .2em; }
h2 { color: #335; margin-top: 1.6em; }
table { border-collapse: collapse; margin: .8em 0; }
caption { text-align: left; font-weight: 600; padding: .3em 0; }
th, td { border: 1px solid #bbc; padding: .25em .7em; text-align: right; }
th { background: #eef; } td:first-child, th:first-child { text-align: left; }
figure { display: inline-block; margin: .5em; vertical-align: top; max-width: 520px; }
figure img { max-width: 100%; border: 1px solid #ddd; }
figcaption { font-size: .9em; color: #555; }
.meta { color: #666; font-size: .9em; }
"""

_SCRIPT = """
window.addEventListener('load', function () {
  var imgs = document.images, ok = 0;
  for (var i = 0; i < imgs.length; i++) {
    if (imgs[i].complete && imgs[i].naturalWidth > 0) { ok++; imgs[i].dataset.loaded = '1'; }
  }
  document.body.dataset.imagesLoaded = String(ok);
  document.body.dataset.imagesTotal = String(imgs.length);
});
"""


def _cell(cell: Cell | str, summary: Mapping[str, Any], tag: str = "td") -> str:
    if isinstance(cell, str):
        return f"<{tag}>{html.escape(cell)}</{tag}>"
    if cell.key is None:
        return f"<{tag}>{html.escape(cell.text)}</{tag}>"
    text = format_number(lookup(summary, cell.key))
    return f'<{tag} data-key="{html.escape(cell.key)}">{html.escape(text)}</{tag}>'


def _table(t: Table, summary: Mapping[str, Any]) -> str:
    head = "".join(f"<th>{html.escape(c)}</th>" for c in t.columns)
    body = "".join("<tr>" + "".join(_cell(c, summary) for c in row) + "</tr>" for row in t.rows)
    return (
        f"<table><caption>{html.escape(t.caption)}</caption><thead><tr>{head}</tr></thead>"
        f"<tbody>{body}</tbody></table>"
    )


def _figure(f: Figure) -> str:
    data = base64.b64encode(f.png).decode("ascii")
    return (
        f'<figure id="fig-{html.escape(f.name)}"><img alt="{html.escape(f.caption)}" '
        f'data-name="{html.escape(f.name)}" src="data:image/png;base64,{data}">'
        f"<figcaption>{html.escape(f.caption)}</figcaption></figure>"
    )


def render_html(
    title: str,
    sections: Sequence[Section],
    summary: Mapping[str, Any],
    *,
    meta: str = "",
    warnings: Sequence[str] = (),
) -> str:
    """The page as one HTML string (see the module docstring).

    ``warnings`` (failed self-checks) are listed in a banner under the title.
    """
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{html.escape(title)}</title><style>{_CSS}</style>",
        f"<script>{_SCRIPT}</script></head>",
        f'<body data-images-total="{sum(len(s.figures) for s in sections)}">',
        f"<h1>{html.escape(title)}</h1>",
    ]
    if meta:
        parts.append(f'<p class="meta">{html.escape(meta)}</p>')
    if warnings:
        items = "".join(f"<li>WARNING: {html.escape(w)}</li>" for w in warnings)
        parts.append(
            f'<div class="warnings" id="warnings" role="alert"><strong>{len(warnings)} '
            f"failed self-check{'s' if len(warnings) > 1 else ''}: read the results below "
            f"with care</strong><ul>{items}</ul></div>"
        )
    for s in sections:
        slug = "".join(ch if ch.isalnum() else "-" for ch in s.title.lower())
        parts.append(f'<section id="{slug}"><h2>{html.escape(s.title)}</h2>')
        if s.text:
            parts.append(f"<p>{html.escape(s.text)}</p>")
        parts.extend(_table(t, summary) for t in s.tables)
        parts.extend(_figure(f) for f in s.figures)
        parts.append("</section>")
    parts.append("</body></html>")
    return "\n".join(parts)


def write_report(
    directory: str | os.PathLike[str],
    title: str,
    sections: Sequence[Section],
    summary: Mapping[str, Any],
    *,
    meta: str = "",
    warnings: Sequence[str] = (),
) -> tuple[Path, Path]:
    """Write ``report.html`` and ``summary.json`` into ``directory`` (atomically).

    ``warnings``: the failed self-checks, in a banner under the title.

    Returns
    -------
    tuple of Path
        The HTML page and the JSON summary.
    """
    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    page = render_html(title, sections, summary, meta=meta, warnings=warnings)
    html_path = atomic_write_text(d / "report.html", page)
    text = json.dumps(summary, indent=2, sort_keys=False) + "\n"
    json_path = atomic_write_text(d / "summary.json", text)
    return html_path, json_path
