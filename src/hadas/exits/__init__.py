"""Multi-exit dynamic networks: exit heads, exit training, exit cache, policies, simulator."""
from hadas.exits.bank import ExitArtifacts, exit_bank_key, file_checksum, prepare_exits
from hadas.exits.cache import ExitCache, build_exit_cache
from hadas.exits.heads import ExitHead, build_heads, exit_scores
from hadas.exits.network import MultiExitNetwork
from hadas.space.policies import DEPLOYABLE, fires
from hadas.exits.simulator import ExitSimulator, Simulation
from hadas.exits.training import train_exits

__all__ = ["DEPLOYABLE", "ExitArtifacts", "ExitCache", "ExitHead", "ExitSimulator",
           "MultiExitNetwork", "Simulation", "build_exit_cache", "build_heads", "exit_bank_key",
           "exit_scores", "file_checksum", "fires", "prepare_exits", "train_exits"]
