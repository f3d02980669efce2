"""Measured costs inside the search (`MeasuredHardware`): pieces measured once per backbone and
clock point, any exit plan composed from them, every measurement stored at once and reused,
noise re-measured or flagged, clocks the device cannot set fixed and said so."""
from __future__ import annotations

from typing import Any

import numpy as np

from conftest import raises_config_error
from hadas.evaluation.measured import MeasuredHardware
from hadas.hardware import DvfsSetting, HardwareModel
from hadas.space import BackboneSpace, ExitPlan, candidate_positions, segments
from hadas.storage import RunDatabase


class CountingDevice:
    """A device whose segment latencies are their MACs / 1e6 ms (energy when `energy`), with
    a spread of `spreads[call]` x latency: measurements are counted."""

    def __init__(self, cfg: Any, energy: bool = False, spreads: tuple[float, ...] = (0.01,)):
        self.cfg, self.energy, self.spreads, self.calls = cfg, energy, spreads, []

    def measure(self, backbone: Any, plan: ExitPlan, dvfs: dict[str, int],
                repeats: int) -> dict[str, Any]:
        spread = self.spreads[min(len(self.calls), len(self.spreads) - 1)]
        self.calls.append((backbone, plan, dict(dvfs)))
        skeleton = BackboneSpace(self.cfg.supernet).skeleton(backbone)
        rows = [{"kind": s.kind, "index": s.index, "latency_ms": s.macs / 1e6,
                 "latency_ms_spread": spread * s.macs / 1e6,
                 "energy_mj": s.macs / 1e5 if self.energy else None,
                 "energy_unavailable": None if self.energy else "no sensor in the test"}
                for s in segments(skeleton, plan, self.cfg.exits.exit_channels)]
        return {"dvfs": dict(dvfs), "segments": rows}


def _measured(cfg: Any, device: CountingDevice, store: Any = None,
              settable: dict[str, tuple[int, ...]] | None = None) -> MeasuredHardware:
    model = HardwareModel("agx-xavier", exit_channels=cfg.exits.exit_channels)
    return MeasuredHardware(device, {"device": "counting"}, settable or {}, model,
                            cfg.exits.first_exit_block, store, repeats=3)


def test_every_exit_plan_of_a_backbone_is_composed_from_one_measurement(tiny_cfg):
    device = CountingDevice(tiny_cfg)
    hw = _measured(tiny_cfg, device)
    skeleton = BackboneSpace(tiny_cfg.supernet).skeleton(BackboneSpace(tiny_cfg.supernet)
                                                         .largest())
    candidates = candidate_positions(skeleton.n_blocks, tiny_cfg.exits.first_exit_block)
    for positions in [(), candidates[:1], candidates[1::2], tuple(candidates)]:
        plan = ExitPlan(positions)
        costs = hw.segment_costs(skeleton, plan)
        expected = segments(skeleton, plan, tiny_cfg.exits.exit_channels)
        assert list(zip(costs.kinds, costs.indices)) == [(s.kind, s.index) for s in expected]
        # a segment's latency is the sum of its pieces: here its MACs, as the device said
        assert np.allclose(costs.latency_ms, [s.macs / 1e6 for s in expected])
        assert costs.provenance == {"latency_ms": "measured", "energy_mj": "modelled (agx-xavier)"}
    assert len(device.calls) == 1 and device.calls[0][1].positions == tuple(candidates)


def test_energy_is_measured_where_the_device_has_a_sensor(tiny_cfg):
    hw = _measured(tiny_cfg, CountingDevice(tiny_cfg, energy=True))
    space = BackboneSpace(tiny_cfg.supernet)
    skeleton = space.skeleton(space.smallest())
    plan = ExitPlan(candidate_positions(skeleton.n_blocks, tiny_cfg.exits.first_exit_block)[:2])
    costs = hw.segment_costs(skeleton, plan)
    assert costs.provenance["energy_mj"] == "measured"
    expected = segments(skeleton, plan, tiny_cfg.exits.exit_channels)
    assert np.allclose(costs.energy_mj, [s.macs / 1e5 for s in expected])


def test_measurements_are_stored_at_once_and_never_measured_again(tiny_cfg, tmp_path):
    space = BackboneSpace(tiny_cfg.supernet)
    skeletons = [space.skeleton(b) for b in (space.smallest(), space.largest())]
    with RunDatabase(tmp_path) as db:
        first = CountingDevice(tiny_cfg)
        hw = _measured(tiny_cfg, first, db)
        before = [hw.segment_costs(sk, ExitPlan(())) for sk in skeletons]
        assert hw.counts["measured"] == 2 and db.count_evaluations(hw.fingerprint) == 2
        again = CountingDevice(tiny_cfg)  # a new process after a crash: same store
        hw2 = _measured(tiny_cfg, again, db)
        after = [hw2.segment_costs(sk, ExitPlan(())) for sk in skeletons]
    assert again.calls == [] and hw2.counts == {"measured": 0, "reused": 2, "noisy": 0}
    assert all(np.array_equal(a.latency_ms, b.latency_ms) for a, b in zip(before, after))


def test_a_noisy_piece_is_measured_again_then_flagged(tiny_cfg, tmp_path):
    space = BackboneSpace(tiny_cfg.supernet)
    skeleton = space.skeleton(space.smallest())
    steady = CountingDevice(tiny_cfg, spreads=(0.9, 0.01))  # noisy once, then steady
    hw = _measured(tiny_cfg, steady)
    hw.segment_costs(skeleton, ExitPlan(()))
    assert len(steady.calls) == 2 and hw.counts["noisy"] == 0
    noisy = CountingDevice(tiny_cfg, spreads=(0.9,))
    with RunDatabase(tmp_path) as db:
        hw = _measured(tiny_cfg, noisy, db)
        hw.segment_costs(skeleton, ExitPlan(()))
        stored = db.get_evaluation(hw.fingerprint, {"backbone": skeleton.backbone.to_dict(),
                                                    "exits": list(candidate_positions(
                                                        skeleton.n_blocks,
                                                        tiny_cfg.exits.first_exit_block)),
                                                    "dvfs": {}})
    assert len(noisy.calls) == 2 and hw.counts["noisy"] == len(stored["segments"])
    assert all(r["noisy"] and r["latency_ms_spread"] > 0 for r in stored["segments"])


def test_clocks_a_device_cannot_set_are_fixed_and_said_so(tiny_cfg):
    space = BackboneSpace(tiny_cfg.supernet)
    skeleton = space.skeleton(space.smallest())
    hw = _measured(tiny_cfg, CountingDevice(tiny_cfg))
    reference = hw.platform.reference_hz(hw.mode)
    assert hw.dvfs_hz == {d: (hz,) for d, hz in reference.items()} and hw.settable == ()
    assert "cannot be set" in (hw.clocks_note or "")
    slower = {**reference, "gpu": hw.platform.dvfs_hz["gpu"][0]}
    with raises_config_error("dvfs.gpu", "cannot be set on this device"):
        hw.segment_costs(skeleton, ExitPlan(()), DvfsSetting.create(hw.platform, slower))
    # a device that sets the GPU clock: the search may choose it, and each point is measured
    gpu = hw.platform.dvfs_hz["gpu"][:2]
    device = CountingDevice(tiny_cfg)
    settable = _measured(tiny_cfg, device, settable={"gpu": gpu})
    grid = settable.costs_grid(skeleton, ExitPlan(()))
    assert settable.dvfs_hz["gpu"] == gpu and grid.n_points == 2
    assert [c[2] for c in device.calls] == [{"gpu": hz} for hz in gpu]


def test_an_exit_piece_is_timed_with_the_decision_the_program_takes(tiny_cfg):
    """Exit pieces are measured as `hadas.export.program` runs them: head, scores, decision,
    and the batch split into the predictions of the leavers and the features of the rest."""
    import torch

    from hadas.exits.segment_modules import DecidingExit, segment_modules

    space = BackboneSpace(tiny_cfg.supernet)
    b = space.largest()
    plan = ExitPlan(candidate_positions(b.n_blocks, tiny_cfg.exits.first_exit_block)[:1])
    mods = segment_modules(tiny_cfg, b, plan, tiny_cfg.exits.exit_channels)
    exit_piece = next(m for kind, _, m in mods if kind == "exit")
    assert isinstance(exit_piece, DecidingExit)
    h = mods[0][2](torch.randn(4, 3, b.resolution, b.resolution))
    exit_piece.threshold = 0.0  # every sample leaves
    leavers, rest = exit_piece(h)
    assert leavers.shape == (4,) and rest.shape[0] == 0
    exit_piece.threshold = 2.0  # none can
    leavers, rest = exit_piece(h)
    assert leavers.shape == (0,) and torch.equal(rest, h)


def test_progress_says_what_was_measured_reused_and_at_most_what_is_left(tiny_cfg):
    from hadas.api.searching import measured_progress
    from hadas.config import EngineConfig
    device = CountingDevice(tiny_cfg)
    gpu = (114750000, 318750000, 522750000)
    hw = _measured(tiny_cfg, device, settable={"gpu": gpu})
    lines: list[str] = []
    done = [0]
    ooe = EngineConfig(population=6, generations=3, n_crossover=4, n_mutation=4)
    say = measured_progress(hw, lines.append, ooe, lambda: done[0])
    assert "cpu, emc cannot be set" in lines[0]  # the clocks it cannot set, said first
    skeleton = BackboneSpace(tiny_cfg.supernet).skeleton(BackboneSpace(tiny_cfg.supernet)
                                                         .largest())
    hw.costs_grid(skeleton, ExitPlan(()))
    done[0] = 1
    say("generation 1/3")
    # 2 generations left, each at most max(6, 4 + 4) new backbones x 3 GPU clocks
    assert lines[-1].endswith("3 new, 0 reused from the run database, at most 48 left, "
                              "0 noisy pieces")
    done[0] = 3
    say("generation 3/3")
    assert "at most 0 left" in lines[-1]
