"""The analysis report: one self-contained HTML page plus a JSON summary of every number on it.

:func:`write_report` renders :class:`Section` objects (tables whose numbers are
looked up in the summary by key, and PNG figures embedded as data URIs);
:func:`unbinned.report.analysis.build_report` assembles them from a finished analysis.
"""

from unbinned.report.html import (
    Cell,
    Figure,
    Section,
    Table,
    figure_png,
    format_number,
    lookup,
    render_html,
    write_report,
)

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
