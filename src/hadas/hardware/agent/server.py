"""The device agent: a small authenticated HTTP+JSON server that measures DyNNs on its board.

`GET /v1/info` describes the board; `POST /v1/measure` measures one request. Every request
needs `Authorization: Bearer <token>`. One measurement runs at a time; others wait up to
`busy_wait_s`, then get 503. The measuring itself is injected (`AgentBackend`), so this module
needs neither torch nor a model.

Hostile clients are bounded by `AgentLimits`: the whole request (line, headers, body) must
arrive within `request_timeout_s` (else 408 and close), at most `max_connections` are served at
once (above: an immediate 503 with a JSON body, then close), and every malformed request gets a
4xx JSON answer.
"""
from __future__ import annotations

import contextlib
import hmac
import io
import ipaddress
import json
import math
import re
import socket
import sys
import threading
import time
import traceback
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, cast

from hadas.errors import ConfigError, HadasError
from hadas.files import read_text
from hadas.hardware.agent.protocol import API, MeasureRequest, RequestError, parse_measure_request

ROUTES = {f"{API}/info": "GET", f"{API}/measure": "POST"}
MAX_PORT = 65535
_DIGITS = re.compile(r"[0-9]+")  # ASCII only: str.isdigit() also takes "²" and "١"


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
    request_timeout_s: float = 20.0  # the whole request: line, headers and body (also idle time)
    socket_timeout_s: float = 10.0   # one read or write
    max_connections: int = 16        # served at once; more are answered 503 and closed
    busy_wait_s: float = 30.0        # waiting for the measurement in progress
    log: Callable[[str], None] = field(default=lambda line: print(line, file=sys.stderr))

    def __post_init__(self) -> None:
        for name in ("max_body_bytes", "request_timeout_s", "socket_timeout_s",
                     "max_connections", "busy_wait_s"):
            if not getattr(self, name) > 0:
                raise ConfigError(f"AgentLimits.{name}", f"must be > 0, got {getattr(self, name)}")


def read_token(path: str | Path) -> str:
    """The shared secret from a file (surrounding whitespace ignored); empty is an error."""
    token = read_text(path, "token_file").strip()
    if len(token) < 16:
        raise ConfigError("token_file", f"{path} holds {len(token)} characters; use at least "
                          "16 random ones, e.g. from secrets.token_hex(32)")
    return token


class _DeadlineReader(io.RawIOBase):
    """Socket reads that together must end by a deadline: each recv waits only for the time
    left (and at most `read_timeout_s`), so a client trickling bytes cannot stretch a request."""

    def __init__(self, sock: socket.socket, read_timeout_s: float):
        self.sock = sock
        self.read_timeout_s = read_timeout_s
        self.limit_s = math.inf
        self.deadline = math.inf
        self.received = 0          # bytes of the current request
        self.expired: str | None = None  # why the last read timed out

    def start(self, limit_s: float) -> None:
        self.limit_s, self.deadline = limit_s, time.monotonic() + limit_s
        self.received, self.expired = 0, None

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        left = self.deadline - time.monotonic()
        try:
            if left <= 0:
                raise TimeoutError("request deadline passed")
            self.sock.settimeout(min(left, self.read_timeout_s))
            n = self.sock.recv_into(buffer)
        except TimeoutError:
            self.expired = (f"{self.limit_s:g} s (request_timeout_s)" if left <= self.read_timeout_s
                            else f"{self.read_timeout_s:g} s (socket_timeout_s, between bytes)")
            raise
        self.received += n
        return n


class AgentServer(ThreadingHTTPServer):
    """Threaded HTTP server holding the backend, the token, the one-measurement lock and the
    connection slots."""

    daemon_threads = True

    def __init__(self, address: tuple[str, int], backend: AgentBackend, token: str,
                 limits: AgentLimits | None = None):
        self.backend = backend
        self.token = token.encode()
        self.limits = limits or AgentLimits()
        self.measure_lock = threading.Lock()
        self.slots = threading.Semaphore(self.limits.max_connections)
        super().__init__(address, AgentHandler)

    @property
    def url(self) -> str:
        host, port = cast(tuple[str, int], self.server_address[:2])  # AF_INET(6): host is str
        return f"http://{host}:{port}"

    def process_request(self, request: Any, client_address: Any) -> None:
        if not self.slots.acquire(blocking=False):
            self._refuse(request, client_address)
            return
        try:
            super().process_request(request, client_address)  # the slot goes with the thread
        except BaseException:
            self.slots.release()
            raise

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self.slots.release()

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that vanished is one log line; anything else keeps its traceback."""
        exc = sys.exc_info()[1]
        if isinstance(exc, OSError):
            self.limits.log(f"{client_address[0]} connection error: {type(exc).__name__}: {exc}")
        else:
            self.limits.log(traceback.format_exc())

    def _refuse(self, request: socket.socket, client_address: Any) -> None:
        """503 and close, without blocking the accepting thread."""
        n = self.limits.max_connections
        body = json.dumps({"error": f"busy: {n} connections open (max_connections); "
                           "retry later"}).encode()
        head = (f"HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(body)}\r\nRetry-After: 1\r\nConnection: close\r\n\r\n")
        with contextlib.suppress(OSError):  # a client that is gone needs no answer
            request.setblocking(False)
            request.send(head.encode() + body)
        self.limits.log(f"{client_address[0]} refused: {n} connections open")
        self.shutdown_request(request)

    def shutdown_request(self, request: Any) -> None:
        with contextlib.suppress(OSError):  # already closed by the client: nothing to drain
            request.shutdown(socket.SHUT_WR)  # the answer leaves, followed by a FIN
            request.setblocking(False)
            request.recv(65536)  # unread bytes would turn the close into a reset, losing it
        self.close_request(request)


class AgentHandler(BaseHTTPRequestHandler):
    server: AgentServer
    protocol_version = "HTTP/1.1"

    def setup(self) -> None:
        # typeshed declares `timeout` a ClassVar; socketserver reads it per instance as well
        self.timeout = self.server.limits.socket_timeout_s  # type: ignore[misc]
        super().setup()
        self.rfile.close()  # the socket stays open; reads go through the deadline instead
        self.reader = _DeadlineReader(self.connection, self.timeout)
        self.rfile = io.BufferedReader(self.reader)

    def handle_one_request(self) -> None:
        self.reader.start(self.server.limits.request_timeout_s)
        self.answered = False
        self.requestline, self.command, self.request_version = "", "", "HTTP/1.1"
        super().handle_one_request()  # a timeout in the line or headers closes the connection
        if self.reader.expired and self.reader.received and not self.answered:
            self._send(408, {"error": f"request not received within {self.reader.expired}"})

    def send_response(self, code: int, message: str | None = None) -> None:
        self.answered = True
        self.connection.settimeout(self.server.limits.socket_timeout_s)  # reads shortened it
        if self.request_version == "HTTP/0.9":  # also set for a bad request line: keep the status
            self.request_version = "HTTP/1.0"
        super().send_response(code, message)

    def send_error(self, code: int, message: str | None = None,
                   explain: str | None = None) -> None:
        """The stdlib's answers (bad request line, header too long, ...) as JSON; an unknown
        method is 405 like PUT and DELETE, not 501."""
        if code == 501:
            code, explain = 405, f"method {self.command!r} is not supported"
        self._send(code, {"error": explain or message or "bad request"})

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
            length = self._content_length()
            self._authorize()
            path = self.path.split("?", 1)[0]
            if path not in ROUTES:
                raise RequestError(404, f"no such endpoint {path} (endpoints: {', '.join(ROUTES)})")
            if method != ROUTES[path]:
                raise RequestError(405, f"{path} takes {ROUTES[path]}, not {method}")
            if method != "POST" and length:
                raise RequestError(400, f"{method} takes no body")
            body = self._body(length) if method == "POST" else b""
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

    def _content_length(self) -> int | None:
        """The body size the headers announce (None: no body); bad framing is a 4xx."""
        if "Transfer-Encoding" in self.headers:
            raise RequestError(411, "Transfer-Encoding is not supported; send a Content-Length")
        values = self.headers.get_all("Content-Length") or []
        if not values:
            return None
        if len(values) > 1:
            raise RequestError(400, "more than one Content-Length header")
        digits = values[0].strip()
        if not _DIGITS.fullmatch(digits):
            raise RequestError(400, f"Content-Length must be a non-negative integer, got "
                               f"{digits[:20]!r}")
        limit = self.server.limits.max_body_bytes
        digits = digits.lstrip("0") or "0"
        if len(digits) > len(str(limit)):  # never int() of 5000 digits
            raise RequestError(413, f"a {len(digits)}-digit body size is over the {limit}-byte "
                               "limit")
        if int(digits) > limit:
            raise RequestError(413, f"body of {digits} bytes is over the {limit}-byte limit")
        return int(digits)

    def _body(self, length: int | None) -> bytes:
        if length is None:
            raise RequestError(411, "a Content-Length header is required")
        try:
            body = self.rfile.read(length)
        except TimeoutError:
            raise RequestError(408, f"request not received within {self.reader.expired}") from None
        if len(body) < length:
            raise RequestError(400, f"body ended after {len(body)} of {length} bytes")
        return body

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


def check_port(port: object, field: str = "port") -> int:
    """`port` if it is an integer in 0..65535 (0: any free port), else ConfigError."""
    if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= MAX_PORT:
        raise ConfigError(field, f"must be an integer in 0..{MAX_PORT}, got {port!r}")
    return port


def is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


def start_agent(backend: AgentBackend, token: str, host: str = "127.0.0.1", port: int = 0,
                limits: AgentLimits | None = None) -> AgentServer:
    """Bind the agent (port 0: an ephemeral port, see `.url`); call `serve_forever()` on it."""
    check_port(port)
    MeasureRequest.check_repeats(backend.default_repeats, "default_repeats")
    server = AgentServer((host, port), backend, token, limits)
    if not is_loopback(host):
        server.limits.log(f"warning: listening on {host}: plain HTTP, the token and data travel "
                          "unencrypted; use a trusted network or an SSH tunnel")
    return server
