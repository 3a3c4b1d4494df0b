"""The analysis report: one self-contained HTML page plus a JSON summary of every number on it.

:func:`write_report` renders :class:`Section` objects (tables whose numbers are
looked up in the summary by key, and PNG figures embedded as data URIs);
:func:`unbinned.report.analysis.build_report` assembles them from a finished analysis.
"""

# the package's API is exactly the page builder's; html.__all__ is its one list
from unbinned.report.html import *  # noqa: F403
from unbinned.report.html import __all__ as __all__
