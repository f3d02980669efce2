"""One contract for every hardware backend (hardware/backend.py): the analytical model of every
registered platform, the device agent's `RemoteHardware` run against a real agent on loopback
that measures this machine, and `MeasuredHardware` measuring this machine in-process or through
that agent. A new backend joins by adding a fixture to BACKENDS."""
from __future__ import annotations

import json
import math
from collections.abc import Iterator

import numpy as np
import pytest

from hadas.api.board import BoardMeasurer, agent_backend
from hadas.evaluation.measured import MeasuredHardware
from hadas.hardware import HardwareModel, list_platforms
from hadas.hardware.agent import RemoteError, RemoteHardware
from hadas.hardware.backend import CostModel, GridCostModel
from hadas.hardware.clocks import DvfsSetting
from hadas.space import BackboneSpace, ExitPlan, candidate_positions, segments
from conftest import CONFIGS
from test_agent import TOKEN, serve

LABELS = ("modelled", "calibrated", "measured")
BACKENDS = ([f"model:{name}" for name in list_platforms()]
            + ["remote:local", "measured:local", "measured:remote"])


@pytest.fixture(scope="module")
def local_agent() -> Iterator[str]:
    measurer = BoardMeasurer(CONFIGS / "tiny-digits.yaml", "local", device="cpu", warmup=1)
    yield from serve(agent_backend(measurer, default_repeats=2))


@pytest.fixture(params=BACKENDS)
def backend(request, tiny_cfg) -> CostModel:
    kind, name = request.param.split(":")
    if kind == "model":
        return HardwareModel(name, exit_channels=tiny_cfg.exits.exit_channels)
    remote = RemoteHardware(request.getfixturevalue("local_agent"), TOKEN)
    if kind == "remote":
        return remote
    model = HardwareModel("local", exit_channels=tiny_cfg.exits.exit_channels)
    if name == "remote":
        info = remote.described()
        return MeasuredHardware(remote, info, info["dvfs_hz"], model,
                                tiny_cfg.exits.first_exit_block, repeats=2)
    measurer = BoardMeasurer(CONFIGS / "tiny-digits.yaml", "local", device="cpu", warmup=1)
    return MeasuredHardware(measurer, measurer.info(), measurer.tables, model,
                            tiny_cfg.exits.first_exit_block, repeats=2)


def test_a_backend_names_its_platform_and_what_its_costs_depend_on(backend):
    assert isinstance(backend, CostModel)
    assert backend.platform.domains and backend.platform.name
    identity = json.loads(json.dumps(backend.identity))  # JSON, as stored in fingerprints
    assert identity == backend.identity
    assert len(backend.key) == 16 and backend.key == backend.key


@pytest.mark.parametrize("n_exits", [0, 2])
def test_segment_costs_follow_the_dynn_and_say_where_they_come_from(backend, tiny_cfg, n_exits):
    space = BackboneSpace(tiny_cfg.supernet)
    skeleton = space.skeleton(space.smallest())
    plan = ExitPlan(candidate_positions(skeleton.n_blocks, tiny_cfg.exits.first_exit_block)
                    [:n_exits])
    costs = backend.segment_costs(skeleton, plan, DvfsSetting.reference(backend.platform))
    expected = segments(skeleton, plan, tiny_cfg.exits.exit_channels)
    assert list(zip(costs.kinds, costs.indices)) == [(s.kind, s.index) for s in expected]
    assert costs.platform == backend.platform.name
    assert np.all(np.isfinite(costs.latency_ms)) and np.all(costs.latency_ms > 0)
    assert costs.provenance["latency_ms"] in LABELS
    energy = costs.provenance["energy_mj"]
    if np.isnan(costs.energy_mj).any():  # no sensor: said so, never a silent estimate
        assert energy.startswith("unavailable") and np.isnan(costs.energy_mj).all()
    else:  # measured, or a named model's (`modelled (local)`) where there is no sensor
        assert energy.split(" (")[0] in LABELS and np.all(costs.energy_mj > 0)
    assert math.isclose(costs.total_latency_ms, float(np.sum(costs.latency_ms)), rel_tol=1e-9)


def test_every_backend_but_the_bare_agent_costs_a_whole_grid(backend):
    assert isinstance(backend, GridCostModel) == (not isinstance(backend, RemoteHardware))


def test_an_agent_serving_an_unknown_platform_is_named(tiny_cfg, monkeypatch):
    remote = RemoteHardware("http://127.0.0.1:9", TOKEN)
    monkeypatch.setattr(remote, "info", lambda: {"platform": "jetson-nano-9", "dvfs_hz": {}})
    with pytest.raises(RemoteError, match="'jetson-nano-9', which this host does not know"):
        remote.platform
