"""`make chaos`: the full storm against gunicorn (2 workers), PostgreSQL and Redis, all started
here on free ports, with every fault; prints one summary line and exits 1 on any problem.

    .venv/bin/python -m tests.chaos.run [--changes 2200] [--devices 20] [--seconds 90]
                                        [--sqlite] [--no-browser] [--keep]
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

from tests.chaos.storm import Plan, Storm


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--changes", type=int, default=2200)
    parser.add_argument("--devices", type=int, default=20)
    parser.add_argument("--assessments", type=int, default=10)
    parser.add_argument("--seconds", type=float, default=90)
    parser.add_argument("--redis-outage", type=float, default=20)
    parser.add_argument("--sqlite", action="store_true", help="SQLite instead of PostgreSQL")
    parser.add_argument("--no-browser", action="store_true")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    args = parser.parse_args(argv)
    plan = Plan(
        devices=args.devices,
        assessments=args.assessments,
        changes=args.changes,
        seconds=args.seconds,
        redis_outage=args.redis_outage,
        browser=not args.no_browser,
        database="sqlite" if args.sqlite else "postgresql",
        restart_postgres=not args.sqlite,
    )
    root = Path(tempfile.mkdtemp(prefix="passerelle-chaos-"))
    storm = Storm(root, plan)
    began = time.monotonic()
    try:
        print(f"chaos: starting PostgreSQL, Redis and gunicorn in {root}", flush=True)
        storm.start()
        print(f"chaos: world ready in {time.monotonic() - began:.1f} s; storm…", flush=True)
        report = storm.run()
    finally:
        storm.stop()
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)
    details = {
        k: v
        for k, v in report.figures.items()
        if k in ("statuses", "dropped_statuses", "phases", "unavailable", "refresh_reasons")
    }
    print(f"chaos: details {json.dumps(details)}")
    for problem in report.problems:
        print(f"chaos: PROBLEM {problem}")
    print(report.line())
    return 1 if report.problems else 0


if __name__ == "__main__":
    sys.exit(main())
