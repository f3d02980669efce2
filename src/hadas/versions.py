"""Installed versions of packages, for the provenance of runs, reports and bundles."""
from __future__ import annotations

import importlib.metadata


def package_versions(*names: str) -> dict[str, str]:
    """`{name: version}`, "not installed" for a missing package."""
    out = {}
    for name in names:
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out
