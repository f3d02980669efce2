"""Calibration: fit a platform's model coefficients to a measured profile, report, save.

Every (sample, segment) measurement is one row. Samples (not rows) are split into a training
and a held-out set with a seeded generator, so a DyNN never informs its own test score.

Latency. For a fixed assignment of every operation to its roofline side (compute- or memory-
bound), a segment's latency is linear in x = (1/eff_conv, 1/eff_dwconv, 1/eff_pwconv,
1/eff_linear, 1/eta_bw, t_fixed, c_host). The fit alternates: assign sides with the current x,
solve a least-squares problem in relative error (rows divided by the measurement, so it
minimises what MAPE measures) with a small ridge pull towards the prior (the platform's
coefficients, so unidentifiable ones stay put), clamp to bounds, repeat until the assignment
is stable; the x with the lowest true (max-model) training error wins.
Energy. With the latency coefficients fixed, energy is linear in (P_static, P_host, P_comp,
P_mem) (`analytical.energy_terms`): one bounded, ridge-regularised relative least squares on the
rows that carry an energy. The voltage curves are not fitted (they stay as the file says).
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from hadas.errors import ConfigError
from hadas.hardware.analytical import (HardwareModel, LayerTable, UnitTimes, energy_terms,
                                       launch_seconds, layer_table, power_vector,
                                       roofline_seconds)
from hadas.hardware.clocks import DvfsSetting
from hadas.hardware.fit_metrics import kendall_tau, mape
from hadas.hardware.platform import HOST_DOMAIN, LAYER_KINDS, Coefficients, Platform
from hadas.hardware.profile_format import Profile
from hadas.space.backbone import Backbone
from hadas.space.backbone_space import BackboneSpace
from hadas.space.exits import ExitPlan

RIDGE = 1e-3            # pull of each coefficient (relative to its prior) against the data
MAX_ROUNDS = 30         # roofline side re-assignments
ENERGY_PARAMS = ("static_w", "host_w", "compute_w", "memory_w")
# lower bounds of x (efficiencies <= 100 as the platform loader allows; times, powers >= 0)
LATENCY_LOWER = np.array([0.01] * 5 + [0.0, 0.0])
# used as the scale of a coefficient whose prior is 0
LATENCY_SCALE = np.array([1.0] * 5 + [1e-6, 1e4])


@dataclass(frozen=True)
class Rows:
    """All measured segments of some samples as one flat operation table."""

    table: LayerTable           # one "segment" per row
    unit: UnitTimes             # [n_ops, 1]
    row_freqs: dict[str, np.ndarray]  # domain -> [n_rows, 1]
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
                    {d: f[rows] for d, f in self.row_freqs.items()},
                    self.latency_ms[rows], self.energy_mj[rows], self.sample[rows])


@dataclass(frozen=True)
class Quality:
    """Held-out (or training) agreement of predictions with measurements."""

    n_rows: int
    mape_before: float
    mape_after: float
    tau_before: float
    tau_after: float

    def to_dict(self) -> dict[str, float]:
        return {k: (round(v, 4) if isinstance(v, float) else v)
                for k, v in dataclasses.asdict(self).items()}


@dataclass(frozen=True)
class FitReport:
    """What a calibration did and how well it predicts held-out samples."""

    n_train_samples: int
    n_test_samples: int
    latency_train: Quality
    latency_test: Quality | None
    energy_train: Quality | None
    energy_test: Quality | None
    before: dict[str, Any]
    after: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return {"n_train_samples": self.n_train_samples, "n_test_samples": self.n_test_samples,
                **{k: (getattr(self, k).to_dict() if getattr(self, k) else None)
                   for k in ("latency_train", "latency_test", "energy_train", "energy_test")},
                "coefficients_before": self.before, "coefficients_after": self.after}


@dataclass(frozen=True)
class CalibrationResult:
    platform: Platform
    report: FitReport


def profile_rows(model: HardwareModel, profile: Profile, space: BackboneSpace) -> Rows:
    """Cost tables of every measured segment, checked against `segments()` of its DyNN."""
    tables, units, row_f, lat, en, sample = [], [], [], [], [], []
    for i, s in enumerate(profile.samples):
        where = f"profile.samples[{i}]"
        try:
            backbone = space.validate(Backbone.from_dict(s.arch))
            plan = ExitPlan.from_dict(s.exits)
        except (KeyError, TypeError) as exc:
            raise ConfigError(f"{where}.arch", f"cannot be read ({exc})") from None
        table = layer_table(space.skeleton(backbone), plan, profile.exit_channels,
                            model.precision)
        expected = list(zip(table.segment_kinds, table.segment_indices))
        got = [(seg.kind, seg.index) for seg in s.segments]
        if got != expected:
            raise ConfigError(f"{where}.segments", f"got {got}, expected {expected} "
                              "(segments() order of this arch and exit plan)")
        point = DvfsSetting.create(model.platform, s.dvfs, model.mode).to_dict()
        row_f.append({d: np.full((len(got), 1), float(hz)) for d, hz in point.items()})
        units.append(model.unit_times(table, {d: np.array([hz]) for d, hz in point.items()}))
        tables.append(table)
        lat += [seg.latency_ms for seg in s.segments]
        en += [np.nan if seg.energy_mj is None else seg.energy_mj for seg in s.segments]
        sample += [i] * len(got)
    if not tables:
        raise ConfigError("profile.samples", "is empty: nothing to calibrate on")
    sizes = np.array([t.macs.size for t in tables])
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    seg_starts = np.concatenate([t.starts + o for t, o in zip(tables, starts)]).astype(np.intp)
    flat = LayerTable(tuple(k for t in tables for k in t.segment_kinds),
                      tuple(k for t in tables for k in t.segment_indices), seg_starts,
                      *(np.concatenate([getattr(t, a) for t in tables])
                        for a in ("macs", "bytes_moved", "kernels", "kind")))
    unit = UnitTimes(np.concatenate([u.compute_s for u in units]),
                     np.concatenate([u.memory_s for u in units]))
    domains = model.platform.domains
    return Rows(flat, unit, {d: np.concatenate([f[d] for f in row_f]) for d in domains},
                np.array(lat), np.array(en), np.array(sample))


def row_seconds(rows: Rows, c: Coefficients) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per row: total, compute and memory seconds ([n_rows, 1] each)."""
    roof, compute, memory = (rows.table.segment_sum(x) for x in
                             roofline_seconds(rows.table, c, rows.unit))
    kernels = rows.table.segment_sum(rows.table.kernels)[:, None]
    return roof + launch_seconds(kernels, c, rows.row_freqs[HOST_DOMAIN]), compute, memory


def predict(rows: Rows, platform: Platform, c: Coefficients) -> tuple[np.ndarray, np.ndarray]:
    """Latency_ms and energy_mj of every row under coefficients `c`."""
    total, compute, memory = row_seconds(rows, c)
    energy = energy_terms(platform, rows.row_freqs, total, compute, memory)[:, 0] @ power_vector(c)
    return total[:, 0] * 1e3, energy * 1e3


def latency_vector(c: Coefficients) -> np.ndarray:
    return np.array([*(1.0 / c.efficiency[k] for k in LAYER_KINDS), 1.0 / c.bandwidth_efficiency,
                     c.launch_fixed_s, c.launch_cpu_cycles])


def with_latency(c: Coefficients, x: np.ndarray) -> Coefficients:
    return dataclasses.replace(c, efficiency={k: float(1.0 / x[i]) for i, k in
                                              enumerate(LAYER_KINDS)},
                               bandwidth_efficiency=float(1.0 / x[4]),
                               launch_fixed_s=float(x[5]), launch_cpu_cycles=float(x[6]))


def with_power(c: Coefficients, w: np.ndarray) -> Coefficients:
    return dataclasses.replace(c, **{k: float(v) for k, v in zip(ENERGY_PARAMS, w)})


def latency_design(rows: Rows, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Row features (seconds per unit of each x) with the sides x implies, and the sides."""
    t, kind = rows.table, rows.table.kind
    unit_c, unit_m = rows.unit.compute_s[:, 0], rows.unit.memory_s[:, 0]
    inv_eff = np.where(kind >= 0, x[np.maximum(kind, 0)], 0.0)
    compute_bound = unit_c * inv_eff > unit_m * x[4]
    cols = np.zeros((kind.size, 7))
    idx = np.flatnonzero(compute_bound)
    cols[idx, kind[idx]] = unit_c[idx]
    cols[~compute_bound, 4] = unit_m[~compute_bound]
    cols[:, 5] = t.kernels
    a = t.segment_sum(cols)
    a[:, 6] = a[:, 5] / rows.row_freqs[HOST_DOMAIN][:, 0]
    return a, compute_bound


def bounded_ridge(a: np.ndarray, y: np.ndarray, prior: np.ndarray, scale: np.ndarray,
                  lower: np.ndarray) -> np.ndarray:
    """argmin sum((a x - y) / y)^2 + RIDGE sum(((x - prior) / scale)^2) with x >= lower
    (active set: the most violated bound is fixed, the rest re-solved)."""
    rel = a / y[:, None] * scale[None, :]
    target = np.ones_like(y)
    fixed = np.zeros(prior.size, dtype=bool)
    x = prior.copy()
    for _ in range(prior.size + 1):
        free = ~fixed
        z0 = prior[free] / scale[free]
        resid = target - rel[:, fixed] @ (x[fixed] / scale[fixed])
        lhs = np.vstack([rel[:, free], np.sqrt(RIDGE) * np.eye(free.sum())])
        rhs = np.concatenate([resid, np.sqrt(RIDGE) * z0])
        z = np.linalg.lstsq(lhs, rhs, rcond=None)[0]
        x[free] = z * scale[free]
        violation = np.where(free, lower - x, -np.inf)
        if violation.max() <= 0:
            return x
        worst = int(np.argmax(violation))
        fixed[worst], x[worst] = True, lower[worst]
    return np.maximum(x, lower)


def fit_latency(rows: Rows, platform: Platform, prior: Coefficients) -> Coefficients:
    """Alternate roofline-side assignment and bounded relative least squares."""
    x0 = latency_vector(prior)
    scale = np.where(x0 > 0, x0, LATENCY_SCALE)
    y = rows.latency_ms / 1e3
    best, best_err = x0, mape(rows.latency_ms, predict(rows, platform, prior)[0])
    x, sides = x0, None
    for _ in range(MAX_ROUNDS):
        a, new_sides = latency_design(rows, x)
        if sides is not None and np.array_equal(sides, new_sides):
            break
        sides = new_sides
        x = bounded_ridge(a, y, x0, scale, LATENCY_LOWER)
        err = mape(rows.latency_ms, predict(rows, platform, with_latency(prior, x))[0])
        if err < best_err:
            best, best_err = x, err
    return with_latency(prior, best)


def fit_energy(rows: Rows, platform: Platform, c: Coefficients) -> Coefficients:
    """Bounded relative least squares of the four power coefficients (rows with an energy)."""
    a = energy_terms(platform, rows.row_freqs, *row_seconds(rows, c))[:, 0] * 1e3
    keep = np.isfinite(rows.energy_mj)
    w0 = power_vector(c)
    w = bounded_ridge(a[keep], rows.energy_mj[keep], w0, np.where(w0 > 0, w0, 1.0), np.zeros(4))
    return with_power(c, w)


def _quality(rows: Rows, platform: Platform, before: Coefficients, after: Coefficients,
             energy: bool) -> Quality | None:
    measured = rows.energy_mj if energy else rows.latency_ms
    keep = np.isfinite(measured)
    if keep.sum() < 2:
        return None
    pick = 1 if energy else 0
    old = predict(rows, platform, before)[pick][keep]
    new = predict(rows, platform, after)[pick][keep]
    y = measured[keep]
    return Quality(int(keep.sum()), mape(y, old), mape(y, new), kendall_tau(y, old),
                   kendall_tau(y, new))


def calibrate(platform: Platform, profile: Profile, space: BackboneSpace,
              train_fraction: float = 0.5, seed: int = 0, precision: str = "fp32",
              mode: str | None = None) -> CalibrationResult:
    """Fit `platform`'s coefficients on a seeded share of the profile's samples; score the rest."""
    if not 0.0 < train_fraction <= 1.0:
        raise ConfigError("train_fraction", f"must be in (0, 1], got {train_fraction}")
    model = HardwareModel(platform, profile.exit_channels, precision, mode)
    rows = profile_rows(model, profile, space)
    n = len(profile.samples)
    order = np.random.default_rng(seed).permutation(n)
    n_train = max(1, min(n, round(n * train_fraction)))
    train, test = rows.subset(order[:n_train]), rows.subset(order[n_train:])
    prior = platform.coefficients
    fitted = fit_latency(train, platform, prior)
    has_energy = bool(np.isfinite(train.energy_mj).sum() >= len(ENERGY_PARAMS))
    if has_energy:
        fitted = fit_energy(train, platform, fitted)
    report = FitReport(
        n_train, n - n_train, _quality(train, platform, prior, fitted, False),
        _quality(test, platform, prior, fitted, False) if n > n_train else None,
        _quality(train, platform, prior, fitted, True) if has_energy else None,
        _quality(test, platform, prior, fitted, True) if has_energy and n > n_train else None,
        prior.to_dict(), fitted.to_dict())
    calibration = {"base_platform": platform.name,
                   "fitted": ["latency", "energy"] if has_energy else ["latency"],
                   "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                   "train_fraction": train_fraction, "seed": seed, "precision": precision,
                   "report": report.to_dict()}
    return CalibrationResult(dataclasses.replace(platform, coefficients=fitted,
                                                 calibration=calibration), report)


def save_calibrated(result: CalibrationResult, path: str | Path, profile_path: str) -> Path:
    """Write the calibrated platform YAML (loadable with `load_platform_file`)."""
    path = Path(path)
    data = result.platform.to_dict()
    data["calibration"]["profile"] = str(profile_path)
    header = (f"# Calibrated from {profile_path} by `hadas hw calibrate` (base platform "
              f"{result.platform.name}).\n# coefficients: fitted "
              f"({', '.join(data['calibration']['fitted'])}); every other number is copied from "
              f"the shipped {result.platform.name}.yaml, which names its sources.\n")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(header + yaml.safe_dump(data, sort_keys=False, width=100,
                                            default_flow_style=None))
    return path
