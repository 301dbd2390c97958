"""A fault-injecting HTTP/1.1 proxy for the object-storage tests: listens on
127.0.0.1, forwards every request to an S3 endpoint (S3Proxy, moto), and can
be told to misbehave on chosen requests:

- slow_down(count, match): answer `503 SlowDown` (S3's XML error body) instead
  of forwarding, to the next `count` matching requests (or, with every=k, to
  every k-th matching request);
- drop(count, match, after): forward the request line, the headers and
  `after` bytes of the body, then close both connections (a connection lost
  in the middle of an upload);
- stall(count, match): read the request and send nothing, forwarding
  nothing, until the client gives up and closes (its stall time-out);
- hold(match): like stall, but until release() (or the proxy stops): keeps a
  client waiting for as long as a test needs.

Clients keep connections alive (libcurl reuses them): each client connection
has its own upstream connection, and requests are parsed one after the other
(request line, headers, a Content-Length or chunked body). Responses are
forwarded as they come: Content-Length, chunked, or delimited by the close of
the connection (then the client's connection is closed too).

Every request is recorded as a Seen (method, path, query, fault) so a test
can assert that a fault happened and what was retried. Standard library only.
"""

import select
import socket
import threading
import time
from dataclasses import dataclass
from typing import Callable, List, Optional
from urllib.parse import urlsplit

SLOW_DOWN_BODY = (b'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>SlowDown</Code>'
                  b'<Message>Please reduce your request rate.</Message>'
                  b'<RequestId>fault-proxy</RequestId></Error>')
MAX_HEADER_BYTES = 64 * 1024


@dataclass
class Seen:
    method: str
    path: str
    query: str
    fault: Optional[str]  # None (forwarded), "503", "drop", "stall", "hold"
    status: Optional[int] = None  # the upstream's answer, when forwarded
    framing: Optional[str] = None  # of that answer: "length", "chunked", "close" or "none"
    at: float = 0.0  # time.monotonic() when its head arrived

    def is_upload_part(self) -> bool:
        return self.method == "PUT" and "partNumber=" in self.query and "uploadId=" in self.query

    def part_number(self) -> Optional[int]:
        for item in self.query.split("&"):
            if item.startswith("partNumber="):
                return int(item.split("=", 1)[1])
        return None


Match = Callable[[Seen], bool]


def any_request(_: Seen) -> bool:
    return True


def upload_part(seen: Seen) -> bool:
    return seen.is_upload_part()


def complete_upload(seen: Seen) -> bool:
    return seen.method == "POST" and "uploadId=" in seen.query


class _Fault:
    def __init__(self, kind: str, count: int, match: Match, every: int = 1, after: int = 0):
        self.kind, self.left, self.match, self.every, self.after = kind, count, match, every, after
        self.matched = 0

    def take(self, seen: Seen) -> bool:
        """Whether this fault applies to this request (and uses it up)."""
        if self.left == 0 or not self.match(seen):
            return False
        self.matched += 1
        if self.matched % self.every != 0:
            return False
        if self.left > 0:
            self.left -= 1
        return True


class _Closed(Exception):
    pass


class _Reader:
    """Buffered reads from a socket: lines and exact byte counts."""

    def __init__(self, sock: socket.socket):
        self.sock = sock
        self.buffer = b""

    def _fill(self) -> bool:
        data = self.sock.recv(256 * 1024)
        if not data:
            return False
        self.buffer += data
        return True

    def line(self) -> bytes:
        while b"\r\n" not in self.buffer:
            if len(self.buffer) > MAX_HEADER_BYTES or not self._fill():
                raise _Closed()
        line, self.buffer = self.buffer.split(b"\r\n", 1)
        return line + b"\r\n"

    def head(self) -> List[bytes]:
        """A start line and its header lines, up to the empty line (kept raw)."""
        lines = [self.line()]
        while lines[-1] != b"\r\n":
            lines.append(self.line())
        return lines

    def some(self, limit: int) -> bytes:
        """Up to limit bytes (at least one), or b"" at the end of the stream."""
        if not self.buffer and not self._fill():
            return b""
        data, self.buffer = self.buffer[:limit], self.buffer[limit:]
        return data

    def exactly(self, count: int) -> bytes:
        while len(self.buffer) < count:
            if not self._fill():
                raise _Closed()
        data, self.buffer = self.buffer[:count], self.buffer[count:]
        return data


def _header(lines: List[bytes], name: bytes) -> Optional[str]:
    for line in lines[1:]:
        key, _, value = line.partition(b":")
        if key.strip().lower() == name:
            return value.strip().decode("latin-1")
    return None


def _body_chunks(reader: _Reader, lines: List[bytes], close_delimited: bool):
    """Yields the raw bytes of a message body as they arrive (chunked framing
    kept as is, so it is forwarded unchanged)."""
    encoding = (_header(lines, b"transfer-encoding") or "").lower()
    if "chunked" in encoding:
        while True:
            size_line = reader.line()
            yield size_line
            size = int(size_line.split(b";", 1)[0].strip(), 16)
            if size == 0:
                while True:  # trailers, up to the empty line
                    trailer = reader.line()
                    yield trailer
                    if trailer == b"\r\n":
                        return
            left = size + 2  # the data and its CRLF
            while left:
                data = reader.exactly(min(left, 256 * 1024))
                left -= len(data)
                yield data
        return
    length = _header(lines, b"content-length")
    if length is not None:
        left = int(length)
        while left:
            data = reader.some(min(left, 256 * 1024))
            if not data:
                raise _Closed()
            left -= len(data)
            yield data
        return
    if close_delimited:
        while True:
            data = reader.some(256 * 1024)
            if not data:
                return
            yield data


def _closed_by_peer(sock: socket.socket) -> bool:
    readable, _, _ = select.select([sock], [], [], 0)
    if not readable:
        return False
    try:
        return sock.recv(1, socket.MSG_PEEK) == b""
    except OSError:
        return True


class FaultProxy:
    def __init__(self, upstream: str):
        target = urlsplit(upstream)
        self.upstream = (target.hostname, target.port or 80)
        self.seen: List[Seen] = []
        self._faults: List[_Fault] = []
        self._lock = threading.Lock()
        self._released = threading.Event()
        self._stopping = threading.Event()
        self._sockets = set()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.endpoint = f"http://127.0.0.1:{self._listener.getsockname()[1]}"
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    # What a test asks for.

    def slow_down(self, count: int = 1, match: Match = any_request, every: int = 1) -> None:
        self._add(_Fault("503", count, match, every=every))

    def drop(self, count: int = 1, match: Match = upload_part, after: int = 64 * 1024) -> None:
        self._add(_Fault("drop", count, match, after=after))

    def stall(self, count: int = 1, match: Match = any_request) -> None:
        self._add(_Fault("stall", count, match))

    def hold(self, match: Match) -> None:
        self._released.clear()
        self._add(_Fault("hold", -1, match))

    def release(self) -> None:
        """Clears every fault and lets held requests go (their connections are closed)."""
        with self._lock:
            self._faults = []
        self._released.set()

    def requests(self, match: Match = any_request, fault: Optional[str] = "any") -> List[Seen]:
        with self._lock:
            return [seen for seen in self.seen if match(seen) and (fault == "any" or seen.fault == fault)]

    def wait_for(self, condition: Callable[[], bool], timeout: float = 60) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if condition():
                return True
            time.sleep(0.02)
        return condition()

    def close(self) -> None:
        self._stopping.set()
        self._released.set()
        self._listener.close()
        with self._lock:
            for sock in list(self._sockets):
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
        self._thread.join(timeout=5)

    # The machinery.

    def _add(self, fault: _Fault) -> None:
        with self._lock:
            self._faults.append(fault)

    def _accept(self) -> None:
        self._listener.settimeout(0.1)  # so that close() is seen at once
        while not self._stopping.is_set():
            try:
                client, _ = self._listener.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            client.settimeout(None)
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _track(self, sock: socket.socket) -> socket.socket:
        with self._lock:
            self._sockets.add(sock)
        return sock

    def _untrack(self, sock: Optional[socket.socket]) -> None:
        if sock is None:
            return
        with self._lock:
            self._sockets.discard(sock)
        try:
            sock.close()
        except OSError:
            pass

    def _serve(self, client: socket.socket) -> None:
        self._track(client)
        upstream = None
        try:
            reader = _Reader(client)
            upstream_reader = None
            while True:
                try:
                    lines = reader.head()
                except _Closed:
                    return
                method, target, _ = lines[0].decode("latin-1").split(" ", 2)
                path, _, query = target.partition("?")
                seen = Seen(method, path, query, None, at=time.monotonic())
                with self._lock:
                    fault = next((fault for fault in self._faults if fault.take(seen)), None)
                    seen.fault = fault.kind if fault else None
                    self.seen.append(seen)
                body = _body_chunks(reader, lines, close_delimited=False)
                if fault and fault.kind == "503":
                    for _ in body:  # read it all: the connection stays usable
                        pass
                    client.sendall(b"HTTP/1.1 503 Slow Down\r\nContent-Type: application/xml\r\n"
                                   b"Content-Length: %d\r\n\r\n" % len(SLOW_DOWN_BODY) + SLOW_DOWN_BODY)
                    continue
                if fault and fault.kind in ("stall", "hold"):
                    for _ in body:
                        pass
                    self._wait_for_client_close(client, forever=fault.kind == "hold")
                    return
                if upstream is not None and _closed_by_peer(upstream):
                    self._untrack(upstream)  # the server closed an idle connection
                    upstream = None
                if upstream is None:
                    upstream = self._track(socket.create_connection(self.upstream, timeout=120))
                    upstream_reader = _Reader(upstream)
                upstream.sendall(b"".join(lines))
                sent = 0
                for data in body:
                    if fault and fault.kind == "drop" and sent + len(data) >= fault.after:
                        upstream.sendall(data[:max(fault.after - sent, 0)])
                        return  # closes both connections in the finally
                    upstream.sendall(data)
                    sent += len(data)
                if not self._relay_response(upstream_reader, client, method, seen):
                    return
        except (OSError, _Closed, ValueError):
            return
        finally:
            self._untrack(upstream)
            self._untrack(client)

    def _relay_response(self, upstream_reader: _Reader, client: socket.socket, method: str, seen: Seen) -> bool:
        """Forwards one response; False when the connection must close after it."""
        while True:
            lines = upstream_reader.head()
            status = int(lines[0].split()[1])
            client.sendall(b"".join(lines))
            if status >= 200 or status == 101:
                break  # 1xx interim answers are followed by the real one
        seen.status = status
        connection = (_header(lines, b"connection") or "").lower()
        bodiless = method == "HEAD" or status in (204, 304) or status < 200
        has_framing = _header(lines, b"content-length") is not None or "chunked" in (
            _header(lines, b"transfer-encoding") or "").lower()
        if bodiless:
            seen.framing = "none"
        elif "chunked" in (_header(lines, b"transfer-encoding") or "").lower():
            seen.framing = "chunked"
        else:
            seen.framing = "length" if has_framing else "close"
        if not bodiless:
            for data in _body_chunks(upstream_reader, lines, close_delimited=True):
                client.sendall(data)
        return "close" not in connection and (bodiless or has_framing) and not lines[0].startswith(b"HTTP/1.0")

    def _wait_for_client_close(self, client: socket.socket, forever: bool, limit: float = 120) -> None:
        """Sends nothing until the client closes (or, for a hold, until released)."""
        deadline = time.monotonic() + limit
        client.settimeout(0.1)
        while time.monotonic() < deadline and not self._stopping.is_set():
            if forever and self._released.is_set():
                return
            try:
                if not client.recv(65536):
                    return
            except socket.timeout:
                continue
            except OSError:
                return
