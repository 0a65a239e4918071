"""Scan the running app with wapiti3, on 127.0.0.1 only, and fail on any finding above
informational (`make security`).

1. A throwaway instance (temporary folder): SQLite database with the demo data, a random
   secret key, a self-signed certificate for 127.0.0.1.
2. The app under gunicorn, over HTTPS with production cookie settings (Secure session
   cookie), on a free port of 127.0.0.1.
3. wapiti3 signs in with the demo teacher's login form, crawls and attacks with the modules
   below, bounded in time; destructive and never-ending URLs (sign-out, deletions, event
   streams) are excluded so the scan keeps its session and its data.
4. The JSON report is summarised; the exit status is 1 when wapiti found any vulnerability
   (level low or above) or an anomaly (a server error).

Run from the repository root:
`.venv/bin/python security/scan.py --wapiti .venv-security/bin/wapiti`.
`--requirements` prints the pinned scanners of pyproject.toml's `security` group (for the
Makefile, which installs them in their own virtualenv).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
import tomllib
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
HOST = "127.0.0.1"  # the only address this script ever scans
MODULES = "xss,permanentxss,csrf,http_headers,cookieflags,exec,file,sql"
DEMO_EMAIL = "prof@demo.passerelle.fr"
DEMO_PASSWORD = "passerelle-demo"  # noqa: S105 - the documented demo password
# URLs wapiti must not follow: signing out would end the scan's session; deletions would
# remove the data it is testing; event streams never end.
# The framework grid links every folded competency's criteria (/fiches/<id>/referentiel/
# criteres/<task>/<competency>): thousands of integer-only fragment URLs in the demo, which
# made the crawl 7,500 pages and the scan 9 minutes; the security tests cover that route.
EXCLUDED = (
    "/deconnexion",
    "/events/*",
    "*/supprimer*",
    "*/effacer*",
    "*/desactiver*",
    "*/referentiel/criteres/*",
)
LEVELS = {0: "info", 1: "low", 2: "medium", 3: "high", 4: "critical"}


def requirements() -> list[str]:
    with (ROOT / "pyproject.toml").open("rb") as handle:
        project = tomllib.load(handle)["project"]
    return list(project["optional-dependencies"]["security"])


def run(command: list[str], env: dict[str, str], **kwargs: Any) -> None:
    subprocess.run(command, env=env, cwd=ROOT, check=True, **kwargs)  # noqa: S603


def prepare_instance(tmp: Path, python: str, overrides: dict[str, str]) -> dict[str, str]:
    """Environment of a throwaway instance with the demo data loaded."""
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    env.update(
        PASSERELLE_INSTANCE=str(tmp / "instance"),
        SECRET_KEY=secrets.token_urlsafe(32),
        SESSION_COOKIE_SECURE="1",
        FLASK_APP="app:create_app",
    )
    env.update(overrides)
    # create_all rather than `flask db upgrade`: the scan is about the app, the migrations
    # have their own test (tests/test_migrations.py).
    run(
        [
            python,
            "-c",
            "from app import create_app; from app.extensions import db\n"
            "app = create_app()\nwith app.app_context(): db.create_all()",
        ],
        env,
    )
    run([python, "-m", "flask", "demo", "load"], env, stdout=subprocess.DEVNULL)
    return env


def self_signed_certificate(tmp: Path) -> tuple[Path, Path]:
    cert, key = tmp / "cert.pem", tmp / "key.pem"
    run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            f"/CN={HOST}",
            "-addext",
            f"subjectAltName=IP:{HOST}",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        dict(os.environ),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    return cert, key


def start_server(
    env: dict[str, str], tmp: Path, python: str
) -> tuple[subprocess.Popen[bytes], str]:
    cert, key = self_signed_certificate(tmp)
    log = tmp / "gunicorn.log"
    process = subprocess.Popen(  # noqa: S603
        [
            python,
            "-m",
            "gunicorn",
            "--worker-class",
            "gthread",
            "--workers",
            "2",
            "--threads",
            "8",
            "--timeout",
            "60",
            "--graceful-timeout",
            "2",
            "--bind",
            f"{HOST}:0",
            "--certfile",
            str(cert),
            "--keyfile",
            str(key),
            "app:create_app()",
        ],
        env=env,
        cwd=ROOT,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 60
    import ssl

    context = ssl.create_default_context(cafile=str(cert))
    while time.monotonic() < deadline and process.poll() is None:
        match = re.search(rf"Listening at: (https://{re.escape(HOST)}:\d+)", log.read_text())
        if match:
            try:
                with urllib.request.urlopen(  # noqa: S310 - our own server on 127.0.0.1
                    match[1] + "/healthz", timeout=5, context=context
                ) as response:
                    if response.status == 200:
                        return process, match[1]
            except OSError:
                pass
        time.sleep(0.2)
    process.kill()
    raise SystemExit(f"the app did not start:\n{log.read_text()[-3000:]}")


def scan(wapiti: str, origin: str, tmp: Path, max_scan_time: int) -> dict[str, Any]:
    assert re.fullmatch(rf"https://{re.escape(HOST)}:\d+", origin), origin
    report = tmp / "wapiti.json"
    command = [
        wapiti,
        "-u",
        origin + "/",
        "--scope",
        "folder",
        "-m",
        MODULES,
        "--form-url",
        origin + "/connexion",
        "--form-user",
        DEMO_EMAIL,
        "--form-password",
        DEMO_PASSWORD,
        "--flush-session",
        "--store-session",
        str(tmp / "wapiti-session"),
        "--store-config",
        str(tmp / "wapiti-config"),
        # wapiti bounds the crawl by --max-scan-time and then each attack module by
        # --max-attack-time: half of the budget for each keeps the whole scan near it.
        "--max-scan-time",
        str(max_scan_time // 2),
        "--max-attack-time",
        str(max(5, max_scan_time // (2 * len(MODULES.split(","))))),
        "--tasks",
        "4",
        "-t",
        "20",
        "--verify-ssl",
        "0",
        "--no-bugreport",
        "-f",
        "json",
        "-o",
        str(report),
        "-v",
        "1",
    ]
    for pattern in EXCLUDED:
        command += ["-x", origin + pattern]
    env = {k: v for k, v in os.environ.items() if not k.lower().endswith("_proxy")}
    env["HOME"] = str(tmp)  # wapiti keeps its state under ~/.wapiti
    log = tmp / "wapiti.log"
    with log.open("wb") as out:
        code = subprocess.run(command, env=env, stdout=out, stderr=subprocess.STDOUT).returncode  # noqa: S603
    if code != 0 or not report.exists():
        raise SystemExit(f"wapiti failed (exit {code}):\n{log.read_text()[-4000:]}")
    result: dict[str, Any] = json.loads(report.read_text())
    result["_log"] = log.read_text()
    return result


def findings(report: dict[str, Any]) -> tuple[list[str], list[str]]:
    """(blocking findings, informational ones) as printable lines."""
    blocking, info = [], []
    for section in ("vulnerabilities", "anomalies", "additionals"):
        for category, items in (report.get(section) or {}).items():
            for item in items:
                level = int(item.get("level", 0))
                line = (
                    f"[{LEVELS.get(level, level)}] {section}/{category}: {item.get('method', '')} "
                    f"{item.get('path', '')} {item.get('parameter') or ''} — "
                    f"{(item.get('info') or '').strip()[:200]}"
                )
                blocking_item = section in ("vulnerabilities", "anomalies") and level >= 1
                (blocking if blocking_item else info).append(line)
    return blocking, info


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--wapiti", default=str(ROOT / ".venv-security/bin/wapiti"))
    parser.add_argument("--python", default=str(ROOT / ".venv/bin/python"))
    parser.add_argument("--max-scan-time", type=int, default=300)
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    parser.add_argument(
        "--env",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="environment of the scanned app (e.g. SESSION_COOKIE_SECURE=0 must fail the scan)",
    )
    parser.add_argument("--requirements", action="store_true")
    args = parser.parse_args()
    if args.requirements:
        print(" ".join(requirements()))
        return 0

    started = time.monotonic()
    tmp = Path(tempfile.mkdtemp(prefix="passerelle-scan-"))
    process = None
    try:
        overrides = dict(item.split("=", 1) for item in args.env)
        env = prepare_instance(tmp, args.python, overrides)
        process, origin = start_server(env, tmp, args.python)
        print(f"wapiti: scanning {origin} as {DEMO_EMAIL} (modules {MODULES})", flush=True)
        report = scan(args.wapiti, origin, tmp, args.max_scan_time)
    finally:
        if process is not None:
            process.terminate()
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            print(f"kept {tmp}")

    log = report.pop("_log")
    # wapiti's own "logged in" guess looks for an English "log out" text; check instead that
    # it reached pages only a signed-in teacher sees.
    if not re.search(r"/(niveaux|periodes)/\d+", log):
        print("wapiti did not reach the teacher's pages (sign-in failed?):\n" + log[-2000:])
        return 1
    crawled = report.get("infos", {}).get("crawled_pages_nbr", "?")
    blocking, info = findings(report)
    print(f"wapiti: {crawled} pages crawled in {time.monotonic() - started:.0f} s")
    for line in info:
        print("  " + line)
    for line in blocking:
        print("  " + line)
    if blocking:
        print(f"wapiti: {len(blocking)} finding(s) above informational — FAILED")
        return 1
    print(f"wapiti: no finding above informational ({len(info)} informational)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
