"""Exit banks, content-addressed: trained once per (backbone, supernet, data, recipe), reused.

A bank folder `<root>/<key>/` holds `training.pt` (the resumable training checkpoint),
`bank.pt` (the finished heads, BN re-estimated), `cache.npz` (the exit cache on the evaluation
split) and `meta.json` (what the key was made from, and per-exit accuracy).
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch

from hadas.digest import json_digest
from hadas.atomic import write_atomic
from hadas.config import HadasConfig
from hadas.data import DataSplits, TensorLoader
from hadas.exits.cache import ExitCache, build_exit_cache
from hadas.exits.heads import build_heads
from hadas.exits.network import MultiExitNetwork
from hadas.exits.shared import shared_bank, shared_bank_key
from hadas.exits.training import train_exits
from hadas.errors import CorruptFileError
from hadas.model import Supernet, read_stored_checkpoint, save_atomic
from hadas.space import Backbone, candidate_positions
from hadas.training.inheritance import Inherit, bn_loader, inherit, reestimate_bn
from hadas.training.distributed import SINGLE, World


@dataclass(frozen=True)
class ExitArtifacts:
    key: str
    directory: Path
    positions: tuple[int, ...]
    cache: ExitCache
    history: list[dict[str, float]]
    trained_now: bool
    build_network: Callable[[], MultiExitNetwork] = field(repr=False)

    @property
    def network(self) -> MultiExitNetwork:
        """The backbone (inherited weights, BN re-estimated) with the trained heads, eval mode.
        Built on first use: a search that finds the bank and its cache stored needs neither,
        and re-estimating the backbone's BN again would repeat the backbone evaluation's."""
        return self.build_network()


def exit_bank_key(cfg: HadasConfig, backbone: Backbone, supernet_id: str) -> str:
    """Content key: backbone, supernet weights, data split, BN re-estimation, exit recipe, seed."""
    parts = {"backbone": backbone.to_dict(), "supernet": supernet_id,
             "data": dataclasses.asdict(cfg.data), "evaluation": dataclasses.asdict(cfg.evaluation),
             "exits": cfg.exits.recipe(), "seed": cfg.seed}
    if cfg.exits.training == "shared":  # the heads it inherits
        parts["shared_bank"] = shared_bank_key(cfg, supernet_id)
    return json_digest(parts, 20)


def file_checksum(path: str | Path, length: int = 20) -> str:
    """sha256 of a file, its first `length` hex digits (identifies supernet weights in
    exit-bank keys)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()[:length]


def prepare_exits(cfg: HadasConfig, supernet: Supernet, supernet_id: str, backbone: Backbone,
                  data: DataSplits, root: str | Path, device: torch.device,
                  progress: bool = True, world: World = SINGLE,
                  inherited: Inherit | None = None) -> ExitArtifacts:
    """The trained exit bank and exit cache of `backbone`, training them only if not stored.
    Under torchrun the heads train data-parallel; rank 0 decides what is stored and writes it,
    so a bank written by N processes is the same files as one written by one. `inherited`: an
    `Inheritance` of the same supernet, data, evaluation config and seed (BN estimated once)."""
    key = exit_bank_key(cfg, backbone, supernet_id)
    folder = Path(root) / key
    folder.mkdir(parents=True, exist_ok=True)
    sk = supernet.space.skeleton(backbone)
    positions = candidate_positions(sk.n_blocks, cfg.exits.first_exit_block)
    bank_path, trained_now = folder / "bank.pt", False
    stored = world.from_main(lambda: read_stored_checkpoint(bank_path)
                             if bank_path.exists() else None)
    inherit_backbone = inherited or (lambda b: inherit(supernet, b, data, cfg.evaluation, device,
                                                       cfg.seed))

    def new_heads() -> torch.nn.ModuleDict:
        torch.manual_seed(cfg.seed)  # head initialisation is a function of the seed
        heads = build_heads(sk, positions, cfg.exits.exit_channels, cfg.exits.confidence_head)
        return heads.to(  # type: ignore[call-overload]  # torch stub: no device + format
            device, memory_format=torch.channels_last)

    built: list[MultiExitNetwork] = []  # the multi-exit network, once it exists
    if stored is not None:  # the backbone is inherited only if something needs the network
        heads = new_heads()
        load_stored_heads(bank_path, stored, heads, backbone, positions)
        history = stored["history"]
    else:
        backbone_net = inherit_backbone(backbone)
        t0 = time.perf_counter()
        if cfg.exits.training == "shared":
            bank = shared_bank(cfg, supernet, supernet_id, data, root, device, progress, world)
            heads = bank.for_backbone(sk, positions).to(  # type: ignore[call-overload]
                device, memory_format=torch.channels_last)
            recipe = dataclasses.replace(cfg.exits, epochs=cfg.exits.finetune_epochs,
                                         warmup_epochs=0)
        else:
            heads, recipe = new_heads(), cfg.exits
        net = MultiExitNetwork(backbone_net, heads)
        history = train_exits(net, data, recipe, folder / "training.pt", device, cfg.seed,
                              augment=cfg.data.augment, progress=progress,
                              world=world) if recipe.epochs else []
        bn_batches = bn_loader(data, cfg.evaluation, device, cfg.seed)
        reestimate_bn(heads, bn_batches, cfg.evaluation.bn_calibration_batches,
                       forward=lambda x: net.heads_forward(net.backbone_features(x)[0]))
        if world.main:
            save_atomic({"heads": heads.state_dict(), "history": history,
                         "backbone": backbone.to_dict(), "positions": list(positions)}, bank_path)
            (folder / "cache.npz").unlink(missing_ok=True)  # a cache of older heads is stale
        trained_now = True
        train_seconds = time.perf_counter() - t0
        built.append(net.eval())

    def network() -> MultiExitNetwork:
        if not built:  # a stored bank: the backbone is inherited on first use, once
            backbone_net = inherit_backbone(backbone)
            built.append(MultiExitNetwork(backbone_net, heads).eval())
        return built[0]

    def stored_or_built_cache() -> ExitCache:
        cache_path = folder / "cache.npz"
        if cache_path.exists():
            cache = ExitCache.load(cache_path)
            if cache.positions != positions or cache.n_samples != len(data.split(
                    cfg.data.eval_split)):
                raise CorruptFileError(cache_path, f"it holds exits {list(cache.positions)} on "
                                       f"{cache.n_samples} samples, this bank has "
                                       f"{list(positions)} on the {cfg.data.eval_split} split")
            return cache
        split = data.split(cfg.data.eval_split)
        loader = TensorLoader(split, cfg.evaluation.batch_size, mean=data.mean, std=data.std,
                              device=device)
        cache = build_exit_cache(network(), loader)
        cache.save(cache_path)
        meta = {"key": key, "backbone": backbone.to_dict(), "supernet": supernet_id,
                "positions": list(positions), "eval_split": cfg.data.eval_split,
                "n_eval": cache.n_samples, "exit_channels": cfg.exits.exit_channels,
                "training": cfg.exits.training,
                "accuracy": [round(float(a), 3) for a in cache.accuracy()]}
        if trained_now:
            meta["train_seconds"] = round(train_seconds, 2)
        write_atomic(folder / "meta.json", lambda f: json.dump(meta, f, indent=1), binary=False)
        return cache

    cache = world.from_main(stored_or_built_cache)  # evaluated once, on rank 0
    return ExitArtifacts(key, folder, positions, cache, history, trained_now, network)


def load_stored_heads(path: Path, stored: dict, heads: torch.nn.Module, backbone: Backbone,
                      positions: tuple[int, ...]) -> None:
    """Stored heads into `heads`, after checking they are this backbone's at these positions."""
    if stored.get("backbone") != backbone.to_dict() or stored.get("positions") != list(positions):
        raise CorruptFileError(path, "it holds the heads of another backbone or exit positions")
    try:
        heads.load_state_dict(stored["heads"])
    except (KeyError, TypeError, RuntimeError) as exc:
        raise CorruptFileError(path, f"its heads do not fit: {str(exc).splitlines()[0]}") from None
