"""A tiny HTTP/1.1 client over a raw socket, for tests that need to see exactly what goes over the wire.

Every socket has a timeout; nothing here can block forever.

    c = RawConn(port)
    c.send(b"GET /health HTTP/1.1\\r\\nHost: x\\r\\n\\r\\n")
    r = c.read_response()
    r.status, r.header("content-type"), r.body, r.json()
"""

from __future__ import annotations

import json
import socket
import time
from dataclasses import dataclass, field


class ProtocolError(AssertionError):
    """The server sent something that is not valid HTTP/1.1 (an assertion: the test fails)."""


@dataclass
class Response:
    version: str
    status: int
    reason: str
    headers: list[tuple[str, str]]
    body: bytes = b""
    chunked: bool = False
    chunks: list[bytes] = field(default_factory=list)
    interim: list["Response"] = field(default_factory=list)  # 1xx responses that preceded this one
    raw_head: bytes = b""

    def header(self, name: str) -> str | None:
        name = name.lower()
        for k, v in self.headers:
            if k.lower() == name:
                return v
        return None

    def header_all(self, name: str) -> list[str]:
        name = name.lower()
        return [v for k, v in self.headers if k.lower() == name]

    def has_header(self, name: str) -> bool:
        return self.header(name) is not None

    def header_tokens(self, name: str) -> list[str]:
        """Comma-separated values of every field with that name, lower-cased and stripped."""
        out: list[str] = []
        for v in self.header_all(name):
            out += [t.strip().lower() for t in v.split(",") if t.strip()]
        return out

    def json(self):
        try:
            return json.loads(self.body)
        except ValueError as e:
            raise AssertionError(f"body is not JSON ({e}): {self.body[:300]!r}") from None

    def wants_close(self) -> bool:
        return "close" in self.header_tokens("connection")

    def __repr__(self) -> str:
        return (f"<Response {self.version} {self.status} {self.reason!r} headers={self.headers!r} "
                f"body[{len(self.body)}]={self.body[:200]!r}>")


class RawConn:
    def __init__(self, port: int, host: str = "127.0.0.1", timeout: float = 5.0,
                 rcvbuf: int | None = None, connect: bool = True):
        self.host, self.port, self.timeout = host, port, timeout
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if rcvbuf is not None:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.sock.settimeout(timeout)
        self.buf = bytearray()
        self.eof = False
        if connect:
            self.sock.connect((host, port))

    # -- plumbing -------------------------------------------------------------------------------
    def settimeout(self, t: float) -> None:
        self.timeout = t
        self.sock.settimeout(t)

    def send(self, data: bytes | str) -> None:
        if isinstance(data, str):
            data = data.encode()
        self.sock.sendall(data)

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _fill(self, n: int = 65536) -> int:
        """One recv into the buffer. Returns bytes read; 0 means EOF. Raises TimeoutError."""
        if self.eof:
            return 0
        data = self.sock.recv(n)
        if not data:
            self.eof = True
            return 0
        self.buf += data
        return len(data)

    def _read_line(self, limit: int = 1 << 20) -> bytes:
        while True:
            i = self.buf.find(b"\r\n")
            if i >= 0:
                line = bytes(self.buf[:i])
                del self.buf[: i + 2]
                return line
            if len(self.buf) > limit:
                raise ProtocolError(f"line longer than {limit} bytes")
            if self._fill() == 0:
                raise ProtocolError(f"connection closed in the middle of a line: {bytes(self.buf[:200])!r}")

    def _read_exact(self, n: int) -> bytes:
        while len(self.buf) < n:
            if self._fill(max(65536, n - len(self.buf))) == 0:
                raise ProtocolError(f"connection closed after {len(self.buf)} of {n} body bytes")
        out = bytes(self.buf[:n])
        del self.buf[:n]
        return out

    # -- responses ------------------------------------------------------------------------------
    def read_head(self) -> Response:
        """Status line + header fields of the next response (1xx included)."""
        lines = []
        while True:
            try:
                line = self._read_line()
            except ProtocolError:
                if not lines and not self.buf:
                    raise ConnectionClosed("connection closed before a response") from None
                raise
            if line == b"":
                if not lines:
                    # tolerate a stray CRLF between messages (RFC 9112 2.2 lets a client do so)
                    continue
                break
            lines.append(line)
        raw = b"\r\n".join(lines) + b"\r\n\r\n"
        status_line = lines[0].decode("latin-1")
        parts = status_line.split(" ", 2)
        if len(parts) < 2 or not parts[0].startswith("HTTP/") or not parts[1].isdigit() or len(parts[1]) != 3:
            raise ProtocolError(f"bad status line: {status_line!r}")
        headers = []
        for hl in lines[1:]:
            s = hl.decode("latin-1")
            if ":" not in s or s[0] in " \t":
                raise ProtocolError(f"bad header line: {s!r}")
            k, v = s.split(":", 1)
            if k != k.strip() or not k:
                raise ProtocolError(f"bad header name: {s!r}")
            headers.append((k, v.strip()))
        return Response(parts[0], int(parts[1]), parts[2] if len(parts) > 2 else "", headers, raw_head=raw)

    def read_response(self, method: str = "GET", stop_at_interim: bool = False) -> Response:
        """Reads one complete response. 1xx interim responses are collected in .interim
        (or returned as they are with stop_at_interim=True)."""
        interim = []
        while True:
            r = self.read_head()
            if 100 <= r.status < 200 and r.status != 101:
                if stop_at_interim:
                    return r
                interim.append(r)
                continue
            break
        r.interim = interim
        self.read_body(r, method)
        return r

    def read_body(self, r: Response, method: str = "GET") -> None:
        te = r.header_tokens("transfer-encoding")
        cls = r.header_all("content-length")
        if method == "HEAD" or r.status in (204, 304) or 100 <= r.status < 200:
            return
        if te:
            if te[-1] != "chunked":
                raise ProtocolError(f"unsupported transfer-encoding {te}")
            if cls:
                raise ProtocolError("response has both Content-Length and Transfer-Encoding")
            r.chunked = True
            for chunk in self.iter_chunks():
                r.chunks.append(chunk)
            r.body = b"".join(r.chunks)
            return
        if cls:
            if len(set(cls)) != 1 or not cls[0].isdigit():
                raise ProtocolError(f"bad Content-Length {cls}")
            r.body = self._read_exact(int(cls[0]))
            return
        # no framing: body runs until the connection closes
        while self._fill() > 0:
            pass
        r.body = bytes(self.buf)
        self.buf.clear()

    def iter_chunks(self):
        """Yields the chunks of a chunked body as they arrive; consumes the last chunk and trailers."""
        while True:
            line = self._read_line()
            size_s = line.split(b";", 1)[0].strip()
            try:
                size = int(size_s, 16)
            except ValueError:
                raise ProtocolError(f"bad chunk size line {line!r}") from None
            if size == 0:
                while self._read_line() != b"":
                    pass  # trailers
                return
            data = self._read_exact(size)
            if self._read_exact(2) != b"\r\n":
                raise ProtocolError("chunk not followed by CRLF")
            yield data

    def request(self, method: str, path: str, body: bytes | None = None,
                headers: dict[str, str] | list[tuple[str, str]] | None = None,
                version: str = "HTTP/1.1") -> Response:
        self.send(build_request(method, path, body, headers, version))
        return self.read_response(method)

    def wait_closed(self, timeout: float) -> tuple[bool, bytes]:
        """Waits up to `timeout` for the server to close the connection. Returns (closed, bytes
        received meanwhile). A reset counts as closed."""
        deadline = time.monotonic() + timeout
        got = bytes(self.buf)
        self.buf.clear()
        if self.eof:
            return True, got
        try:
            while True:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False, got
                self.sock.settimeout(left)
                data = self.sock.recv(65536)
                if not data:
                    self.eof = True
                    return True, got
                got += data
        except (TimeoutError, socket.timeout):
            return False, got
        except (ConnectionResetError, BrokenPipeError):
            self.eof = True
            return True, got
        finally:
            self.sock.settimeout(self.timeout)

    def nothing_received_within(self, timeout: float) -> bool:
        """True when no byte (and no EOF) arrives within `timeout`."""
        if self.buf:
            return False
        self.sock.settimeout(timeout)
        try:
            self.sock.recv(1, socket.MSG_PEEK)  # data or EOF
            return False
        except (TimeoutError, socket.timeout):
            return True
        except (ConnectionResetError, BrokenPipeError):
            return False
        finally:
            self.sock.settimeout(self.timeout)


class ConnectionClosed(ProtocolError):
    pass


def build_request(method: str, path: str, body: bytes | None = None,
                  headers: dict[str, str] | list[tuple[str, str]] | None = None,
                  version: str = "HTTP/1.1") -> bytes:
    hs = list(headers.items()) if isinstance(headers, dict) else list(headers or [])
    names = {k.lower() for k, _ in hs}
    if "host" not in names and version == "HTTP/1.1":
        hs.insert(0, ("Host", "127.0.0.1"))
    if body is not None and "content-length" not in names and "transfer-encoding" not in names:
        hs.append(("Content-Length", str(len(body))))
    head = f"{method} {path} {version}\r\n" + "".join(f"{k}: {v}\r\n" for k, v in hs) + "\r\n"
    return head.encode("latin-1") + (body or b"")


def chunked(*parts: bytes, trailers: str = "") -> bytes:
    """Encodes parts as a chunked body (empty parts are skipped: an empty chunk would end the body)."""
    out = b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in parts if p)
    return out + b"0\r\n" + trailers.encode() + b"\r\n"


def get(port: int, path: str, timeout: float = 5.0, headers=None) -> Response:
    """One request on a fresh connection (closed afterwards)."""
    with RawConn(port, timeout=timeout) as c:
        return c.request("GET", path, headers=headers)
