"""`make lighthouse`: Lighthouse 12.2.3 (mobile preset, Debian's Chromium) on the login page,
the period view of the 35-learner class and the MEE assessment page of a signed-in teacher,
served by gunicorn on 127.0.0.1 against the benchmark's SQLite school.

Installs lighthouse into bench/node_modules on first use (`npm install --prefix bench`, the
version pinned in bench/package.json), generates the school when instance/bench has none,
signs in through the login form and passes the session cookie with --extra-headers.
Writes bench/lighthouse.json and bench/lighthouse.md.

    python -m bench.lighthouse [--runs 1]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import tempfile
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.generate import SQLITE_PATH, generate, load_scenario, sqlite_url
from bench.server import gunicorn, sign_in

BENCH_DIR = Path(__file__).resolve().parent
LIGHTHOUSE = BENCH_DIR / "node_modules" / ".bin" / "lighthouse"
CHROME = os.environ.get("CHROME_PATH", "/usr/bin/chromium")
CATEGORIES = ("performance", "accessibility", "best-practices")
TARGETS = {"performance": 95, "accessibility": 100, "best-practices": 100}
METRICS = (
    "first-contentful-paint",
    "largest-contentful-paint",
    "total-blocking-time",
    "cumulative-layout-shift",
    "speed-index",
)
CHROME_FLAGS = (
    "--headless=new --no-sandbox --disable-gpu --disable-quic --no-first-run "
    "--disable-background-networking --disable-component-update --disable-sync"
)


def ensure_lighthouse() -> None:
    if LIGHTHOUSE.exists():
        return
    if shutil.which("npm") is None:
        raise SystemExit("npm is needed for Lighthouse (apt-get install -y npm).")
    subprocess.run(  # noqa: S603 — npm from the system, fixed arguments
        ["npm", "install", "--prefix", str(BENCH_DIR), "--no-audit", "--no-fund"],  # noqa: S607
        check=True,
    )


def run_lighthouse(url: str, headers: dict[str, str] | None) -> dict[str, Any]:
    """One Lighthouse run (mobile: Moto G Power emulation, simulated slow 4G, 4× CPU slowdown)."""
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "report.json"
        command = [
            str(LIGHTHOUSE),
            url,
            "--quiet",
            "--output=json",
            f"--output-path={report}",
            f"--only-categories={','.join(CATEGORIES)}",
            f"--chrome-flags={CHROME_FLAGS}",
            "--max-wait-for-load=30000",
        ]
        if headers:
            header_file = Path(tmp) / "headers.json"
            header_file.write_text(json.dumps(headers))
            command.append(f"--extra-headers={header_file}")
        env = dict(os.environ, CHROME_PATH=CHROME)
        completed = subprocess.run(  # noqa: S603 — our pinned lighthouse, fixed arguments
            command, env=env, capture_output=True, text=True, timeout=240, check=False
        )
        if not report.exists():
            raise RuntimeError(f"lighthouse failed on {url}:\n{completed.stderr[-2000:]}")
        lhr = json.loads(report.read_text())
    if lhr.get("runtimeError"):
        raise RuntimeError(f"lighthouse: {lhr['runtimeError']}")
    if lhr.get("finalDisplayedUrl", url).split("?")[0].endswith("/connexion") and headers:
        raise RuntimeError(f"{url} redirected to the login page: the cookie was not accepted")
    scores = {c: round((lhr["categories"][c]["score"] or 0) * 100) for c in CATEGORIES}
    audits = lhr["audits"]
    failing: dict[str, list[str]] = {}
    for category in CATEGORIES[1:]:
        for ref in lhr["categories"][category]["auditRefs"]:
            audit = audits[ref["id"]]
            if ref["weight"] and audit.get("score") is not None and audit["score"] < 1:
                failing.setdefault(category, []).append(f"{ref['id']}: {audit['title']}")
    opportunities = [
        f"{a['id']}: {a['displayValue']}"
        for a in audits.values()
        if a.get("details", {}).get("type") == "opportunity"
        and a.get("score") is not None
        and a["score"] < 0.9
        and a.get("displayValue")
    ]
    return {
        "scores": scores,
        "metrics": {m: audits[m].get("displayValue", "") for m in METRICS if m in audits},
        "failing": failing,
        "opportunities": opportunities,
    }


def markdown(result: dict[str, Any]) -> str:
    lines = [
        f"Lighthouse {result['lighthouse']} (mobile preset: emulated Moto G Power, simulated "
        f"slow 4G and 4× CPU slowdown), {result['chrome']}, {result['date']}; gunicorn on "
        f"127.0.0.1, SQLite school of the benchmark; median of {result['runs']} run(s). Each "
        "page is scored as gunicorn alone sends it (no compression) and behind a gzip layer "
        "(bench/gzip_wsgi.py), as the HTTPS reverse proxy of a deployment serves it.",
        "",
        "| page | served by | performance (≥ 95) | accessibility (100) | best practices (100) "
        "| FCP | LCP | TBT | CLS |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for page in result["pages"]:
        s, m = page["scores"], page["metrics"]
        cells = [
            f"{s[c]} {'✅' if s[c] >= TARGETS[c] else '❌'}" for c in CATEGORIES
        ]  # fmt: skip
        served = "gzip proxy → gunicorn" if page.get("compressed") else "gunicorn alone"
        lines.append(
            f"| {page['label']} `{page['path']}` | {served} | "
            + " | ".join(cells)
            + f" | {m.get('first-contentful-paint', '')} | {m.get('largest-contentful-paint', '')}"
            f" | {m.get('total-blocking-time', '')} | {m.get('cumulative-layout-shift', '')} |"
        )
    notes = []
    for page in result["pages"]:
        name = f"{page['label']}{' (gzip)' if page.get('compressed') else ''}"
        for category, audits in page["failing"].items():
            notes.append(f"- {name}, {category}: " + "; ".join(audits))
        if page["opportunities"]:
            notes.append(f"- {name}, opportunities: " + "; ".join(page["opportunities"]))
    if notes:
        lines += ["", "Audits below their full score:", "", *notes]
    return "\n".join(lines) + "\n"


def main(argv: Iterable[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Lighthouse scores of three Passerelle pages")
    parser.add_argument("--runs", type=int, default=1, help="runs per page (median kept)")
    parser.add_argument("--output", default=str(BENCH_DIR))
    args = parser.parse_args(list(argv) if argv is not None else None)
    if not Path(CHROME).exists():
        raise SystemExit(f"Chromium not found at {CHROME} (apt-get install -y chromium).")
    ensure_lighthouse()
    scenario = load_scenario("sqlite")
    if scenario is None or not SQLITE_PATH.exists():
        print("• generating the benchmark school (SQLite) …", flush=True)
        scenario = generate(sqlite_url())
    version = subprocess.run(  # noqa: S603
        [str(LIGHTHOUSE), "--version"], capture_output=True, text=True, check=True
    ).stdout.strip()
    chrome = subprocess.run(  # noqa: S603
        [CHROME, "--version"], capture_output=True, text=True, check=False
    ).stdout.strip()
    pages = [
        ("Login page", "/connexion", False),
        (f"Period view ({scenario.period_learners} learners)",
         f"/periodes/{scenario.period_id}", True),
        ("Assessment page (MEE)", f"/portfolios/{scenario.portfolio_id}/bilan", True),
    ]  # fmt: skip
    results = []
    for compressed in (False, True):
        wsgi = "bench.gzip_wsgi:app" if compressed else None
        with gunicorn(scenario.url, workers=2, threads=16, wsgi=wsgi) as server:
            base = server.base
            session = sign_in(base, scenario.teacher_email, scenario.password,
                              f"/periodes/{scenario.period_id}")  # fmt: skip
            for label, path, signed_in in pages:
                print(f"• lighthouse {path}{' (gzip)' if compressed else ''} …", flush=True)
                headers = {"Cookie": session.cookie} if signed_in else None
                runs = [run_lighthouse(base + path, headers) for _ in range(args.runs)]
                best = sorted(runs, key=lambda r: r["scores"]["performance"])[len(runs) // 2]
                best["scores"]["performance"] = round(
                    statistics.median(r["scores"]["performance"] for r in runs)
                )
                results.append({"label": label, "path": path, "compressed": compressed, **best})
    result = {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "lighthouse": version,
        "chrome": chrome,
        "runs": args.runs,
        "pages": results,
        "targets": TARGETS,
    }
    out = Path(args.output)
    out.mkdir(parents=True, exist_ok=True)
    (out / "lighthouse.json").write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n")
    (out / "lighthouse.md").write_text(markdown(result))
    print(markdown(result))


if __name__ == "__main__":
    main()
