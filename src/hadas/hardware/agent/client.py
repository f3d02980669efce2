"""`RemoteHardware`: the search host's view of a device agent, a `CostModel` like the
analytical model (hardware/backend.py)."""
from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Mapping
from typing import Any

import numpy as np

from hadas.digest import json_digest
from hadas.errors import ConfigError, HadasError
from hadas.hardware.agent.protocol import API
from hadas.hardware.analytical import SegmentCosts
from hadas.hardware.clocks import DvfsSetting
from hadas.hardware.platform import Platform
from hadas.hardware.registry import get_platform
from hadas.space import Backbone, ExitPlan, Skeleton


class RemoteError(HadasError):
    """The agent was unreachable or refused the request; `status`: the HTTP status or None."""

    def __init__(self, message: str, status: int | None = None):
        self.status = status
        super().__init__(message)


class RemoteHardware:
    """Measured segment costs from a device agent at `url` (e.g. http://127.0.0.1:8765)."""

    def __init__(self, url: str, token: str, timeout_s: float = 600.0):
        self.url = url.rstrip("/")
        self.token = token
        self.timeout_s = timeout_s
        self._info: dict[str, Any] | None = None

    @property
    def platform(self) -> Platform:
        """The registered platform the agent serves (its DVFS tables are the board's own,
        in `info()["dvfs_hz"]`); RemoteError when this host does not know it."""
        name = self.described()["platform"]
        try:
            return get_platform(name)
        except ConfigError:
            raise RemoteError(f"agent {self.url} serves platform {name!r}, which this host does "
                              f"not know (hadas platforms list)") from None

    @property
    def identity(self) -> dict[str, Any]:
        """The board and what it runs: agent address, platform, clock tables, sensors and
        config as the agent describes them (measured costs depend on all of it)."""
        return {"agent": self.url, **self.described()}

    @property
    def key(self) -> str:
        return json_digest(self.identity)

    def described(self) -> dict[str, Any]:
        """`info()`, asked once per client (it does not change while the agent runs)."""
        if self._info is None:
            self._info = self.info()
        return self._info

    def info(self) -> dict[str, Any]:
        """Platform, DVFS tables (Hz), sensors and config the agent serves."""
        return self._call("GET", "/info")

    def measure(self, arch: Backbone | Mapping[str, Any], exits: ExitPlan | Mapping[str, Any],
                dvfs: Mapping[str, int] | None = None,
                repeats: int | None = None) -> dict[str, Any]:
        """Per-segment latency_ms / energy_mj (`segments()` order) of a DyNN at one DVFS point."""
        body: dict[str, Any] = {
            "arch": arch.to_dict() if isinstance(arch, Backbone) else dict(arch),
            "exits": exits.to_dict() if isinstance(exits, ExitPlan) else dict(exits),
            "dvfs": {k: int(v) for k, v in (dvfs or {}).items()}}
        if repeats is not None:
            body["repeats"] = repeats
        return self._call("POST", "/measure", body)

    def segment_costs(self, skeleton: Skeleton, plan: ExitPlan,
                      dvfs: DvfsSetting | None = None) -> SegmentCosts:
        """Measured costs in the shape `HardwareModel.segment_costs` returns. Only the domains
        the agent can set are sent; `freq_hz` holds the clocks it applied ({} on `local`).
        Missing energy is NaN, and its provenance says why."""
        info = self.described()
        wanted = {d: hz for d, hz in (dvfs.to_dict() if dvfs else {}).items()
                  if d in info["dvfs_hz"]}
        result = self.measure(skeleton.backbone, plan, wanted)
        segs = result["segments"]
        missing = [s["energy_unavailable"] for s in segs if s["energy_mj"] is None]
        energy = np.array([np.nan if s["energy_mj"] is None else s["energy_mj"] for s in segs])
        return SegmentCosts(tuple(s["kind"] for s in segs), tuple(s["index"] for s in segs),
                            np.array([s["latency_ms"] for s in segs]), energy,
                            {d: np.asarray(hz) for d, hz in result["dvfs"].items()},
                            info["platform"],
                            {"latency_ms": "measured",
                             "energy_mj": f"unavailable: {missing[0]}" if missing else "measured"})

    def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        url = f"{self.url}{API}{path}"
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(url, data=data, method=method, headers={
            "Authorization": f"Bearer {self.token}", "Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s) as response:
                return json.loads(response.read())
        except urllib.error.HTTPError as exc:
            raise RemoteError(f"agent {url} answered {exc.code}: {_reason(exc)}",
                              exc.code) from None
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise RemoteError(f"cannot reach the agent at {url}: {reason}") from None
        except json.JSONDecodeError:
            raise RemoteError(f"agent {url} answered something that is not JSON") from None


def _reason(exc: urllib.error.HTTPError) -> str:
    try:
        return str(json.loads(exc.read())["error"])
    except (ValueError, KeyError, TypeError, OSError):
        return exc.reason
