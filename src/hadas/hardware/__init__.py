"""Hardware: platforms, layer costs, the analytical latency/energy model under DVFS, calibration.

Measurement backends, DVFS control and the device agent live in their own modules and are
imported from there (they may need a board or torch).
"""
from hadas.hardware.analytical import DEFAULT_EXIT_CHANNELS, HardwareModel, SegmentCosts
from hadas.hardware.clocks import DvfsSetting
from hadas.hardware.expected import exit_prefix_costs, expected_costs
from hadas.hardware.layer_costs import LayerCost, SegmentLayerCosts, segment_layer_costs
from hadas.hardware.platform import Coefficients, Platform, PowerMode, load_platform_file
from hadas.hardware.registry import DEFAULT_PLATFORM, get_platform, list_platforms, resolve_platform

__all__ = ["DEFAULT_EXIT_CHANNELS", "DEFAULT_PLATFORM", "Coefficients", "DvfsSetting",
           "HardwareModel", "LayerCost", "Platform", "PowerMode", "SegmentCosts",
           "SegmentLayerCosts", "exit_prefix_costs", "expected_costs", "get_platform",
           "list_platforms", "load_platform_file", "resolve_platform", "segment_layer_costs"]
