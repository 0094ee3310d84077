"""Tables built from result data (no printing here: the CLI renders them)."""

from deepzip.report.inspect import InspectReport, InspectRow, inspect_report

__all__ = ["InspectReport", "InspectRow", "inspect_report"]
