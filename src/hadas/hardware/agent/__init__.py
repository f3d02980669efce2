"""Device agent (runs on the board) and its client (runs on the search host)."""
from hadas.hardware.agent.client import RemoteError, RemoteHardware
from hadas.hardware.agent.protocol import (MeasureRequest, RequestError, check_dvfs,
                                           parse_measure_request)
from hadas.hardware.agent.server import (AgentBackend, AgentLimits, AgentServer, read_token,
                                         start_agent)

__all__ = ["AgentBackend", "AgentLimits", "AgentServer", "MeasureRequest", "RemoteError",
           "RemoteHardware", "RequestError", "check_dvfs", "parse_measure_request", "read_token",
           "start_agent"]
