"""The device agent over real HTTP on loopback, and its client."""
from __future__ import annotations

import json
import socket
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator

import numpy as np
import pytest

from hadas.api.board import BoardMeasurer, agent_backend
from hadas.errors import ConfigError
from hadas.hardware.agent import AgentBackend, AgentLimits, RemoteError, RemoteHardware, start_agent
from hadas.hardware.agent.server import read_token
from hadas.hardware.clocks import DvfsSetting
from hadas.hardware.registry import get_platform
from hadas.space import BackboneSpace, ExitPlan, candidate_positions, segments
from conftest import CONFIGS

TOKEN = "s3cret-token-0123456789abcdef"
QUIET = dict(log=lambda line: None)


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def serve(backend: AgentBackend, **limits) -> Iterator[str]:
    server = start_agent(backend, TOKEN, "127.0.0.1", 0, AgentLimits(**QUIET, **limits))
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield server.url
    finally:
        server.shutdown()
        server.server_close()


def call(url: str, path: str, body: bytes | None = None, token: str | None = TOKEN,
         method: str | None = None) -> tuple[int, dict]:
    headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
    req = urllib.request.Request(url + path, data=body, headers=headers, method=method)
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


XAVIER = get_platform("agx-xavier")
EXAMPLE = {"arch": None, "exits": {"positions": [2]}, "dvfs": {"gpu": 624_750_000}, "repeats": 2}


@pytest.fixture()
def fake_board(tiny_cfg) -> Iterator[tuple[str, list, threading.Event]]:
    """An agent with the AGX Xavier tables whose measurement is recorded, not run."""
    calls, release = [], threading.Event()
    release.set()

    def measure(request):
        calls.append(request)
        release.wait(10)
        return {"segments": [], "dvfs": request.dvfs, "provenance": "measured"}

    backend = AgentBackend("agx-xavier", {"sensors": {}}, dict(XAVIER.dvfs_hz),
                           lambda r: None, measure, default_repeats=3)
    EXAMPLE["arch"] = BackboneSpace(tiny_cfg.supernet).smallest().to_dict()
    yield from ((url, calls, release) for url in serve(backend, busy_wait_s=0.2, max_body_bytes=4096))


def test_token_is_required_on_every_endpoint(fake_board):
    url, calls, _ = fake_board
    for token in (None, "wrong", TOKEN[:-1]):
        status, body = call(url, "/v1/info", token=token)
        assert status == 401 and "token" in body["error"]
        status, _ = call(url, "/v1/measure", json.dumps(EXAMPLE).encode(), token=token)
        assert status == 401
    assert calls == []
    status, info = call(url, "/v1/info")
    assert status == 200 and info["platform"] == "agx-xavier"
    assert info["dvfs_hz"]["gpu"][-1] == 1_377_000_000


def test_frequency_not_in_the_table_is_400(fake_board):
    url, calls, _ = fake_board
    status, body = call(url, "/v1/measure", json.dumps({**EXAMPLE, "dvfs": {"gpu": 500_000_000}}).encode())
    assert status == 400 and body["error"].startswith("dvfs.gpu: 500000000 Hz is not in the agx-xavier")
    assert "1377000000" in body["error"]
    status, body = call(url, "/v1/measure", json.dumps({**EXAMPLE, "dvfs": {"dla": 1}}).encode())
    assert status == 400 and "cpu, emc, gpu" in body["error"]
    assert calls == []


@pytest.mark.parametrize("body,snippet", [
    (b"{not json", "malformed JSON"), (b"[1, 2]", "must be a JSON object"),
    (json.dumps({"exits": {"positions": []}}).encode(), "arch: missing"),
    (json.dumps({"arch": {"resolution": 24}, "exits": {"positions": []}}).encode(), "arch.width: missing"),
    (json.dumps({"arch": None, "exits": {"positions": []}, "code": "import os"}).encode(), "code: unknown key"),
])
def test_malformed_requests_are_400(fake_board, body, snippet):
    url, calls, _ = fake_board
    status, answer = call(url, "/v1/measure", body)
    assert status == 400 and snippet in answer["error"]
    assert calls == []


def test_wrong_path_method_and_size(fake_board):
    url, _, _ = fake_board
    assert call(url, "/v1/nothing")[0] == 404
    assert call(url, "/v1/measure")[0] == 405
    assert call(url, "/v1/info", b"{}")[0] == 405
    status, body = call(url, "/v1/measure", b"x" * 5000)
    assert status == 413 and "4096-byte limit" in body["error"]


def test_one_measurement_at_a_time(fake_board):
    url, calls, release = fake_board
    release.clear()
    first = threading.Thread(target=call, args=(url, "/v1/measure", json.dumps(EXAMPLE).encode()))
    first.start()
    try:
        while not calls:
            threading.Event().wait(0.01)
        status, body = call(url, "/v1/measure", json.dumps(EXAMPLE).encode())
        assert status == 503 and "busy" in body["error"]
    finally:
        release.set()
        first.join()
    assert len(calls) == 1 and calls[0].repeats == 2 and calls[0].dvfs == {"gpu": 624_750_000}


@pytest.fixture(scope="module")
def local_agent() -> Iterator[str]:
    measurer = BoardMeasurer(CONFIGS / "tiny-digits.yaml", "local", device="cpu", warmup=1)
    yield from serve(agent_backend(measurer, default_repeats=3))


def test_valid_request_is_measured_on_this_machine(local_agent, tiny_cfg):
    space = BackboneSpace(tiny_cfg.supernet)
    backbone = space.smallest()
    positions = candidate_positions(backbone.n_blocks, tiny_cfg.exits.first_exit_block)[:2]
    plan = ExitPlan(positions)
    status, body = call(local_agent, "/v1/measure", json.dumps(
        {"arch": backbone.to_dict(), "exits": plan.to_dict(), "repeats": 3}).encode())
    assert status == 200, body
    expected = segments(space.skeleton(backbone), plan, tiny_cfg.exits.exit_channels)
    assert [(s["kind"], s["index"]) for s in body["segments"]] == [(s.kind, s.index) for s in expected]
    for seg in body["segments"]:
        assert seg["latency_ms"] > 0 and seg["provenance"] == "measured"
        assert (seg["energy_mj"] is None) == (seg["energy_unavailable"] is not None)
    assert body["dvfs"] == {} and "clocks left alone" in body["dvfs_note"]


def test_client_round_trip_and_errors(local_agent, tiny_cfg):
    client = RemoteHardware(local_agent, TOKEN)
    info = client.info()
    assert info["platform"] == "local" and info["dvfs_hz"] == {}
    assert info["config"]["name"] == "tiny-digits"
    space = BackboneSpace(tiny_cfg.supernet)
    result = client.measure(space.largest(), ExitPlan(()), repeats=2)
    assert len(result["segments"]) == 1 and result["segments"][0]["kind"] == "backbone"
    with pytest.raises(RemoteError, match="answered 400: dvfs.gpu: platform local cannot set") as info:
        client.measure(space.smallest(), ExitPlan(()), {"gpu": 1_377_000_000})
    assert info.value.status == 400
    with pytest.raises(RemoteError, match="answered 400: exits.positions: 0 is not a candidate"):
        client.measure(space.smallest(), ExitPlan((0,)))
    with pytest.raises(RemoteError, match="answered 401") as info:
        RemoteHardware(local_agent, "wrong").info()
    assert info.value.status == 401
    costs = client.segment_costs(space.skeleton(space.smallest()), ExitPlan((2,)),
                                 DvfsSetting.reference(get_platform("local")))
    assert costs.kinds == ("backbone", "exit", "backbone") and costs.platform == "local"
    assert (costs.latency_ms > 0).all() and dict(costs.freq_hz) == {}  # local: clocks untouched
    assert costs.provenance["latency_ms"] == "measured"
    assert np.isnan(costs.energy_mj).all() == costs.provenance["energy_mj"].startswith("unavailable")
    with pytest.raises(RemoteError, match="cannot reach the agent"):
        RemoteHardware("http://127.0.0.1:9", TOKEN, timeout_s=2).info()


def test_token_file_must_hold_a_real_secret(tmp_path):
    (tmp_path / "t").write_text("short\n")
    with pytest.raises(ConfigError, match="token_file"):
        read_token(tmp_path / "t")
    (tmp_path / "t").write_text(f"  {TOKEN}\n")
    assert read_token(tmp_path / "t") == TOKEN


def test_slow_client_times_out_with_408(tiny_cfg):
    import socket

    backend = AgentBackend("local", {}, {}, lambda r: None, lambda r: {}, 3)
    for url in serve(backend, socket_timeout_s=0.3):
        host, port = url[len("http://"):].split(":")
        with socket.create_connection((host, int(port)), timeout=5) as sock:
            sock.sendall(f"POST /v1/measure HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\r\n"
                         "Content-Length: 100\r\n\r\n{".encode())
            chunks = []
            while chunk := sock.recv(4096):  # headers and body may come in separate reads
                chunks.append(chunk)
            answer = b"".join(chunks).decode()
        assert answer.startswith("HTTP/1.1 408") and "not received within 0.3 s" in answer


# -- hostile clients -----------------------------------------------------------------------------
LIMIT_S = 1.0  # request_timeout_s of the hardened agent
AUTH = f"Authorization: Bearer {TOKEN}\r\n"


@pytest.fixture()
def hardened(tiny_cfg) -> Iterator[tuple[str, list]]:
    """A fake-board agent with small limits: 1 s per request, 3 connections, 64 KiB bodies."""
    calls: list = []

    def measure(request):
        calls.append(request)
        return {"segments": [], "dvfs": request.dvfs, "provenance": "measured"}

    backend = AgentBackend("agx-xavier", {"sensors": {}}, dict(XAVIER.dvfs_hz),
                           lambda r: None, measure, default_repeats=3)
    EXAMPLE["arch"] = BackboneSpace(tiny_cfg.supernet).smallest().to_dict()
    yield from ((url, calls) for url in serve(backend, request_timeout_s=LIMIT_S,
                                              socket_timeout_s=LIMIT_S, max_connections=3))


def connect(url: str) -> socket.socket:
    host, port = url[len("http://"):].split(":")
    return socket.create_connection((host, int(port)), timeout=5)


def read_all(sock: socket.socket, timeout_s: float = 3.0) -> bytes:
    """Everything until the agent closes (or `timeout_s`)."""
    sock.settimeout(timeout_s)
    chunks = []
    try:
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    except (TimeoutError, ConnectionResetError):
        pass
    return b"".join(chunks)


def answer_of(raw: bytes) -> tuple[int, dict]:
    head, _, body = raw.partition(b"\r\n\r\n")
    return int(head.split()[1]), json.loads(body)


def assert_still_serves(url: str, calls: list) -> None:
    n = len(calls)
    status, body = call(url, "/v1/measure", json.dumps(EXAMPLE).encode())
    assert status == 200 and body["dvfs"] == {"gpu": 624_750_000}
    assert len(calls) == n + 1 and calls[-1].repeats == 2


SLOW_PHASES = {  # what is sent at once, then one byte at a time
    "request line": b"",
    "headers": b"GET /v1/info HTTP/1.1\r\nHost: x\r\n",
    "body": (f"POST /v1/measure HTTP/1.1\r\nHost: x\r\n{AUTH}Content-Length: 1000\r\n\r\n{{"
             .encode()),
}


@pytest.mark.parametrize("phase", SLOW_PHASES)
def test_slowloris_is_cut_off_at_the_request_limit(hardened, phase):
    url, calls = hardened
    prefix = SLOW_PHASES[phase]
    start = time.monotonic()
    with connect(url) as sock:
        sock.sendall(prefix)
        raw = b""
        for _ in range(20):  # one byte every 0.3 s: each read is quick, the request is not
            try:
                sock.sendall(b" " if phase == "body" else b"G" if phase == "request line" else b"a")
            except OSError:
                break
            sock.settimeout(0.3)
            try:
                raw = sock.recv(65536)
            except TimeoutError:
                continue
            raw += read_all(sock)
            break
    elapsed = time.monotonic() - start
    assert LIMIT_S - 0.05 < elapsed < LIMIT_S + 0.7, f"{phase}: cut off after {elapsed:.2f} s"
    status, body = answer_of(raw)
    assert status == 408 and "within 1 s (request_timeout_s)" in body["error"]
    assert calls == []
    assert_still_serves(url, calls)


def test_connections_above_the_cap_get_503_at_once(hardened):
    url, calls = hardened
    idle = [connect(url) for _ in range(3)]  # hold every slot, saying nothing
    try:
        start = time.monotonic()
        with connect(url) as extra:
            raw = read_all(extra)
        assert time.monotonic() - start < 0.5
        status, body = answer_of(raw)
        assert status == 503 and "3 connections open (max_connections)" in body["error"]
        assert b"Retry-After: 1" in raw
    finally:
        for sock in idle:
            sock.close()
    deadline = time.monotonic() + 2  # closed clients give their slots back
    while call(url, "/v1/info")[0] == 503 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert_still_serves(url, calls)


def _raw(headers: str = "", body: bytes = b"", line: str = "POST /v1/measure") -> bytes:
    """A request as sent: `line`, Host, the token, `headers`, then `body` (headers latin-1)."""
    return f"{line} HTTP/1.1\r\nHost: x\r\n{AUTH}{headers}\r\n".encode("latin-1") + body


def _post(body: bytes, headers: str = "") -> bytes:
    return _raw(f"{headers}Content-Length: {len(body)}\r\n", body)


def _measure_with(**fields) -> bytes:
    return json.dumps({**EXAMPLE, **fields}).encode()


NOT_A_LENGTH = "non-negative integer"
MALFORMED = {  # name: (raw request or a function making it, expected status, error snippet)
    "non-numeric length": (_raw("Content-Length: abc\r\n"), 400, NOT_A_LENGTH),
    "5000-digit length": (_raw(f"Content-Length: {'5' * 5000}\r\n"), 413, "65536-byte limit"),
    "negative length": (_raw("Content-Length: -1\r\n"), 400, NOT_A_LENGTH),
    "non-ASCII digit length": (_raw("Content-Length: \xb2\r\n"), 400, NOT_A_LENGTH),
    "two lengths": (_post(b"{}", "Content-Length: 2\r\n"), 400, "more than one Content-Length"),
    "list length": (_raw("Content-Length: 2, 2\r\n", b"{}"), 400, NOT_A_LENGTH),
    "chunked": (_raw("Transfer-Encoding: chunked\r\n", b"2\r\n{}\r\n0\r\n\r\n"), 411,
                "Transfer-Encoding"),
    "short body": (_raw("Content-Length: 50\r\n", b"{}"), 400, "body ended after 2 of 50"),
    "body on GET": (_raw("Content-Length: 2\r\n", b"{}", "GET /v1/info"), 400, "GET takes no body"),
    "30000-deep JSON": (_post(b"[" * 30000 + b"]" * 30000), 400, "deeper than 64 levels"),
    "65-deep JSON": (_post(b'{"arch": {}, "exits": {"positions": ' + b"[" * 63 + b"]" * 63 + b"}}"),
                     400, "deeper than 64 levels"),
    "5000-digit JSON int": (_post(b'{"repeats": ' + b"5" * 5000 + b"}"), 400, "malformed JSON"),
    "1e400 exit position": (lambda: _post(_measure_with(exits={"positions": [1e400]})), 400,
                            "cannot convert float infinity"),
    "bad UTF-8 body": (_post(b'{"arch": "\xff\xfe"}'), 400, "malformed JSON"),
    "non-ASCII token": (b"GET /v1/info HTTP/1.1\r\nAuthorization: Bearer \xff\xfe\r\n\r\n", 401,
                        "bearer token"),
    "non-ASCII path": (_raw(line="GET /v1/\xff"), 404, "no such endpoint"),
    "binary request line": (b"\x00\x01\x02 \xff\r\n\r\n", 400, ""),
    "bad version": (b"GET /v1/info HTTP/1.x\r\n\r\n", 400, "version"),
    "unknown method": (_raw(line="PATCH /v1/info"), 405, "PATCH"),
    "header line of 70 KB": (_raw(f"X-Big: {'a' * 70000}\r\n", line="GET /v1/info"), 431, ""),
    "101 headers": (_raw("X-A: 1\r\n" * 101, line="GET /v1/info"), 431, ""),
}


@pytest.mark.parametrize("name", MALFORMED)
def test_malformed_request_is_4xx_and_the_agent_keeps_serving(hardened, name):
    url, calls = hardened
    raw, expected, snippet = MALFORMED[name]
    raw = raw() if callable(raw) else raw  # EXAMPLE holds an arch once the fixture ran
    with connect(url) as sock:
        sock.sendall(raw)
        sock.shutdown(socket.SHUT_WR)  # "short body": the client stops early
        answer = read_all(sock)
    status, body = answer_of(answer)
    assert 400 <= status <= 499 and status == expected, (name, answer[:300])
    assert snippet in body["error"] and "Traceback" not in answer.decode("latin-1")
    assert calls == []
    assert_still_serves(url, calls)


@pytest.mark.parametrize("flag,value", [("--repeats", "0"), ("--repeats", "1001"),
                                        ("--port", "70000"), ("--port", "-1")])
def test_agent_serve_rejects_out_of_range_flags_before_starting(tmp_path, capsys, flag, value):
    from hadas.cli.main import main

    argv = ["agent", "serve", "--config", str(CONFIGS / "tiny-digits.yaml"), "--platform", "local",
            "--token-file", str(tmp_path / "absent"), flag, value]
    assert main(argv) == 2  # the absent token file is not even read
    err = capsys.readouterr().err
    assert err.startswith(f"hadas: error: {flag}: must be") and err.count("\n") == 1
    assert list(tmp_path.iterdir()) == []
