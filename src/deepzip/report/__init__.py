"""Tables, figures and the HTML report built from result data (no printing here: the CLI
renders them)."""

from deepzip.report.html import render_report, write_report
from deepzip.report.inspect import InspectReport, InspectRow, inspect_report

__all__ = ["InspectReport", "InspectRow", "inspect_report", "render_report", "write_report"]
