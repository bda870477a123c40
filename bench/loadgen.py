"""A lean closed-loop HTTP/1.1 load generator, for when wrk is not installed.

Run as its own process (so it does not share a GIL with anything it measures):
`python -m bench.loadgen URL BODIES_JSON CONNECTIONS SECONDS` prints one JSON document with
requests, non-2xx, errors, requests/s and latency percentiles in ms. Each connection keeps
one keep-alive socket and sends the POST bodies round-robin, one request at a time.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from pathlib import Path
from urllib.parse import urlparse

import numpy as np


async def _connection(
    host: str, port: int, path: str, bodies: list[bytes], offset: int, until: float, out: dict
) -> None:
    reader, writer = await asyncio.open_connection(host, port)
    i = offset
    try:
        while time.perf_counter() < until:
            body = bodies[i % len(bodies)]
            i += 1
            started = time.perf_counter()
            writer.write(
                f"POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(body)}\r\n\r\n".encode()
                + body
            )
            head = await reader.readuntil(b"\r\n\r\n")
            status = int(head.split(b" ", 2)[1])
            length = 0
            for line in head.split(b"\r\n"):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":", 1)[1])
            await reader.readexactly(length)
            out["latencies"].append(time.perf_counter() - started)
            out["non_2xx"] += not 200 <= status < 300
    except (OSError, asyncio.IncompleteReadError):
        out["errors"] += 1
    finally:
        writer.close()


async def run(url: str, bodies: list[bytes], connections: int, seconds: float) -> dict:
    parsed = urlparse(url)
    out: dict = {"latencies": [], "non_2xx": 0, "errors": 0}
    started = time.perf_counter()
    until = started + seconds
    host, port = parsed.hostname or "127.0.0.1", parsed.port or 80
    await asyncio.gather(
        *(_connection(host, port, parsed.path, bodies, i, until, out) for i in range(connections))
    )
    elapsed = time.perf_counter() - started
    latencies = np.asarray(out["latencies"]) * 1000.0
    return {
        "requests": int(latencies.size),
        "non_2xx": out["non_2xx"],
        "errors": out["errors"],
        "requests_per_s": round(latencies.size / elapsed, 1),
        **{
            f"p{q}_ms": round(float(np.percentile(latencies, q)), 2) if latencies.size else None
            for q in (50, 95, 99)
        },
    }


if __name__ == "__main__":
    target, bodies_file, conns, duration = sys.argv[1:5]
    payloads = [json.dumps(b).encode() for b in json.loads(Path(bodies_file).read_text())]
    print(json.dumps(asyncio.run(run(target, payloads, int(conns), float(duration)))))
