"""Datasets held in memory as uint8 tensors, and a loader that batches them on the device."""
from hadas.data.loader import TensorLoader
from hadas.data.registry import load_data
from hadas.data.tensors import DataSplits, ImageTensors

__all__ = ["DataSplits", "ImageTensors", "TensorLoader", "load_data"]
