"""`search.hardware: remote` on loopback: a real agent measuring this machine. A wrong token
stops the search before any work; an agent that dies mid-search is one clear error, and the
search resumes once the agent is back, measuring only what was not stored."""
from __future__ import annotations

import dataclasses
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from conftest import CONFIGS, measured_search_setup
from hadas import api
from hadas.api.board import BoardMeasurer, agent_backend
from hadas.hardware.agent import AgentLimits, RemoteError, start_agent
from test_agent import QUIET, TOKEN

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("one_torch_thread")]
MEASURES = "SELECT COUNT(*) FROM evaluations WHERE evaluator LIKE 'measure@%'"


@contextmanager
def agent(port: int = 0, die_after: int | None = None) -> Iterator[str]:
    """A real agent on loopback measuring this CPU; with `die_after`, it shuts down after
    answering that many measurements (as a board that loses power would)."""
    measurer = BoardMeasurer(CONFIGS / "tiny-digits.yaml", "local", device="cpu", warmup=0)
    backend = agent_backend(measurer, default_repeats=2)
    answered, dead = [0], threading.Event()
    if die_after is not None:
        def measure(request):  # type: ignore[no-untyped-def]
            out = backend_measure(request)
            answered[0] += 1
            if answered[0] >= die_after:
                dead.set()
            return out
        backend_measure = backend.measure
        backend = dataclasses.replace(backend, measure=measure)
    server = start_agent(backend, TOKEN, "127.0.0.1", port, AgentLimits(**QUIET))
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()

    def kill() -> None:
        dead.wait()
        server.shutdown()
        server.server_close()
    threading.Thread(target=kill, daemon=True).start()
    try:
        yield server.url
    finally:
        dead.set()


def _setup(tmp_path: Path, url: str, token: str = TOKEN) -> tuple[Path, Path]:
    token_file = tmp_path / "token"
    token_file.write_text(token)
    return measured_search_setup(
        tmp_path, {"hardware": "remote", "agent_url": url, "agent_token_file": str(token_file)},
        ooe=dict(population=5, generations=1, n_crossover=2, n_mutation=2, survival_ratio=0.5),
        ioe=dict(population=4, generations=2, n_crossover=2, n_mutation=2))


def _measurements(run_dir: Path) -> int:
    con = sqlite3.connect(run_dir / "hadas.sqlite")
    try:
        return con.execute(MEASURES).fetchone()[0]
    finally:
        con.close()


def test_a_wrong_token_stops_the_search_before_any_work(tmp_path):
    with agent() as url:
        config, checkpoint = _setup(tmp_path, url, token="not-the-agents-token-0000")
        with pytest.raises(RemoteError, match="401"):
            api.search(config, tmp_path / "run", mode="exits-only", device="cpu", progress=False,
                       say=lambda line: None, supernet=checkpoint)
    assert not (tmp_path / "run").exists()


def test_an_agent_that_dies_mid_search_is_one_error_and_the_search_resumes(tmp_path):
    run_dir = tmp_path / "run"
    with agent(die_after=4) as url:
        config, checkpoint = _setup(tmp_path, url)
        with pytest.raises(RemoteError, match="cannot reach the agent"):
            api.search(config, run_dir, mode="exits-only", device="cpu", progress=False,
                       say=lambda line: None, supernet=checkpoint)
    stored = _measurements(run_dir)
    assert stored >= 1  # the measurements answered before it died are kept
    lines: list[str] = []
    with agent(port=int(url.rsplit(":", 1)[1])):  # the board is back, at the same address
        result, _ = api.search(config, run_dir, mode="exits-only", device="cpu",
                               progress=False, say=lines.append, supernet=checkpoint)
    assert result.archive
    assert {e.dynn.provenance["latency_ms"] for e in result.archive} == {"measured"}
    new = int(lines[-1].split("measurements here: ")[1].split(" new")[0])
    assert new == _measurements(run_dir) - stored  # nothing stored was measured again
