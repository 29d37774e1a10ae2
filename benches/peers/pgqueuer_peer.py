"""The PostgreSQL peer of `runs_throughput`: PgQueuer (PyPI), a Python job queue on PostgreSQL
(`FOR UPDATE SKIP LOCKED` dequeues, LISTEN/NOTIFY wake-ups), measured the way the benchmark measures
modelrunner's shared engine.

    python pgqueuer_peer.py DSN PROCESSES TOTAL

On a fresh database at DSN: installs PgQueuer's schema, starts PROCESSES worker processes (each one
QueueManager, its default batch size), enqueues TOTAL no-op jobs from 8 concurrent submitters (one
connection each, one job per enqueue, every commit durable), waits until every job is done, then
enqueues 200 jobs one at a time, each once the one before it is done (submit->start on idle workers).
Prints one JSON line: runs_per_s, p50_us, p99_us (under the burst), idle_p50_us, idle_p99_us.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time

import asyncpg
from pgqueuer import AsyncpgDriver, Job, QueueManager, Queries

SUBMITTERS = 8
IDLE_JOBS = 200


def percentile(values: list[int], p: float) -> float:
    if not values:
        return float("nan")
    values = sorted(values)
    return values[min(len(values) - 1, int(p * len(values)))] / 1000.0


async def worker(dsn: str) -> None:
    """Executes jobs until stdin closes, then prints `phase latency_ns` per job."""
    conn = await asyncpg.connect(dsn)
    qm = QueueManager(Queries(AsyncpgDriver(conn)))
    seen: list[tuple[str, int]] = []

    @qm.entrypoint("noop")
    async def noop(job: Job) -> None:
        now = time.time_ns()
        phase, t0 = (job.payload or b"burst 0").decode().split()
        seen.append((phase, now - int(t0)))

    loop = asyncio.get_running_loop()
    stdin_closed = loop.run_in_executor(None, sys.stdin.read)
    run = asyncio.create_task(qm.run())
    print("READY", flush=True)
    await stdin_closed
    qm.shutdown.set()
    await run
    for phase, ns in seen:
        print(phase, ns)
    await conn.close()


async def left(conn: asyncpg.Connection) -> int:
    return await conn.fetchval("SELECT count(*) FROM pgqueuer")


async def main(dsn: str, processes: int, total: int) -> None:
    admin = await asyncpg.connect(dsn)
    await Queries(AsyncpgDriver(admin)).install()
    workers = [
        subprocess.Popen([sys.executable, __file__, "worker", dsn], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        for _ in range(processes)
    ]
    for w in workers:
        assert w.stdout is not None and w.stdout.readline().strip() == "READY", "a PgQueuer worker did not start"

    per = total // SUBMITTERS

    async def submit(n: int) -> None:
        conn = await asyncpg.connect(dsn)
        queries = Queries(AsyncpgDriver(conn))
        for _ in range(n):
            await queries.enqueue("noop", f"burst {time.time_ns()}".encode())
        await conn.close()

    start = time.perf_counter()
    await asyncio.gather(*(submit(per) for _ in range(SUBMITTERS)))
    while await left(admin) > 0:
        await asyncio.sleep(0.005)
    elapsed = time.perf_counter() - start

    queries = Queries(AsyncpgDriver(admin))
    for _ in range(IDLE_JOBS):
        await queries.enqueue("noop", f"idle {time.time_ns()}".encode())
        while await left(admin) > 0:
            await asyncio.sleep(0.0005)

    burst: list[int] = []
    idle: list[int] = []
    for w in workers:
        out, _ = w.communicate("")
        for line in out.splitlines():
            phase, _, ns = line.partition(" ")
            if ns.isdigit():
                (idle if phase == "idle" else burst).append(int(ns))
    await admin.close()
    print(
        json.dumps(
            {
                "runs_per_s": per * SUBMITTERS / elapsed,
                "p50_us": percentile(burst, 0.5),
                "p99_us": percentile(burst, 0.99),
                "idle_p50_us": percentile(idle, 0.5),
                "idle_p99_us": percentile(idle, 0.99),
            }
        )
    )


if __name__ == "__main__":
    if sys.argv[1] == "worker":
        asyncio.run(worker(sys.argv[2]))
    else:
        asyncio.run(main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3])))
