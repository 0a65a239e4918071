"""SQLite under several writers: a bounded write-heavy mix against gunicorn (gunicorn.conf.py)
on a file SQLite database, measuring how long writes wait.

`writers` simulated devices (tests/chaos/devices.py, the real /api/sync contract) each send a
batch of `batch` rating changes, again and again, for `seconds`; `readers` threads open the
assessment page meanwhile. Prints p50/p95/max of the sync POSTs and of the page reads, and
the share of writes answered 503 (the busy timeout ran out).

    .venv/bin/python -m bench.sqlite_writers [--workers 2] [--writers 16] [--seconds 20]
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import statistics
import tempfile
import threading
import time
from pathlib import Path

from tests.chaos.devices import Device, Http, Ledger
from tests.chaos.harness import Gunicorn
from tests.chaos.world import seed


def _pct(values: list[float], share: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def measure(workers: int, writers: int, readers: int, seconds: float, batch: int) -> dict:
    root = Path(tempfile.mkdtemp(prefix="passerelle-sqlite-writers-"))
    url = f"sqlite:///{root / 'bench.sqlite'}"
    school = seed(root, url, assessments=4)
    server = Gunicorn(root, url, None, workers=workers)
    server.start()
    ledger = Ledger()
    devices = [
        Device(f"w{n}", school.teachers[n % 2], server.url, ledger, random.Random(n))
        for n in range(writers)
    ]
    reads: list[float] = []
    stop = time.monotonic() + seconds

    def write(device: Device, n: int) -> None:
        seat = school.seats[n % len(school.seats)]
        keys = seat.criteria[n * 8 : n * 8 + 8]
        while time.monotonic() < stop:
            for key in device.rng.sample(keys, min(batch, len(keys))):
                device.change(seat.assessment_id, key, device.rng.choice(["1", "2", "3", "4"]))
            device.flush()

    def read(n: int) -> None:
        client = Http(server.url)
        client.login(school.observer)
        seat = school.seats[n % len(school.seats)]
        while time.monotonic() < stop:
            began = time.monotonic()
            client.request("GET", f"/portfolios/{seat.portfolio_id}/bilan")
            reads.append(time.monotonic() - began)

    try:
        for device in devices:  # signed in before the clock starts
            device.http.login(device.email)
            device.signed_in = True
        stop = time.monotonic() + seconds
        threads = [threading.Thread(target=write, args=(d, n)) for n, d in enumerate(devices)]
        threads += [threading.Thread(target=read, args=(n,)) for n in range(readers)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)
    posts = [seconds for device in devices for _, seconds in device.latencies]
    statuses = [status for device in devices for status, _ in device.latencies]
    return {
        "workers": workers,
        "writers": writers,
        "readers": readers,
        "batch": batch,
        "seconds": seconds,
        "writes": len(posts),
        "writes_per_s": round(len(posts) / seconds, 1),
        "write_p50_ms": round(statistics.median(posts) * 1000) if posts else None,
        "write_p95_ms": round(_pct(posts, 0.95) * 1000),
        "write_max_ms": round(max(posts, default=0) * 1000),
        "write_503": sum(status == 503 for status in statuses),
        "reads": len(reads),
        "read_p50_ms": round(statistics.median(reads) * 1000) if reads else None,
        "read_p95_ms": round(_pct(reads, 0.95) * 1000),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--writers", type=int, default=16)
    parser.add_argument("--readers", type=int, default=2)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--batch", type=int, default=5)
    args = parser.parse_args()
    result = measure(args.workers, args.writers, args.readers, args.seconds, args.batch)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
