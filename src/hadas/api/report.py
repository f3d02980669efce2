"""The HTML report of a finished run (no torch needed)."""
from hadas.report import write_report

__all__ = ["write_report"]
