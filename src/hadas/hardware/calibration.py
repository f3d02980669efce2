"""Calibration: fit a platform's coefficients to a profile, and say what the data determined.

Every measured unit of a profile is one row: a DyNN segment, an explicit operation or a whole
network, each one invocation (`analytical` module docstring). Samples (not rows) are split
into a training and a held-out set by a seeded generator, so a sample never informs its own
test score.

Latency. For a fixed assignment of every operation to its roofline side (compute- or memory-
bound), a row's latency is linear in x = (1/eff_conv, 1/eff_dwconv, 1/eff_pwconv,
1/eff_linear, 1/eta_bw, t_fixed, c_host, t_invoke). The fit alternates: assign sides with the
current x, solve a bounded least-squares problem in relative error (rows divided by the
measurement: what MAPE measures) with a small ridge pull towards the prior (the platform's
coefficients), repeat until the assignment is stable; the x with the lowest training MAPE wins.
Energy, on its own terms: with each row's fitted latency T, energy is linear in (P_static,
P_host, e_conv, e_dwconv, e_pwconv, e_linear, e_byte) (`analytical.energy_terms`); one bounded,
ridge-regularised relative least squares on the rows that carry an energy.

Bounds are the physical ones of `Platform.physical_bounds`: efficiencies in (0, 1], per-kernel
overhead and invocation cost in their ranges, P_static and P_host within the board's power
budget, energies >= 0. A coefficient that ends on a bound is reported `at_bound`. The mean power
the fit implies per row (energy / latency) is reported beside the measured one and the budget
(`implied_power_w`), not bounded: a board at MAXN is not capped (PLATFORMS.md §4), and one
measured AGX Xavier layer of the shared LUTs itself draws 31.3 W against the 30 W budget.

Identifiability. A coefficient is `not identified`, and kept at its prior, when the training
rows cannot determine it:
- a clock-scaled/fixed split seen at a single clock: per-kernel t_fixed vs c_host / f_cpu, and
  P_static vs P_host g(f_cpu), need at least two CPU clocks; with one, their sum at that clock
  is fitted and the split stays at the prior's ratio;
- no support: its term is below 2 % of every training row's latency (energy);
- not separable from the others: its relative standard error (from the residuals and its
  column's part not explained by the other columns) is over 50 %.
The calibrated file lists what was identified, what was not and why, and what sat on a bound.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from scipy.optimize import lsq_linear

from hadas.atomic import write_atomic
from hadas.errors import ConfigError
from hadas.hardware.analytical import (ENERGY_TERMS, HardwareModel, LayerTable, UnitTimes,
                                       energy_terms, energy_vector, launch_seconds,
                                       roofline_seconds)
from hadas.hardware.clocks import DvfsSetting
from hadas.hardware.fit_metrics import agreement
from hadas.hardware.layer_costs import LayerCost, segment_layer_costs
from hadas.hardware.operations import Operation
from hadas.hardware.platform import (EFFICIENCY_MIN, HOST_DOMAIN, INVOKE_MAX_S,
                                     KERNEL_OVERHEAD_MAX_S, LAYER_KINDS, Coefficients, Platform)
from hadas.hardware.profile_format import NetworkSample, OperationSample, Profile
from hadas.space.backbone import Backbone
from hadas.space.backbone_space import BackboneSpace
from hadas.space.exits import ExitPlan

RIDGE = 1e-4            # pull of each coefficient (relative to its prior) against the data
MAX_ROUNDS = 30         # roofline side re-assignments
MIN_SHARE = 0.02        # a term below this share of every row is not supported by the data
MAX_REL_SE = 0.5        # relative standard error above which a coefficient is not identified
LATENCY_PARAMS = (*(f"efficiency.{k}" for k in LAYER_KINDS), "bandwidth_efficiency",
                  "launch_fixed_s", "launch_cpu_cycles", "invoke_s")
LAUNCH_SPLIT = (5, 6)   # t_fixed, c_host
POWER_SPLIT = (0, 1)    # P_static, P_host


@dataclass(frozen=True)
class Rows:
    """Every measured unit of some samples as one flat operation table."""

    table: LayerTable           # one "segment" per row
    unit: UnitTimes             # [n_ops, 1]
    freqs: dict[str, np.ndarray]  # domain -> [n_rows, 1]
    latency_ms: np.ndarray      # [n_rows]
    energy_mj: np.ndarray       # [n_rows], nan where unavailable
    sample: np.ndarray          # [n_rows] sample index

    def subset(self, samples: np.ndarray) -> "Rows":
        rows = np.isin(self.sample, samples)
        counts = np.diff(np.append(self.table.starts, self.table.macs.size))
        ops = np.repeat(rows, counts)
        kept = counts[rows]
        t = self.table
        table = LayerTable(tuple(np.array(t.segment_kinds)[rows]),
                           tuple(np.array(t.segment_indices)[rows]),
                           (np.cumsum(kept) - kept).astype(np.intp),
                           t.macs[ops], t.bytes_moved[ops], t.kernels[ops], t.kind[ops])
        return Rows(table, UnitTimes(self.unit.compute_s[ops], self.unit.memory_s[ops]),
                    {d: f[rows] for d, f in self.freqs.items()},
                    self.latency_ms[rows], self.energy_mj[rows], self.sample[rows])

    @property
    def kernels(self) -> np.ndarray:
        return self.table.segment_sum(self.table.kernels)

    @property
    def macs(self) -> np.ndarray:
        return self.table.segment_sum(self.table.macs)


@dataclass(frozen=True)
class CalibrationResult:
    platform: Platform
    report: dict[str, Any]


# --- rows ------------------------------------------------------------------------------------

def _units(profile: Profile, space: BackboneSpace | None, precision: str, i: int, s: Any
           ) -> list[tuple[str, int, Sequence[LayerCost], float, float]]:
    """(kind, index, operations, latency_ms, energy_mj) of every unit one sample measured."""
    where = f"profile.samples[{i}]"
    energy = lambda m: np.nan if m.energy_mj is None else m.energy_mj   # noqa: E731
    if isinstance(s, OperationSample):
        m = s.measured
        return [("operation", i, Operation.from_dict(s.op).layer_costs(precision),
                 m.latency_ms, energy(m))]
    if space is None:
        raise ConfigError("profile.config", f"{where} is a {s.kind} sample: it needs the run "
                          "configuration of its supernet")
    try:
        skeleton = space.skeleton(space.validate(Backbone.from_dict(s.arch)))
        plan = ExitPlan.from_dict(s.exits) if s.kind == "dynn" else ExitPlan(())
    except (KeyError, TypeError, ValueError) as exc:
        raise ConfigError(f"{where}.arch", f"cannot be read ({exc})") from None
    segs = segment_layer_costs(skeleton, plan, profile.exit_channels or 1, precision)
    if isinstance(s, NetworkSample):
        m = s.measured
        return [("network", i, [c for seg in segs for c in seg.layers], m.latency_ms, energy(m))]
    expected = [(seg.kind, seg.index) for seg in segs]
    got = [(seg.kind, seg.index) for seg in s.segments]
    if got != expected:
        raise ConfigError(f"{where}.segments", f"got {got}, expected {expected} "
                          "(segments() order of this arch and exit plan)")
    return [(seg.kind, seg.index, seg.layers, m.latency_ms, energy(m))
            for seg, m in zip(segs, s.segments)]


def profile_rows(model: HardwareModel, profile: Profile, space: BackboneSpace | None) -> Rows:
    """Cost tables of every measured unit, checked against what its sample describes."""
    units, row_f, sample = [], [], []
    for i, s in enumerate(profile.samples):
        got = _units(profile, space, model.precision, i, s)
        point = DvfsSetting.create(model.platform, s.dvfs, model.mode).to_dict()
        units += got
        row_f += [point] * len(got)
        sample += [i] * len(got)
    if not units:
        raise ConfigError("profile.samples", "is empty: nothing to calibrate on")
    table = LayerTable.from_units([u[0] for u in units], [u[1] for u in units],
                                  [u[2] for u in units])
    counts = np.diff(np.append(table.starts, table.macs.size))
    freqs = {d: np.array([[float(f[d])] for f in row_f]) for d in model.platform.domains}
    unit = model.unit_times(table, {d: np.repeat(f, counts, axis=0) for d, f in freqs.items()})
    return Rows(table, unit, freqs, np.array([u[3] for u in units]),
                np.array([u[4] for u in units], dtype=float), np.array(sample))


# --- the model on rows -----------------------------------------------------------------------

def row_latency_s(rows: Rows, c: Coefficients) -> np.ndarray:
    """Latency of every row in seconds [n_rows]."""
    roof = rows.table.segment_sum(roofline_seconds(rows.table, c, rows.unit)[0])[:, 0]
    return roof + launch_seconds(rows.kernels, c, rows.freqs[HOST_DOMAIN][:, 0]) + c.invoke_s


def energy_design(rows: Rows, model: HardwareModel, seconds: np.ndarray) -> np.ndarray:
    """[n_rows, 9] features in mJ per unit of the coefficients (`ENERGY_TERMS` order)."""
    terms = energy_terms(model.platform, rows.freqs, seconds[:, None], rows.table.kind_macs,
                         rows.table.segment_sum(rows.table.bytes_moved), rows.kernels)[:, 0, :]
    unit = energy_vector(_unit_coefficients(), model.precision, model.platform)
    return terms * unit[None, :] * 1e3


def predict(rows: Rows, model: HardwareModel, c: Coefficients) -> tuple[np.ndarray, np.ndarray]:
    """Latency_ms and energy_mj of every row under coefficients `c`."""
    seconds = row_latency_s(rows, c)
    return seconds * 1e3, energy_design(rows, model, seconds) @ energy_params(c)


def _unit_coefficients() -> Coefficients:
    """Every energy coefficient 1, so `energy_vector` gives the units of the energy terms."""
    ones = {k: 1.0 for k in LAYER_KINDS}
    return Coefficients(efficiency=ones, bandwidth_efficiency=1.0, launch_fixed_s=0.0,
                        launch_cpu_cycles=0.0, static_w=1.0, host_w=1.0, energy_pj_per_mac=ones,
                        energy_pj_per_byte=1.0, energy_mj_per_invoke=1.0,
                        energy_uj_per_kernel=1.0)


def latency_params(c: Coefficients) -> np.ndarray:
    return np.array([*(1.0 / c.efficiency[k] for k in LAYER_KINDS), 1.0 / c.bandwidth_efficiency,
                     c.launch_fixed_s, c.launch_cpu_cycles, c.invoke_s])


def with_latency(c: Coefficients, x: np.ndarray) -> Coefficients:
    return dataclasses.replace(c, efficiency={k: float(1.0 / x[i]) for i, k in
                                              enumerate(LAYER_KINDS)},
                               bandwidth_efficiency=float(1.0 / x[4]),
                               launch_fixed_s=float(x[5]), launch_cpu_cycles=float(x[6]),
                               invoke_s=float(x[7]))


def energy_params(c: Coefficients) -> np.ndarray:
    return np.array([c.static_w, c.host_w, *(c.energy_pj_per_mac[k] for k in LAYER_KINDS),
                     c.energy_pj_per_byte, c.energy_mj_per_invoke, c.energy_uj_per_kernel])


def with_energy(c: Coefficients, w: np.ndarray) -> Coefficients:
    return dataclasses.replace(c, static_w=float(w[0]), host_w=float(w[1]),
                               energy_pj_per_mac={k: float(w[2 + i])
                                                  for i, k in enumerate(LAYER_KINDS)},
                               energy_pj_per_byte=float(w[6]), energy_mj_per_invoke=float(w[7]),
                               energy_uj_per_kernel=float(w[8]))


def latency_design(rows: Rows, x: np.ndarray) -> np.ndarray:
    """Row features (seconds per unit of each x) with the roofline sides that x implies."""
    t, kind = rows.table, rows.table.kind
    unit_c, unit_m = rows.unit.compute_s[:, 0], rows.unit.memory_s[:, 0]
    inv_eff = np.where(kind >= 0, x[np.maximum(kind, 0)], 0.0)
    compute_bound = unit_c * inv_eff > unit_m * x[4]
    cols = np.zeros((kind.size, len(LATENCY_PARAMS)))
    idx = np.flatnonzero(compute_bound)
    cols[idx, kind[idx]] = unit_c[idx]
    cols[~compute_bound, 4] = unit_m[~compute_bound]
    cols[:, 5] = t.kernels
    a = t.segment_sum(cols)
    a[:, 6] = a[:, 5] / rows.freqs[HOST_DOMAIN][:, 0]
    a[:, 7] = 1.0
    return a


# --- bounded, tied, partly fixed least squares ----------------------------------------------

@dataclass
class Problem:
    """Which coefficients are free, fixed at the prior, or tied in a fixed-ratio pair."""

    prior: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    names: tuple[str, ...]
    fixed: dict[int, str] = dataclasses.field(default_factory=dict)   # index -> why
    tie: tuple[int, int, float, float] | None = None   # i, j, r_i, r_j: x_i = r_i s, x_j = r_j s

    @property
    def free(self) -> list[int]:
        """Indices fitted on their own (neither fixed nor in the tied pair)."""
        tied = self.tie[:2] if self.tie is not None else ()
        return [k for k in range(self.prior.size) if k not in self.fixed and k not in tied]

    def reduce(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """x = base + M z: (base, M, z prior, z lower, z upper)."""
        n = self.prior.size
        free = self.free
        cols = len(free) + (self.tie is not None)
        m = np.zeros((n, cols))
        for col, k in enumerate(free):
            m[k, col] = 1.0
        base = np.where([k in self.fixed for k in range(n)], self.prior, 0.0)
        z0, lo, hi = self.prior[free], self.lower[free], self.upper[free]
        if self.tie is not None:
            i, j, ri, rj = self.tie
            m[i, -1], m[j, -1] = ri, rj
            s0 = (self.prior[i] / ri) if ri else self.prior[j] / rj
            bound = min(self.upper[i] / ri if ri else np.inf, self.upper[j] / rj if rj else np.inf)
            z0, lo, hi = np.append(z0, s0), np.append(lo, 0.0), np.append(hi, bound)
        return base, m, z0, lo, hi

    def solve(self, a: np.ndarray, y: np.ndarray) -> np.ndarray:
        """argmin sum(((a x - y) / y)^2) + RIDGE sum(((z - z0) / scale)^2) within the bounds."""
        base, m, z0, lo, hi = self.reduce()
        if m.shape[1] == 0:
            return base
        rel = (a @ m) / y[:, None]
        target = 1.0 - (a @ base) / y
        scale = np.where(np.abs(z0) > 0, np.abs(z0), np.maximum(np.abs(rel).max(0), 1e-30) ** -1)
        lhs = np.vstack([rel * scale[None, :], np.sqrt(RIDGE) * np.eye(z0.size)])
        rhs = np.concatenate([target, np.sqrt(RIDGE) * z0 / scale])
        lo_s, hi_s = lo / scale, hi / scale
        hi_s = np.maximum(hi_s, lo_s + 1e-12)
        u = lsq_linear(lhs, rhs, bounds=(lo_s, hi_s), method="bvls").x
        return base + m @ (u * scale)


def _tie(problem: Problem, i: int, j: int, at_hz: float) -> None:
    """Tie x_i, x_j at the prior's ratio: for the launch pair, s = per-kernel time at `at_hz`
    (x_i = a s, x_j = (1 - a) s at_hz); for the power pair, s = P_i + P_j."""
    pi, pj = problem.prior[i], problem.prior[j] / at_hz
    share = 0.5 if pi + pj == 0 else pi / (pi + pj)
    problem.tie = (i, j, share, (1.0 - share) * at_hz)


def _identify(problem: Problem, a: np.ndarray, y: np.ndarray, x: np.ndarray) -> dict[int, str]:
    """Free coefficients the rows cannot determine, with the reason: all those without
    support, else the single least determined one (the others are judged again after a refit
    without it, since collinear coefficients share their uncertainty)."""
    base, m, _, lo, hi = problem.reduce()
    rel = (a @ m) / y[:, None]
    z = np.linalg.lstsq(m, x - base, rcond=None)[0]
    contrib = np.abs(rel * z[None, :])
    resid = 1.0 - rel @ z - (a @ base) / y
    dof = max(y.size - z.size, 1)
    sigma = float(np.sqrt((resid ** 2).sum() / dof))
    out: dict[int, str] = {}
    worst: tuple[float, int, str] | None = None
    for col, k in enumerate(problem.free):
        if z[col] <= lo[col] * (1 + 1e-9) or z[col] >= hi[col] * (1 - 1e-9):
            continue   # on a bound: reported as such, its value is what the data pushed to
        if contrib[:, col].max() < MIN_SHARE:
            out[k] = (f"no support: its term is below {MIN_SHARE:.0%} of every training row")
            continue
        others = np.delete(rel, col, axis=1)
        own = rel[:, col]
        if others.shape[1]:
            own = own - others @ np.linalg.lstsq(others, own, rcond=None)[0]
        unique = float(np.linalg.norm(own))
        se = np.inf if unique < 1e-12 * max(float(np.linalg.norm(rel[:, col])), 1e-300) \
            else sigma / unique
        rel_se = se / abs(z[col])
        if rel_se > MAX_REL_SE and (worst is None or rel_se > worst[0]):
            worst = (rel_se, k, "not separable from the other coefficients (relative standard "
                     f"error {'inf' if not np.isfinite(rel_se) else f'{rel_se:.0%}'})")
    if not out and worst is not None:
        out[worst[1]] = worst[2]
    return out


def _at_bounds(problem: Problem, x: np.ndarray) -> dict[str, str]:
    """Coefficients on a physical bound, in the file's units (an efficiency is 1 / x)."""
    out = {}
    for k in problem.free:
        name = problem.names[k]
        inverse = "efficiency" in name
        for side, bound in (("lower", problem.lower[k]), ("upper", problem.upper[k])):
            hit = x[k] <= bound * (1 + 1e-9) + 1e-300 if side == "lower" \
                else x[k] >= bound * (1 - 1e-9)
            if hit:
                value = 1.0 / bound if inverse else bound
                side = {"lower": "upper", "upper": "lower"}[side] if inverse else side
                out[name] = f"at its {side} bound {value:.4g}"
    return out


# --- latency and energy fits -----------------------------------------------------------------

def _latency_problem(platform: Platform, prior: Coefficients, n_cpu_clocks: int) -> Problem:
    f_max = platform.dvfs_hz[HOST_DOMAIN][-1]
    lower = np.array([1.0] * 5 + [0.0, 0.0, 0.0])
    upper = np.array([1.0 / EFFICIENCY_MIN] * 5 + [KERNEL_OVERHEAD_MAX_S,
                                                   KERNEL_OVERHEAD_MAX_S * f_max, INVOKE_MAX_S])
    problem = Problem(latency_params(prior), lower, upper, LATENCY_PARAMS)
    if n_cpu_clocks < 2:
        _tie(problem, *LAUNCH_SPLIT, f_max)
    return problem


def _fit_latency_once(rows: Rows, problem: Problem, prior: Coefficients
                      ) -> tuple[np.ndarray, np.ndarray]:
    """Alternate roofline sides and the bounded fit; the best x and its design."""
    y = rows.latency_ms / 1e3
    x = problem.prior.copy()
    best, best_err, best_a = x, np.inf, latency_design(rows, x)
    previous = None
    for _ in range(MAX_ROUNDS):
        a = latency_design(rows, x)
        if previous is not None and np.array_equal(a != 0, previous):
            break
        previous = a != 0
        x = problem.solve(a, y)
        err = float(np.mean(np.abs(row_latency_s(rows, with_latency(prior, x)) - y) / y))
        if err < best_err:
            best, best_err, best_a = x, err, latency_design(rows, x)
    return best, best_a


def fit_latency(rows: Rows, platform: Platform, prior: Coefficients
                ) -> tuple[Coefficients, Problem]:
    n_cpu = np.unique(rows.freqs[HOST_DOMAIN]).size
    problem = _latency_problem(platform, prior, n_cpu)
    for _ in range(len(LATENCY_PARAMS) + 1):
        x, a = _fit_latency_once(rows, problem, prior)
        weak = _identify(problem, a, rows.latency_ms / 1e3, x)
        if not weak:
            break
        problem.fixed.update(weak)
    return with_latency(prior, x), problem


def _energy_problem(platform: Platform, c: Coefficients, n_cpu_clocks: int) -> Problem:
    budget = platform.power_budget_w
    upper = np.array([budget, budget] + [np.inf] * 7)
    problem = Problem(energy_params(c), np.zeros(len(ENERGY_TERMS)), upper, ENERGY_TERMS)
    if n_cpu_clocks < 2:
        _tie(problem, *POWER_SPLIT, 1.0)
    return problem


def fit_energy(rows: Rows, model: HardwareModel, c: Coefficients
               ) -> tuple[Coefficients, Problem]:
    """Bounded relative least squares of the energy coefficients (rows with an energy)."""
    keep = np.isfinite(rows.energy_mj)
    a = energy_design(rows, model, row_latency_s(rows, c))[keep]
    y = rows.energy_mj[keep]
    n_cpu = np.unique(rows.freqs[HOST_DOMAIN][keep]).size
    problem = _energy_problem(model.platform, c, n_cpu)
    for _ in range(len(ENERGY_TERMS) + 1):
        w = problem.solve(a, y)
        weak = _identify(problem, a, y, w)
        if not weak:
            break
        problem.fixed.update(weak)
    if w[0] + w[1] > model.platform.power_budget_w and problem.tie is None:
        _tie(problem, *POWER_SPLIT, 1.0)       # keep static + host within the budget
        w = problem.solve(a, y)
    return with_energy(c, w), problem


# --- scores ----------------------------------------------------------------------------------

def check_split(train_fraction: float, seed: int) -> None:
    if isinstance(train_fraction, bool) or not 0.0 < train_fraction <= 1.0:  # NaN fails too
        raise ConfigError("train_fraction", f"must be in (0, 1], got {train_fraction}")
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2**32:
        raise ConfigError("seed", f"must be an integer in 0..{2**32 - 1}, got {seed!r}")


def split_samples(n: int, train_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Seeded training and held-out sample indices."""
    check_split(train_fraction, seed)
    order = np.random.default_rng(seed).permutation(n)
    n_train = max(1, min(n, round(n * train_fraction)))
    return np.sort(order[:n_train]), np.sort(order[n_train:])


def _proxy(train_x: np.ndarray, train_y: np.ndarray, test_x: np.ndarray) -> np.ndarray:
    """A trivial predictor: y = a + b proxy (a, b >= 0), fitted in relative error."""
    a = np.stack([np.ones_like(train_x), train_x], axis=1) / train_y[:, None]
    scale = np.maximum(np.abs(a).max(0), 1e-300)
    coef = lsq_linear(a / scale, np.ones_like(train_y), bounds=(0, np.inf)).x / scale
    return coef[0] + coef[1] * test_x


def scores(train: Rows, test: Rows, model: HardwareModel, before: Coefficients | None,
           after: Coefficients, energy: bool) -> dict[str, Any] | None:
    """The model (and the prior) beside the kernel-count and MAC rankers on `test`."""
    pick = 1 if energy else 0
    measured = test.energy_mj if energy else test.latency_ms
    keep = np.isfinite(measured)
    fit_keep = np.isfinite(train.energy_mj if energy else train.latency_ms)
    if keep.sum() < 2 or fit_keep.sum() < 2:
        return None
    y = measured[keep]
    train_y = (train.energy_mj if energy else train.latency_ms)[fit_keep]
    out: dict[str, Any] = {"model": agreement(y, predict(test, model, after)[pick][keep])}
    if before is not None:
        out["prior"] = agreement(y, predict(test, model, before)[pick][keep])
    for name, values_train, values_test in (("kernel_count", train.kernels, test.kernels),
                                            ("macs", train.macs, test.macs)):
        out[name] = agreement(y, _proxy(values_train[fit_keep], train_y, values_test[keep]))
    return out


def check(platform: Platform, profile: Profile, space: BackboneSpace | None,
          precision: str = "fp32", mode: str | None = None,
          samples: np.ndarray | None = None) -> dict[str, Any]:
    """Score a platform on (some samples of) a profile without fitting it."""
    model = HardwareModel(platform, profile.exit_channels or 1, precision, mode)
    rows = profile_rows(model, profile, space)
    if samples is not None:
        rows = rows.subset(samples)
    latency, energy = predict(rows, model, platform.coefficients)
    keep = np.isfinite(rows.energy_mj)
    return {"platform": platform.name, "n_samples": int(np.unique(rows.sample).size),
            "provenance": {"latency_ms": platform.provenance("latency"),
                           "energy_mj": platform.provenance("energy")},
            "latency": agreement(rows.latency_ms, latency),
            "energy": agreement(rows.energy_mj[keep], energy[keep]) if keep.sum() >= 2 else None}


# --- the whole calibration -------------------------------------------------------------------

def _identifiability(fits: Sequence[tuple[Problem, np.ndarray]], clocks: dict[str, int]
                     ) -> dict[str, Any]:
    """What the data identified, what it did not (and why), what sits on a bound."""
    identified, not_identified, at_bound = [], {}, {}
    for problem, x in fits:
        at_bound.update(_at_bounds(problem, x))
        for k, name in enumerate(problem.names):
            if k in problem.fixed:
                not_identified[name] = f"kept at its prior: {problem.fixed[k]}"
            elif problem.tie is not None and k in problem.tie[:2]:
                i, j = problem.tie[:2]
                not_identified[name] = (f"split not identified: the training rows have one CPU "
                                        f"clock, so {problem.names[i]} vs {problem.names[j]} "
                                        "cannot be told apart; their sum at that clock is "
                                        "fitted and the split kept at the prior's ratio")
            else:
                identified.append(name)
    assumed = [f"{d} scaling: one {d} clock in the data, the model's clock law is assumed"
               for d, n in clocks.items() if n < 2]
    return {"identified": identified, "not_identified": not_identified, "at_bound": at_bound,
            "assumed": assumed}


def _implied_power(train: Rows, test: Rows | None, model: HardwareModel,
                   c: Coefficients) -> dict[str, float | None] | None:
    """Highest mean power (energy / latency) over rows: fitted on train and test, measured."""
    rows = [r for r in (train, test) if r is not None]
    if not any(np.isfinite(r.energy_mj).any() for r in rows):
        return None
    out: dict[str, float | None] = {"budget": model.platform.power_budget_w}
    for name, r in zip(("train_max", "test_max"), rows):
        keep = np.isfinite(r.energy_mj)
        latency, energy = predict(r, model, c)
        out[name] = round(float((energy[keep] / latency[keep]).max()), 3) if keep.any() else None
    out["measured_max"] = round(max(float(np.nanmax(r.energy_mj / r.latency_ms)) for r in rows
                                    if np.isfinite(r.energy_mj).any()), 3)
    return out


def calibrate(platform: Platform, profile: Profile, space: BackboneSpace | None,
              train_fraction: float = 0.5, seed: int = 0, precision: str = "fp32",
              mode: str | None = None, name: str | None = None) -> CalibrationResult:
    """Fit `platform`'s coefficients on a seeded share of the profile's samples; score the rest."""
    model = HardwareModel(platform, profile.exit_channels or 1, precision, mode)
    rows = profile_rows(model, profile, space)
    train_idx, test_idx = split_samples(len(profile.samples), train_fraction, seed)
    train, test = rows.subset(train_idx), rows.subset(test_idx)
    prior = platform.coefficients
    fitted, lat_problem = fit_latency(train, platform, prior)
    fits = [(lat_problem, latency_params(fitted))]
    has_energy = bool(np.isfinite(train.energy_mj).sum() >= len(ENERGY_TERMS))
    if has_energy:
        fitted, energy_problem = fit_energy(train, model, fitted)
        fits.append((energy_problem, energy_params(fitted)))
    clocks = {d: int(np.unique(train.freqs[d]).size) for d in platform.domains}
    ident = _identifiability(fits, clocks)
    candidate = dataclasses.replace(platform, coefficients=fitted)
    bad = candidate.physical_bounds()
    if bad:   # the fit's box bounds keep this from happening; never save an impossible file
        raise ConfigError("calibration", "the fit left physically impossible coefficients: "
                          + "; ".join(bad))
    held_out = test if test_idx.size else None
    report = {
        "n_train_samples": int(train_idx.size), "n_test_samples": int(test_idx.size),
        "n_train_rows": int(train.latency_ms.size),
        "n_test_rows": int(0 if held_out is None else held_out.latency_ms.size),
        "latency": {"train": scores(train, train, model, prior, fitted, False),
                    "test": scores(train, held_out, model, prior, fitted, False)
                    if held_out is not None else None},
        "energy": ({"train": scores(train, train, model, prior, fitted, True),
                    "test": scores(train, held_out, model, prior, fitted, True)
                    if held_out is not None else None} if has_energy else None),
        **ident, "implied_power_w": _implied_power(train, held_out, model, fitted),
        "coefficients_before": prior.to_dict(), "coefficients_after": fitted.to_dict()}
    calibration = {"base_platform": (platform.calibration or {}).get("base_platform",
                                                                      platform.name),
                   "fitted": ["latency", "energy"] if has_energy else ["latency"],
                   "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                   "train_fraction": train_fraction, "seed": seed, "precision": precision,
                   "power_mode": model.mode, "profile_platform": profile.platform,
                   "profile_host": dict(profile.host), "report": report}
    return CalibrationResult(dataclasses.replace(candidate, name=name or platform.name,
                                                 calibration=calibration), report)


def save_calibrated(result: CalibrationResult, path: str | Path, profile_path: str) -> Path:
    """Write the calibrated platform YAML (loadable with `load_platform_file`)."""
    path = Path(path)
    data = result.platform.to_dict()
    data["calibration"]["profile"] = str(profile_path)
    report = result.report
    fitted = ", ".join(data["calibration"]["fitted"])
    lines = [f"# Calibrated from {profile_path} by `hadas hw calibrate` (base platform "
             f"{data['calibration']['base_platform']}).",
             f"# Fitted: {fitted}. Every other number is copied from the base platform's file, "
             "which names its sources.",
             f"# Identified by the data: {', '.join(report['identified']) or 'nothing'}.",
             "# Not identified (kept at the prior; of a split pair only the sum fitted): "
             f"{', '.join(report['not_identified']) or 'none'}.",
             f"# On a physical bound: {', '.join(report['at_bound']) or 'none'}."]
    text = "\n".join(lines) + "\n" + yaml.safe_dump(data, sort_keys=False, width=100,
                                                      default_flow_style=None)
    write_atomic(path, lambda f: f.write(text), binary=False)
    return path
