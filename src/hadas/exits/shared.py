"""Exit heads shared by the whole supernet: one bank, trained once, inherited by every backbone.

The bank holds one head per supernet block position (and per kernel, where the resolution
changes the block's output size and so the head's kernel, min(3, size)). A head's input
convolution holds the stage's largest width; a backbone uses the leading slice of its input
channels, like the supernet's own layers. Inheriting gives ordinary `ExitHead`s shaped exactly
as per-backbone ones (`build_heads`), so the exit cache, simulator, IOE, export and the
hardware model see no difference.

Training: the supernet is frozen; each step draws sub-networks (`exits.shared_sampling`:
`uniform`, one sub-network drawn uniformly per step, the default because a step costs one
backbone forward, as a per-backbone step; or `sandwich`, the largest, the smallest and
`train.num_random_subnets` random ones, as supernet training). The supernet runs with batch
BatchNorm statistics (its running statistics are those of no sub-network in particular; a
backbone's are re-estimated when it is inherited), and each drawn sub-network's candidate
heads learn from the label and from that sub-network's own final classifier (the per-backbone
recipe's distillation). The per-backbone recipe's optimiser, schedule and epochs apply
(`hadas.exits.training.train_heads`), so the bank resumes from its checkpoint like a
per-backbone bank. The bank belongs to the supernet: its key and seed come from the supernet's
checksum, data and recipe, not from the search's seed, so every search on it shares the bank.
"""
from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import json
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from hadas.atomic import write_atomic
from hadas.config import ExitsConfig, HadasConfig
from hadas.data import DataSplits
from hadas.digest import json_digest
from hadas.errors import CorruptFileError
from hadas.exits.heads import ExitHead
from hadas.exits.training import head_losses, train_heads
from hadas.model import Supernet, read_stored_checkpoint, save_atomic
from hadas.space import Backbone, BackboneSpace, candidate_positions
from hadas.space.skeleton import Block, Skeleton
from hadas.space.supernet_spec import SupernetSpec
from hadas.training.distributed import SINGLE, World


def head_key(block: Block) -> str:
    """The shared head a block's exit inherits: supernet position and kernel."""
    return f"{block.supernet_index}k{min(3, block.out_size)}"


class SharedExitHead(ExitHead):
    """An `ExitHead` whose input convolution runs on the leading input channels it is given."""

    def features(self, x: torch.Tensor) -> torch.Tensor:
        w = self.conv.weight[:, :x.shape[1]]
        return F.leaky_relu(self.bn(F.conv2d(x, w)), 0.01).mean((2, 3))

    def inherit(self, in_channels: int) -> ExitHead:
        """An ordinary head on `in_channels` inputs with this head's (sliced) weights."""
        head = ExitHead(in_channels, self.conv.out_channels, self.classifier.out_features,
                        self.conv.kernel_size[0], self.confidence is not None)
        state = {k: v.clone() for k, v in self.state_dict().items()}
        state["conv.weight"] = state["conv.weight"][:, :in_channels].clone()
        head.load_state_dict(state)
        return head.to(self.conv.weight.device)


class SharedExitHeads(nn.Module):
    """One `SharedExitHead` per supernet position an exit may follow, per kernel."""

    def __init__(self, spec: SupernetSpec, first_exit_block: int, exit_channels: int,
                 confidence: bool = False):
        super().__init__()
        self.first_exit_block = first_exit_block
        space = BackboneSpace(spec)
        heads: dict[str, SharedExitHead] = {}
        for resolution in spec.resolutions:  # the largest has every block at its widest
            largest = dataclasses.replace(space.largest(), resolution=resolution)
            for block in space.skeleton(largest).blocks[first_exit_block:]:
                if head_key(block) not in heads:
                    heads[head_key(block)] = SharedExitHead(
                        block.out_channels, exit_channels, spec.n_classes,
                        min(3, block.out_size), confidence)
        self.heads = nn.ModuleDict(heads)

    def head(self, block: Block) -> SharedExitHead:
        return self.heads[head_key(block)]  # type: ignore[return-value]

    def for_backbone(self, skeleton: Skeleton, positions: tuple[int, ...]) -> nn.ModuleDict:
        """The inherited heads of a backbone at these block positions (`build_heads`' shape)."""
        return nn.ModuleDict({str(p): self.head(skeleton.blocks[p]).inherit(
            skeleton.blocks[p].out_channels) for p in positions})


@contextlib.contextmanager
def batch_statistics(supernet: Supernet) -> Iterator[Supernet]:
    """The supernet normalising with batch statistics; its buffers (running statistics), mode
    and active sub-network are as before afterwards."""
    saved = {k: v.clone() for k, v in supernet.state_dict().items()
             if "running" in k or "num_batches" in k}
    was_training, active = supernet.training, supernet.active.backbone
    supernet.train()
    try:
        yield supernet
    finally:
        supernet.load_state_dict({**supernet.state_dict(), **saved})
        supernet.train(was_training)
        supernet.activate(active)


def drawn_subnets(space: BackboneSpace, sampling: str, random_subnets: int,
                  rng: np.random.Generator) -> list[Backbone]:
    """The sub-networks of one step."""
    if sampling == "uniform":
        return [space.sample(rng)]
    return [space.largest(), space.smallest()] + [space.sample(rng)
                                                  for _ in range(random_subnets)]


def shared_exit_loss(supernet: Supernet, heads: SharedExitHeads, subnets: list[Backbone],
                     x: torch.Tensor, y: torch.Tensor, temperature: float) -> torch.Tensor:
    """Mean over `subnets` of the per-backbone exit loss of each one's candidate heads."""
    total = x.new_zeros((), dtype=torch.float32)
    for backbone in subnets:
        sk = supernet.activate(backbone)
        with torch.no_grad():
            blocks, final = supernet.forward_blocks(x)
            teacher = F.log_softmax(final.float() / temperature, dim=1)
        outs = [heads.head(sk.blocks[p]).forward_with_confidence(blocks[p])
                for p in candidate_positions(sk.n_blocks, heads.first_exit_block)]
        total = total + head_losses([o[0] for o in outs], [o[1] for o in outs], y, teacher,
                                    temperature)
    return total / len(subnets)


def train_shared_exits(supernet: Supernet, heads: SharedExitHeads, data: DataSplits,
                       cfg: ExitsConfig, checkpoint: Path, device: torch.device, seed: int = 0,
                       augment: bool = True, progress: bool = True, world: World = SINGLE,
                       random_subnets: int = 2) -> list[dict[str, float]]:
    """Train the shared bank (supernet frozen), resumable from `checkpoint`; the history's
    `images` counts image passes (images x sub-networks per step)."""
    space = supernet.space
    passes = len(drawn_subnets(space, cfg.shared_sampling, random_subnets,
                               np.random.default_rng(0)))

    def loss(x: torch.Tensor, y: torch.Tensor, rng: np.random.Generator) -> torch.Tensor:
        subnets = drawn_subnets(space, cfg.shared_sampling, random_subnets, rng)
        return shared_exit_loss(supernet, heads, subnets, x, y, cfg.distill_temperature)

    with batch_statistics(supernet):
        return train_heads(heads, loss, data, cfg, checkpoint, device, seed, augment, progress,
                           world=world, passes=passes, desc="shared exits")


def shared_bank_key(cfg: HadasConfig, supernet_id: str) -> str:
    """Content key: supernet weights, data split and the shared recipe (no fine-tune). Not
    the search's seed: every search on a supernet, any seed and any mode, shares its bank."""
    recipe = {k: v for k, v in cfg.exits.recipe().items() if k != "finetune_epochs"}
    if cfg.exits.shared_sampling == "sandwich":
        recipe["random_subnets"] = cfg.train.num_random_subnets
    return json_digest({"supernet": supernet_id, "data": dataclasses.asdict(cfg.data),
                        "exits": recipe}, 20)


def bank_seed(supernet_id: str) -> int:
    """The seed of a supernet's bank (head initialisation, data order, sub-networks drawn):
    a function of the supernet's checksum, like the bank itself."""
    return int(json_digest(supernet_id, 8), 16)


@contextlib.contextmanager
def _exclusive(path: Path, world: World) -> Iterator[None]:
    """One process of this machine at a time (search workers share a bank); under torchrun
    the ranks train it together, so no lock."""
    if world.parallel:
        yield
        return
    with open(path, "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def shared_bank(cfg: HadasConfig, supernet: Supernet, supernet_id: str, data: DataSplits,
                root: str | Path, device: torch.device, progress: bool = True,
                world: World = SINGLE) -> SharedExitHeads:
    """The trained shared bank of `cfg`, trained only if not stored.

    `<root>/shared-<key>/` holds `training.pt` (the resumable checkpoint), `heads.pt` (the
    finished bank) and `bank.json` (its key's parts and training time)."""
    key = shared_bank_key(cfg, supernet_id)
    folder = Path(root) / f"shared-{key}"
    folder.mkdir(parents=True, exist_ok=True)
    seed = bank_seed(supernet_id)
    torch.manual_seed(seed)  # head initialisation is a function of the seed
    heads = SharedExitHeads(supernet.spec, cfg.exits.first_exit_block, cfg.exits.exit_channels,
                            cfg.exits.confidence_head).to(  # type: ignore[call-overload]
        device, memory_format=torch.channels_last)
    path = folder / "heads.pt"
    with _exclusive(folder / ".lock", world):
        stored = world.from_main(lambda: read_stored_checkpoint(path) if path.exists() else None)
        if stored is not None:
            try:
                heads.load_state_dict(stored["heads"])
            except (KeyError, TypeError, RuntimeError) as exc:
                raise CorruptFileError(path, "its heads do not fit this supernet: "
                                       f"{str(exc).splitlines()[0]}") from None
            return heads.eval()
        t0 = time.perf_counter()
        history = train_shared_exits(supernet, heads, data, cfg.exits, folder / "training.pt",
                                     device, seed, cfg.data.augment, progress, world,
                                     cfg.train.num_random_subnets)
        if world.main:
            save_atomic({"heads": heads.state_dict(), "history": history}, path)
            meta = {"key": key, "supernet": supernet_id, "sampling": cfg.exits.shared_sampling,
                    "seed": seed, "heads": list(heads.heads), "history": history,
                    "train_seconds": round(time.perf_counter() - t0, 2)}
            write_atomic(folder / "bank.json", lambda f: json.dump(meta, f, indent=1),
                         binary=False)
    return heads.eval()
