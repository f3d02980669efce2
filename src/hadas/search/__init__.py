"""The HADAS search: selection, breeding, the inner engine (IOE), the bi-level driver (OOE +
IOE, baselines) and the energy breakdown."""
from hadas.search.ioe import IoeResult, run_ioe
from hadas.search.selection import nondominated_rank, pareto_indices, rank_and_crowding

__all__ = ["IoeResult", "nondominated_rank", "pareto_indices", "rank_and_crowding", "run_ioe"]
