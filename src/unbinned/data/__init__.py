"""Event data: the validated container, the challenge schema, user samples and selections."""

from unbinned.data.events import EventSet, EventSummary, ProcessSummary
from unbinned.data.expr import Selection
from unbinned.data.files import FileSamples

__all__ = ["EventSet", "EventSummary", "FileSamples", "ProcessSummary", "Selection"]
