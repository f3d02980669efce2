"""The device agent: a small authenticated HTTP+JSON server that measures DyNNs on its board.

`GET /v1/info` describes the board; `POST /v1/measure` measures one request. Every request
needs `Authorization: Bearer <token>`. One measurement runs at a time; others wait up to
`busy_wait_s`, then get 503. The measuring itself is injected (`AgentBackend`), so this module
needs neither torch nor a model.
"""
from __future__ import annotations

import hmac
import ipaddress
import json
import sys
import threading
import traceback
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from hadas.errors import ConfigError, HadasError
from hadas.hardware.agent.protocol import API, MeasureRequest, RequestError, parse_measure_request

ROUTES = {f"{API}/info": "GET", f"{API}/measure": "POST"}


@dataclass
class AgentBackend:
    """What the server needs from the board side: a description, the DVFS tables (Hz), a
    request check (ConfigError -> 400) and the measurement (HadasError -> 500)."""

    platform: str
    info: dict[str, Any]
    tables: Mapping[str, Sequence[int]]
    validate: Callable[[MeasureRequest], None]
    measure: Callable[[MeasureRequest], dict[str, Any]]
    default_repeats: int = 50


@dataclass
class AgentLimits:
    max_body_bytes: int = 64 * 1024
    socket_timeout_s: float = 30.0   # reading a request
    busy_wait_s: float = 30.0        # waiting for the measurement in progress
    log: Callable[[str], None] = field(default=lambda line: print(line, file=sys.stderr))


def read_token(path: str | Path) -> str:
    """The shared secret from a file (surrounding whitespace ignored); empty is an error."""
    try:
        token = Path(path).read_text().strip()
    except OSError as exc:
        raise ConfigError("--token-file", f"cannot read {path}: {exc.strerror or exc}") from None
    if len(token) < 16:
        raise ConfigError("--token-file", f"{path} holds {len(token)} characters; use at least "
                          "16 random ones, e.g. from secrets.token_hex(32)")
    return token


class AgentServer(ThreadingHTTPServer):
    """Threaded HTTP server holding the backend, the token and the one-measurement lock."""

    daemon_threads = True

    def __init__(self, address: tuple[str, int], backend: AgentBackend, token: str,
                 limits: AgentLimits | None = None):
        self.backend = backend
        self.token = token.encode()
        self.limits = limits or AgentLimits()
        self.measure_lock = threading.Lock()
        super().__init__(address, AgentHandler)

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host}:{port}"


class AgentHandler(BaseHTTPRequestHandler):
    server: AgentServer
    protocol_version = "HTTP/1.1"

    def setup(self) -> None:
        self.timeout = self.server.limits.socket_timeout_s
        super().setup()

    def log_message(self, format: str, *args: Any) -> None:
        self.server.limits.log(f"{self.address_string()} {format % args}")

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_PUT(self) -> None:
        self._dispatch("PUT")

    def do_DELETE(self) -> None:
        self._dispatch("DELETE")

    def _dispatch(self, method: str) -> None:
        try:
            self._authorize()
            path = self.path.split("?", 1)[0]
            if path not in ROUTES:
                raise RequestError(404, f"no such endpoint {path} (endpoints: {', '.join(ROUTES)})")
            if method != ROUTES[path]:
                raise RequestError(405, f"{path} takes {ROUTES[path]}, not {method}")
            body = self._body() if method == "POST" else b""
            self._send(200, self._info() if path.endswith("/info") else self._measure(body))
        except RequestError as exc:
            self._send(exc.status, {"error": str(exc)})
        except HadasError as exc:
            self._send(500, {"error": f"measurement failed: {exc}"})
        except Exception as exc:  # the agent keeps serving; the board log has the traceback
            self.server.limits.log(traceback.format_exc())
            self._send(500, {"error": f"internal error: {type(exc).__name__}: {exc}"})

    def _authorize(self) -> None:
        header = self.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(token.strip().encode(),
                                                                 self.server.token):
            raise RequestError(401, "missing or wrong bearer token")

    def _body(self) -> bytes:
        length = self.headers.get("Content-Length")
        if length is None or not length.isdigit():
            raise RequestError(411, "a Content-Length header is required")
        if int(length) > self.server.limits.max_body_bytes:
            raise RequestError(413, f"body of {length} bytes is over the "
                               f"{self.server.limits.max_body_bytes}-byte limit")
        try:
            return self.rfile.read(int(length))
        except TimeoutError:
            raise RequestError(408, f"body not received within "
                               f"{self.server.limits.socket_timeout_s:g} s") from None

    def _info(self) -> dict[str, Any]:
        b = self.server.backend
        return {**b.info, "platform": b.platform,
                "dvfs_hz": {k: list(v) for k, v in b.tables.items()}}

    def _measure(self, body: bytes) -> dict[str, Any]:
        b = self.server.backend
        request = parse_measure_request(body, b.tables, b.platform, b.default_repeats)
        try:
            b.validate(request)
        except ConfigError as exc:
            raise RequestError(400, str(exc)) from None
        if not self.server.measure_lock.acquire(timeout=self.server.limits.busy_wait_s):
            raise RequestError(503, f"busy: another measurement has run for more than "
                               f"{self.server.limits.busy_wait_s:g} s; retry later")
        try:
            return b.measure(request)
        finally:
            self.server.measure_lock.release()

    def _send(self, status: int, payload: dict[str, Any]) -> None:
        data = json.dumps(payload).encode()
        if status >= 400:  # an unread body must not be taken for the next request
            self.close_connection = True
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        if status == 401:
            self.send_header("WWW-Authenticate", 'Bearer realm="hadas-agent"')
        if status == 405:
            self.send_header("Allow", ROUTES.get(self.path.split("?", 1)[0], "GET"))
        self.end_headers()
        self.wfile.write(data)


def is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


def start_agent(backend: AgentBackend, token: str, host: str = "127.0.0.1", port: int = 0,
                limits: AgentLimits | None = None) -> AgentServer:
    """Bind the agent (port 0: an ephemeral port, see `.url`); call `serve_forever()` on it."""
    server = AgentServer((host, port), backend, token, limits)
    if not is_loopback(host):
        server.limits.log(f"warning: listening on {host}: plain HTTP, the token and data travel "
                          "unencrypted; use a trusted network or an SSH tunnel")
    return server
