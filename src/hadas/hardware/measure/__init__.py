"""Measurement on this machine: module latency (CPU/CUDA) and energy (INA3221, NVML, RAPL)."""
from hadas.hardware.measure.counter import PROVENANCE, EnergyCounter, MeasureError, Unavailable
from hadas.hardware.measure.energy import SensorOpener, energy_source, open_energy_counter
from hadas.hardware.measure.ina3221 import Rail, find_rails, open_ina3221, select_rails
from hadas.hardware.measure.latency import LatencyStats, time_module
from hadas.hardware.measure.nvml import open_nvml
from hadas.hardware.measure.rapl import RaplCounter, open_rapl
from hadas.hardware.measure.sampler import PowerSampler
from hadas.hardware.measure.segments import EnergySource, SegmentMeasurement, measure_segments

__all__ = ["PROVENANCE", "EnergyCounter", "EnergySource", "LatencyStats", "MeasureError",
           "PowerSampler", "Rail", "RaplCounter", "SegmentMeasurement", "SensorOpener",
           "Unavailable", "energy_source", "find_rails", "measure_segments",
           "open_energy_counter", "open_ina3221", "open_nvml", "open_rapl", "select_rails",
           "time_module"]
