#!/usr/bin/env python3
"""Server memory per connection with and without permessage-deflate.

Starts the release `echo` example three ways (no deflate; deflate with context takeover;
deflate without context takeover), opens N WebSocket connections with Python `websockets`
(which offers permessage-deflate), sends one 2 KiB text message on each so that compressors
and decompressors exist, and reports the server's RSS growth per connection.

    cargo build --release -p windlass-examples --example echo
    python3 bench/deflate_memory.py --connections 1000

Needs `pip install websockets`. Loopback only; every connection is closed at the end.
"""
import argparse
import asyncio
import re
import subprocess
import time

import websockets

MESSAGE = ("{\"event\":\"quote\",\"symbol\":\"WNDL\",\"bid\":101.25,\"ask\":101.27}" * 40)[:2048]


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        return int(re.search(r"VmRSS:\s+(\d+) kB", f.read()).group(1))


async def measure(args, server_args):
    server = subprocess.Popen(
        [args.echo, "--listen", "127.0.0.1:0", *server_args],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        addr = server.stdout.readline().split()[-1]
        time.sleep(0.2)
        before = rss_kib(server.pid)
        conns = []
        for start in range(0, args.connections, 100):
            batch = await asyncio.gather(
                *(websockets.connect(f"ws://{addr}/", max_size=None) for _ in range(start, min(start + 100, args.connections)))
            )
            conns.extend(batch)
        negotiated = conns[0].response.headers.get("Sec-WebSocket-Extensions")
        for ws in conns:
            await ws.send(MESSAGE)
        for ws in conns:
            assert await ws.recv() == MESSAGE
        await asyncio.sleep(0.5)
        after = rss_kib(server.pid)
        await asyncio.gather(*(ws.close() for ws in conns))
        return negotiated, (after - before) * 1024 / args.connections
    finally:
        server.kill()
        server.wait()


async def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--connections", type=int, default=1000)
    parser.add_argument("--echo", default="target/release/examples/echo")
    args = parser.parse_args()
    setups = [
        ("no deflate", []),
        ("deflate, context takeover", ["--deflate", "--deflate-threshold", "0"]),
        ("deflate, no context takeover", ["--deflate", "--deflate-threshold", "0", "--deflate-no-context"]),
    ]
    print(f"{args.connections} connections, one {len(MESSAGE)}-byte message echoed on each")
    print(f"{'setup':32} {'bytes per connection':>22}  negotiated")
    for name, server_args in setups:
        negotiated, per_conn = await measure(args, server_args)
        print(f"{name:32} {per_conn:>22,.0f}  {negotiated}")


asyncio.run(main())
