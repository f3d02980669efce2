"""DVFS control on Jetson boards: discover clock nodes, pin CPU/GPU/EMC, verify, restore."""
from hadas.hardware.dvfs.control import DvfsControl
from hadas.hardware.dvfs.discover import discover
from hadas.hardware.dvfs.signals import cleanup_on_signals
from hadas.hardware.dvfs.sysfs import DvfsError, SysfsIO

__all__ = ["DvfsControl", "DvfsError", "SysfsIO", "cleanup_on_signals", "discover"]
