"""One row of bench/llm/run.sh from each tool's own output files, and the table of all rows.

    row.py TOOL N OUT_DIR "MOCK_USER_S MOCK_SYS_S" WALL_S RUN_CAP  -> one JSON line (the row)
    row.py --line                                    -> that JSON line (stdin) as a short text line
    row.py --table DURATION WORKERS                  -> the JSON lines (stdin) as a Markdown table

Every figure is the tool's own, read from the files it wrote: relaybench's results.json,
AIPerf's profile_export_aiperf.json, GuideLLM's benchmarks.json, the floor's one line of
JSON. Client CPU is what /usr/bin/time counted for the tool and every process it waited for
(its workers), so it includes start-up and writing reports; it is divided by the requests that
completed. The mock's figures come from its GET /_mock/stats (reset before each run) and /proc;
the floor's server has only its CPU, from /proc. CPU is user + system, with the system part
(the kernel's, on the tool's behalf: mostly the loopback TCP path) shown beside it.
"""

import glob
import json
import os
import sys

STREAM_S = 0.050 + 64 * 0.010  # first token at 50 ms, then 64 tokens 10 ms apart

# What each tool's TTFT and ITL are (docs/metrics.md has the sources).
DEFINITIONS = {
    "floor": "no TTFT or ITL: the socket work of the same streams alone; req/s counts streams "
    "that ended within the duration",
    "relaybench": "TTFT from the request's intended start to the first content token; "
    "ITL p99 over every gap between tokens (one value per gap)",
    "aiperf": "TTFT from the request's send to the first non-empty chunk; "
    "ITL one average per request, (latency - TTFT) / (tokens - 1), its p99 across requests",
    "guidellm": "TTFT from the worker's request start to the first content chunk; "
    "ITL one average per request, (last token - first token) / (tokens - 1), its p99 across requests",
}


def relaybench(out):
    run = json.load(open(os.path.join(out, "results.json")))["runs"][0]
    hist = lambda name, q: run["histograms"].get(name, {}).get("summary", {}).get(q)
    ok = run["outcomes"].get("ok", 0)
    return {
        "rps": ok / run["measured_seconds"] if run["measured_seconds"] else None,
        "ttft_p50": hist("ttft", "p50"),
        "ttft_p99": hist("ttft", "p99"),
        "itl_p99": hist("itl", "p99"),
        "completed": ok,
        "errors": sum(v for k, v in run["outcomes"].items() if k != "ok"),
    }


def aiperf(out):
    found = glob.glob(os.path.join(out, "**", "profile_export_aiperf.json"), recursive=True)
    if not found:
        raise FileNotFoundError("no profile_export_aiperf.json")
    m = json.load(open(found[0]))
    # Metrics are at top level (older) or under "records" (newer); each has avg/p50/p99.
    recs = m.get("records", m)
    get = lambda name, q: (recs.get(name) or {}).get(q)
    return {
        "rps": get("request_throughput", "avg"),
        "ttft_p50": get("time_to_first_token", "p50"),
        "ttft_p99": get("time_to_first_token", "p99"),
        "itl_p99": get("inter_token_latency", "p99"),
        "completed": get("request_count", "avg"),
        "errors": (get("error_request_count", "avg") or 0),
    }


def guidellm(out):
    b = json.load(open(os.path.join(out, "benchmarks.json")))["benchmarks"][0]
    metrics = b["metrics"]
    ok = lambda name: metrics[name]["successful"]
    pct = lambda name, q: ok(name).get("percentiles", {}).get(q)
    totals = metrics.get("request_totals") or b.get("request_totals") or {}
    return {
        "rps": ok("requests_per_second")["mean"],
        "ttft_p50": ok("time_to_first_token_ms")["median"],
        "ttft_p99": pct("time_to_first_token_ms", "p99"),
        "itl_p99": pct("inter_token_latency_ms", "p99"),
        "completed": totals.get("successful"),
        "errors": (totals.get("errored") or 0) + (totals.get("incomplete") or 0),
    }


def floor(out):
    """The floor's client prints one JSON line: streams completed (in all and within the
    duration) and users that ended on an error."""
    r = json.loads(open(os.path.join(out, "stdout.txt")).read())
    return {
        "rps": r["completed_in_time"] / r["measured_seconds"],
        "completed": r["completed"],
        "errors": r["failed"],
    }


def client_cpu(out):
    """(user, system) seconds from /usr/bin/time's last line (the line before says a non-zero exit)."""
    try:
        u, s = open(os.path.join(out, "time.txt")).read().split("\n")[-2].split()
        return float(u), float(s)
    except (OSError, ValueError, IndexError):
        return None


def per_request(cpu, count):
    """(user + system, system) seconds as ms per request."""
    return sum(cpu) * 1000 / count, cpu[1] * 1000 / count


def make_row(tool, n, out, mock_cpu, wall, cap):
    row = {"tool": tool, "n": n, "ideal": n / STREAM_S, "wall_s": wall}
    try:
        row["load"] = float(open(os.path.join(out, "load.txt")).read())
    except (OSError, ValueError):
        pass
    rc = open(os.path.join(out, "rc.txt")).read().strip()
    if rc == "124":
        row["note"] = f"stopped at RUN_CAP ({cap:.0f} s)"
    elif rc != "0":
        row["note"] = f"exit {rc}"
    try:
        readers = {"floor": floor, "relaybench": relaybench, "aiperf": aiperf, "guidellm": guidellm}
        row.update(readers[tool](out))
    except (OSError, KeyError, IndexError, TypeError, ValueError, json.JSONDecodeError) as e:
        row["note"] = (row.get("note", "") + f"; no figures: {e!r}").lstrip("; ")
    cpu = client_cpu(out)
    if cpu is not None and row.get("completed"):
        row["cpu_ms"], row["cpu_sys_ms"] = per_request(cpu, row["completed"])
    row["client_cpu_s"] = cpu and sum(cpu)
    if tool == "floor":
        # Its own server, which served what its client completed.
        if row.get("completed"):
            row["mock_cpu_ms"], row["mock_cpu_sys_ms"] = per_request(mock_cpu, row["completed"])
        return row
    try:
        stats = json.load(open(os.path.join(out, "mock-stats.json")))
        served = sum(v for k, v in stats["requests_by_route"].items() if not k.startswith("/_mock"))
        late = stats["lateness"]
        row["mock_first_p99"] = late["first"]["p99_ms"]
        row["mock_later_p99"] = late["later"]["p99_ms"]
        row["mock_served"] = served
        row["mock_cpu_s"] = sum(mock_cpu)
        if served:
            row["mock_cpu_ms"], row["mock_cpu_sys_ms"] = per_request(mock_cpu, served)
    except (OSError, KeyError, json.JSONDecodeError) as e:
        row["note"] = (row.get("note", "") + f"; no mock stats: {e!r}").lstrip("; ")
    return row


def f(v, digits=1):
    return "–" if v is None else f"{v:,.{digits}f}"


def cpu(row, key):
    """'total (kernel)' ms per request."""
    return f"{f(row.get(key + '_ms'), 2)} ({f(row.get(key + '_sys_ms'), 2)})"


def line(row):
    return (
        f"{row['tool']:<10} {row['n']:>5} streams: {f(row.get('rps'), 0)} req/s "
        f"(ideal {f(row['ideal'], 0)}), TTFT p50/p99 {f(row.get('ttft_p50'))}/{f(row.get('ttft_p99'))} ms, "
        f"ITL p99 {f(row.get('itl_p99'))} ms, client CPU {cpu(row, 'cpu')} ms/req, "
        f"mock late p99 {f(row.get('mock_first_p99'))}/{f(row.get('mock_later_p99'))} ms, "
        f"server CPU {cpu(row, 'mock_cpu')} ms/req {row.get('note', '')}"
    )


def table(rows, duration, workers):
    if not rows:
        print("No tool ran (see the SKIP lines above).")
        return
    print(
        f"Streamed chat, 64 tokens, first token at 50 ms then 10 ms apart (truth: TTFT 50, ITL 10);\n"
        f"closed model, {duration} s per run, one tool at a time against `relaybench mock --workers {workers}`.\n"
        "mock late p99: how far behind its own schedule the mock sent first tokens / later tokens\n"
        "(each token is due one gap after the previous one was due, so a stream's drift shows in\n"
        "it); load: the machine's 1-minute load average as the run ended. CPU per request is\n"
        "user + kernel, the kernel's part in brackets; server: the mock, or for the floor its own\n"
        "one-thread server. floor: the same streams' socket work alone, no HTTP library, SSE,\n"
        "JSON or metrics (mock-upstream/examples/stream_floor.rs): what the machine's loopback\n"
        "path costs before any tool does anything.\n"
    )
    print(
        "| tool | streams | req/s (ideal) | TTFT p50 / p99 ms | ITL p99 ms | client CPU / req "
        "| ok / not ok | mock late p99 first / later ms | server CPU / req | load | note |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['tool']} | {r['n']:,} | {f(r.get('rps'), 0)} ({f(r['ideal'], 0)}) "
            f"| {f(r.get('ttft_p50'))} / {f(r.get('ttft_p99'))} | {f(r.get('itl_p99'))} "
            f"| {cpu(r, 'cpu')} ms | {f(r.get('completed'), 0)} / {f(r.get('errors'), 0)} "
            f"| {f(r.get('mock_first_p99'))} / {f(r.get('mock_later_p99'))} "
            f"| {cpu(r, 'mock_cpu')} ms | {f(r.get('load'))} | {r.get('note', '')} |"
        )
    print("\nDefinitions (they differ; docs/metrics.md cites each tool's code):")
    for tool in dict.fromkeys(r["tool"] for r in rows):
        print(f"- {tool}: {DEFINITIONS[tool]}")


def main():
    if sys.argv[1] == "--line":
        print(line(json.loads(sys.stdin.read())))
    elif sys.argv[1] == "--table":
        table([json.loads(l) for l in sys.stdin if l.strip()], sys.argv[2], sys.argv[3])
    else:
        tool, n, out, mock_cpu, wall, cap = sys.argv[1:7]
        mock_cpu = tuple(float(v) for v in mock_cpu.split())
        print(json.dumps(make_row(tool, int(n), out, mock_cpu, float(wall), float(cap))))


if __name__ == "__main__":
    main()
