"""Reports of finished runs: the HTML report (figures, tables, provenance) and run
comparisons. Reads result.json and the run database only: works without torch."""
from hadas.report.compare import EnergyGain, energy_gain
from hadas.report.run import RunData, load_run, read_result
from hadas.report.write import write_report

__all__ = ["EnergyGain", "RunData", "energy_gain", "load_run", "read_result", "write_report"]
