"""Event data: the validated container, the challenge schema and loaders."""

from unbinned.data.events import EventSet, EventSummary, ProcessSummary

__all__ = ["EventSet", "EventSummary", "ProcessSummary"]
