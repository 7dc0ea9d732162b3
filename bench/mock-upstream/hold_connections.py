"""Holds N keep-alive connections to mock-upstream, each sending chat requests back to back
for DURATION seconds, and samples the server's RSS. Loopback only.

Usage: python3 hold_connections.py HOST PORT SERVER_PID [N=10000] [DURATION=8]
"""

import asyncio
import json
import sys
import time

BODY = b'{"model":"gpt-4o-mini","messages":[{"role":"user","content":"Say hello"}]}'


def request(host):
    return (
        b"POST /v1/chat/completions HTTP/1.1\r\nhost: " + host.encode()
        + b"\r\ncontent-type: application/json\r\ncontent-length: " + str(len(BODY)).encode()
        + b"\r\n\r\n" + BODY
    )


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


async def read_reply(reader):
    head = await reader.readuntil(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":")[1])
    await reader.readexactly(length)


async def worker(host, port, stop_at, counts, opened):
    try:
        reader, writer = await asyncio.open_connection(host, port)
    except OSError:
        counts["connect_errors"] += 1
        opened.release()
        return
    opened.release()
    req = request(host)
    try:
        while time.monotonic() < stop_at:
            writer.write(req)
            await read_reply(reader)
            counts["ok"] += 1
    except (OSError, asyncio.IncompleteReadError):
        counts["errors"] += 1
    finally:
        writer.close()


async def main():
    host, port, pid = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    n = int(sys.argv[4]) if len(sys.argv) > 4 else 10000
    duration = float(sys.argv[5]) if len(sys.argv) > 5 else 8.0
    counts = {"ok": 0, "errors": 0, "connect_errors": 0}
    opened = asyncio.Semaphore(0)
    start_rss = rss_kib(pid)
    stop_at = time.monotonic() + duration
    tasks = [asyncio.create_task(worker(host, port, stop_at, counts, opened)) for _ in range(n)]
    for _ in range(n):
        await opened.acquire()
    peak_rss, peak_open = 0, 0
    while time.monotonic() < stop_at:
        await asyncio.sleep(0.25)
        peak_rss = max(peak_rss, rss_kib(pid))
    await asyncio.gather(*tasks)
    print(json.dumps({
        "connections": n,
        "requests_ok": counts["ok"],
        "errors": counts["errors"],
        "connect_errors": counts["connect_errors"],
        "rss_before_mib": round(start_rss / 1024, 1),
        "rss_peak_mib": round(peak_rss / 1024, 1),
    }))


asyncio.run(main())
