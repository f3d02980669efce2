"""The HADAS search: selection, breeding and the inner engine (IOE); OOE and driver to come."""
from hadas.search.ioe import IoeResult, run_ioe
from hadas.search.selection import nondominated_rank, pareto_indices, rank_and_crowding

__all__ = ["IoeResult", "nondominated_rank", "pareto_indices", "rank_and_crowding", "run_ioe"]
