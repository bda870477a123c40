"""A loopback HTTP/1.1 proxy that adds a fixed delay to every request/response round trip and
counts S3 requests by kind: a stand-in for the network between an AWS task and S3.

Run as its own process (it must not share a GIL with what it measures):
`python -m bench.latency_proxy --port P --upstream 127.0.0.1:M [--delay-ms D]`; it prints
``READY <port>`` once it listens. Clients talk to it as to S3 (path-style, plain HTTP); each
client connection gets its own keep-alive connection upstream, so concurrency is the client's.
Every answer is held back ``delay`` ms before it goes back to the client: one added latency per
round trip, as real S3 adds ~10-30 ms to first byte from a task in-region.

Control paths (answered here, never forwarded):
- ``GET /__proxy__/stats``: JSON ``{"requests": {kind: n}, "by_table": {"KIND table": n},
  "total": n, "bytes_up": n, "bytes_down": n, "delay_ms": d, "errors": n, "max_in_flight": n}``
  (``table``: the key's folders before its first ``name=value`` partition folder, without the
  bucket; max_in_flight: the most requests in flight at once since the last reset)
- ``POST /__proxy__/reset``: zero the counters
- ``POST /__proxy__/delay/<ms>``: set the delay from now on
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import urllib.request
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import h11
import uvloop

CONTROL = "/__proxy__/"
CHUNK = 65536


@dataclass
class Stats:
    delay_s: float
    requests: Counter[str] = field(default_factory=Counter)
    by_table: Counter[str] = field(default_factory=Counter)
    bytes_up: int = 0
    bytes_down: int = 0
    errors: int = 0
    in_flight: int = 0
    max_in_flight: int = 0

    def to_dict(self) -> dict[str, object]:
        return {
            "requests": dict(sorted(self.requests.items())),
            "by_table": dict(self.by_table.most_common()),
            "total": sum(self.requests.values()),
            "bytes_up": self.bytes_up,
            "bytes_down": self.bytes_down,
            "delay_ms": round(self.delay_s * 1000, 3),
            "errors": self.errors,
            "max_in_flight": self.max_in_flight,
        }

    def reset(self) -> None:
        self.requests.clear()
        self.by_table.clear()
        self.bytes_up = self.bytes_down = self.errors = self.max_in_flight = 0


def request_kind(method: str, target: str) -> str:
    """The S3 operation of a path-style request: LIST, GET, HEAD, PUT, multipart parts, ..."""
    parts = urlsplit(target)
    query = parse_qs(parts.query, keep_blank_values=True)
    has_key = "/" in parts.path.strip("/")
    if method == "GET":
        if not has_key or "list-type" in query:
            return "LIST"
        return "GET"
    if method == "PUT":
        if "partNumber" in query:
            return "MULTIPART_PART"
        return "PUT" if has_key else "PUT_BUCKET"
    if method == "POST":
        if "uploads" in query:
            return "MULTIPART_CREATE"
        if "uploadId" in query:
            return "MULTIPART_COMPLETE"
        if "delete" in query:
            return "DELETE_OBJECTS"
        return "POST"
    if method == "DELETE":
        return "MULTIPART_ABORT" if "uploadId" in query else "DELETE"
    return method


def table_of(target: str) -> str:
    """The table a path-style request touches: the key (or a LIST's ``prefix``) up to its first
    ``name=value`` folder, without the bucket: ``/b/lake/features_daily/date=.../x`` ->
    ``lake/features_daily``."""
    parts = urlsplit(target)
    query = parse_qs(parts.query, keep_blank_values=True)
    path = unquote(parts.path)
    key = query["prefix"][0] if "prefix" in query else path.strip("/").partition("/")[2]
    folders = []
    for folder in key.split("/")[:-1] if "prefix" not in query else key.split("/"):
        if "=" in folder:
            break
        folders.append(folder)
    return "/".join(folders) or "(bucket)"


async def _receive(conn: h11.Connection, reader: asyncio.StreamReader) -> h11.Event:
    while True:
        event = conn.next_event()
        if event is h11.NEED_DATA:
            conn.receive_data(await reader.read(CHUNK))
            continue
        return event


async def _message(
    conn: h11.Connection, reader: asyncio.StreamReader, writer: asyncio.StreamWriter | None = None
) -> tuple[h11.Request | h11.Response | None, bytes]:
    """One whole message (head and body); (None, b"") when the peer closed. On the server side
    (``writer`` given) a client that waits for 100 Continue (boto3's PUTs) gets it at once."""
    head = await _receive(conn, reader)
    while isinstance(head, h11.InformationalResponse):  # 100 Continue from upstream: skip
        head = await _receive(conn, reader)
    if isinstance(head, h11.ConnectionClosed):
        return None, b""
    assert isinstance(head, h11.Request | h11.Response), head
    if writer is not None and conn.they_are_waiting_for_100_continue:
        writer.write(conn.send(h11.InformationalResponse(status_code=100, headers=[])))
        await writer.drain()
    body = bytearray()
    while True:
        event = await _receive(conn, reader)
        if isinstance(event, h11.Data):
            body += event.data
        elif isinstance(event, h11.EndOfMessage):
            return head, bytes(body)
        else:
            raise RuntimeError(f"unexpected {event!r}")


def _framing_free(headers: list[tuple[bytes, bytes]], length: int) -> list[tuple[bytes, bytes]]:
    """Headers with the body's framing replaced by a Content-Length (the body is buffered)."""
    kept = [
        (k, v)
        for k, v in headers
        if k.lower() not in (b"content-length", b"transfer-encoding", b"connection", b"expect")
    ]
    return [*kept, (b"content-length", str(length).encode())]


class Proxy:
    def __init__(self, upstream: tuple[str, int], stats: Stats):
        self.upstream = upstream
        self.stats = stats

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        client = h11.Connection(h11.SERVER)
        up: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None
        upstream = h11.Connection(h11.CLIENT)
        try:
            while True:
                request, body = await _message(client, reader, writer)
                if request is None:
                    return
                assert isinstance(request, h11.Request)
                target = request.target.decode()
                if target.startswith(CONTROL):
                    status, answer = self.control(request.method.decode(), target)
                    writer.write(_serialize(client, status, [], answer, head=False))
                else:
                    if up is None or upstream.our_state is h11.MUST_CLOSE:
                        if up is not None:
                            up[1].close()
                        up = await asyncio.open_connection(*self.upstream)
                        upstream = h11.Connection(h11.CLIENT)
                    stats = self.stats
                    kind = request_kind(request.method.decode(), target)
                    stats.requests[kind] += 1
                    stats.by_table[f"{kind} {table_of(target)}"] += 1
                    stats.bytes_up += len(body)
                    stats.in_flight += 1
                    stats.max_in_flight = max(stats.max_in_flight, stats.in_flight)
                    try:
                        response, answer = await self.forward(upstream, up, request, body)
                        stats.bytes_down += len(answer)
                        if stats.delay_s:
                            await asyncio.sleep(stats.delay_s)
                    finally:
                        stats.in_flight -= 1
                    headers = list(response.headers.raw_items())
                    head = request.method == b"HEAD"
                    writer.write(_serialize(client, response.status_code, headers, answer, head))
                await writer.drain()
                if client.our_state is h11.MUST_CLOSE or client.their_state is h11.MUST_CLOSE:
                    return
                client.start_next_cycle()
                if upstream.our_state is h11.DONE and upstream.their_state is h11.DONE:
                    upstream.start_next_cycle()
        except (ConnectionError, h11.RemoteProtocolError, asyncio.IncompleteReadError):
            self.stats.errors += 1
        finally:
            writer.close()
            if up is not None:
                up[1].close()

    async def forward(
        self,
        conn: h11.Connection,
        up: tuple[asyncio.StreamReader, asyncio.StreamWriter],
        request: h11.Request,
        body: bytes,
    ) -> tuple[h11.Response, bytes]:
        headers = _framing_free(list(request.headers.raw_items()), len(body))
        if request.method in (b"GET", b"HEAD", b"DELETE") and not body:
            headers = [(k, v) for k, v in headers if k != b"content-length"]
        data = conn.send(h11.Request(method=request.method, target=request.target, headers=headers))
        if body:
            data += conn.send(h11.Data(data=body))
        data += conn.send(h11.EndOfMessage())
        up[1].write(data)
        await up[1].drain()
        response, answer = await _message(conn, up[0])
        if response is None:
            raise ConnectionError("upstream closed the connection")
        assert isinstance(response, h11.Response)
        return response, answer

    def control(self, method: str, target: str) -> tuple[int, bytes]:
        action = target[len(CONTROL) :]
        if method == "GET" and action == "stats":
            return 200, json.dumps(self.stats.to_dict()).encode()
        if method == "POST" and action == "reset":
            self.stats.reset()
            return 200, b"{}"
        if method == "POST" and action.startswith("delay/"):
            self.stats.delay_s = float(action.removeprefix("delay/")) / 1000.0
            return 200, b"{}"
        return 404, b'{"error": "unknown control path"}'


def _serialize(
    conn: h11.Connection, status: int, headers: list[tuple[bytes, bytes]], body: bytes, head: bool
) -> bytes:
    """A whole response; a HEAD's keeps the upstream's Content-Length (it describes the object)."""
    if head:
        out = conn.send(h11.Response(status_code=status, headers=headers))
    else:
        out = conn.send(h11.Response(status_code=status, headers=_framing_free(headers, len(body))))
        if body:
            out += conn.send(h11.Data(data=body))
    return out + conn.send(h11.EndOfMessage())


class Control:
    """A client of a running proxy's control paths."""

    def __init__(self, url: str):
        self.url = url

    def _call(self, method: str, path: str) -> dict[str, Any]:
        request = urllib.request.Request(f"{self.url}{CONTROL}{path}", method=method)
        with urllib.request.urlopen(request, timeout=10) as answer:
            return dict(json.loads(answer.read()))

    def set_delay(self, ms: float) -> None:
        self._call("POST", f"delay/{ms}")

    def reset(self) -> None:
        self._call("POST", "reset")

    def stats(self) -> dict[str, Any]:
        return self._call("GET", "stats")


def spawn(upstream: str, delay_ms: float = 0.0) -> tuple[subprocess.Popen[str], Control]:
    """The proxy in its own process in front of ``upstream`` (host:port), once it listens."""
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "bench.latency_proxy",
            "--upstream",
            upstream,
            "--delay-ms",
            str(delay_ms),
        ],
        cwd=Path(__file__).resolve().parents[1],
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    assert process.stdout is not None
    line = process.stdout.readline()
    if not line.startswith("READY "):
        process.kill()
        raise RuntimeError(f"the latency proxy did not start: {line!r}")
    return process, Control(f"http://127.0.0.1:{int(line.split()[1])}")


async def serve(port: int, upstream: tuple[str, int], delay_ms: float) -> None:
    proxy = Proxy(upstream, Stats(delay_ms / 1000.0))
    server = await asyncio.start_server(proxy.handle, "127.0.0.1", port, backlog=512)
    bound = server.sockets[0].getsockname()[1]
    print(f"READY {bound}", flush=True)
    async with server:
        await server.serve_forever()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--upstream", required=True, help="host:port of the S3 endpoint")
    parser.add_argument("--delay-ms", type=float, default=0.0)
    args = parser.parse_args(argv)
    host, _, port = args.upstream.rpartition(":")
    try:
        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            runner.run(serve(args.port, (host, int(port)), args.delay_ms))
    except KeyboardInterrupt:
        sys.exit(0)


if __name__ == "__main__":
    main()
