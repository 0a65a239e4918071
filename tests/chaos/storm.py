"""The storm: simulated devices (and optionally a real browser scoring offline) change many
assessment items while the faults strike, then the ledger is checked against the database.

Items are of three sorts, so that each check is exact:
- "owned" items are changed by one device only (many different items, no conflict possible):
  their final value is the device's last change, their version the number of value changes,
  every history row one acknowledged change;
- "collision" items get one change from each of two devices (a teacher and a tutor) from the
  same base version: the item must end flagged as a conflict, its value the one made later on
  its device (SPEC F7);
- each assessment's comment gets one last change at the end, which every live listener must
  show (through a fragment or a page it fetched after it was made)."""

from __future__ import annotations

import random
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, text

from tests.chaos.devices import Device, Ledger, Listener, Sent
from tests.chaos.harness import DropProxy, Gunicorn, Postgres, Redis
from tests.chaos.world import School, seed


@dataclass
class Plan:
    devices: int = 20
    assessments: int = 10
    changes: int = 2200  # changes made by the devices (some replaced before sending)
    seconds: float = 90  # the storm is paced over about this long
    collisions: int = 30
    via_proxy: int = 4  # devices whose network loses every `drop_every`-th answer
    drop_every: int = 3
    kill_worker: bool = True
    restart_postgres: bool = True
    redis_outage: float = 20.0
    browser: bool = True
    database: str = "postgresql"  # or "sqlite"


@dataclass
class Report:
    plan: Plan
    figures: dict[str, Any] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    def line(self) -> str:
        f = self.figures
        faults = ", ".join(f.get("faults", [])) or "none"
        browser = f.get("browser")
        return (
            f"chaos: {f['made']} changes from {self.plan.devices} devices on "
            f"{self.plan.assessments} assessments in {f['seconds']:.0f} s ({f['posts']} posts, "
            f"{f['replays']} identical replays, {f['reuse_refused']}/{f['reuses']} reused ids "
            f"refused, {f['dropped']} answers dropped after commit) | faults: {faults} | "
            f"acknowledged {f['acknowledged']}, lost {f['lost']}, applied twice "
            f"{f['applied_twice']}, unacknowledged {f['unacknowledged']}, collisions flagged "
            f"{f['collisions_flagged']}/{f['collisions']}, version errors {f['version_errors']}"
            f", replay mismatches {f['replay_mismatches']}, HTTP 500 {f['http_500']} (503 while "
            f"the database was away: {f['http_503']}) | "
            f"listeners caught up {f['caught_up']}/{f['listeners']} ({f['reconnects']} "
            f"reconnects, {f['resyncs']} resyncs, {f['stuck']} stuck)"
            + (f" | browser offline {browser}" if browser else "")
        )


SCALE = ["NE", "0", "1", "2", "3", "4"]


class Storm:
    def __init__(self, root: Path, plan: Plan) -> None:
        self.root = root
        self.plan = plan
        self.rng = random.Random(15)
        self.ledger = Ledger()
        self.report = Report(plan)
        self.faults: list[str] = []
        self.faults_done = threading.Event()
        self.postgres: Postgres | None = None
        self.redis = Redis(root)
        self.gunicorn: Gunicorn | None = None
        self.proxy: DropProxy | None = None
        self.listeners: list[Listener] = []
        self.devices: list[Device] = []
        self.school: School | None = None

    # --- the world ---------------------------------------------------------------------

    def _phase(self, name: str) -> None:
        now = time.monotonic()
        phases = self.report.figures.setdefault("phases", {})
        phases[name] = round(now - getattr(self, "_phase_at", now), 1)
        self._phase_at = now

    def start(self) -> None:
        self._phase_at = time.monotonic()
        if self.plan.database == "postgresql":
            self.postgres = Postgres(self.root / "pg")
            self.postgres.init()
            url = self.postgres.url
        else:
            url = f"sqlite:///{self.root / 'chaos.sqlite'}"
        self._phase("database")
        self.school = seed(self.root, url, self.plan.assessments)
        self._phase("seed")
        self.redis.start()
        self.gunicorn = Gunicorn(self.root, url, self.redis.url, workers=2)
        self.gunicorn.start()
        self.proxy = DropProxy(self.gunicorn.port, self.plan.drop_every)
        self._phase("gunicorn")

    def stop(self) -> None:
        for listener in self.listeners:
            listener.stop.set()
        if self.proxy is not None:
            self.proxy.close()
        if self.gunicorn is not None:
            self.gunicorn.stop()
        self.redis.kill()
        if self.postgres is not None:
            self.postgres.stop()

    # --- the devices -------------------------------------------------------------------

    def _make_devices(self) -> None:
        assert self.school is not None and self.gunicorn is not None and self.proxy is not None
        school, plan = self.school, self.plan
        tutors = sorted({seat.tutor_email for seat in school.seats})
        emails = [school.teachers[n % 2] for n in range(plan.devices - len(tutors))] + tutors
        for n, email in enumerate(emails):
            base = self.proxy.url if n < plan.via_proxy else self.gunicorn.url
            self.devices.append(Device(f"d{n:02}", email, base, self.ledger, random.Random(n)))
        # Owned items: each device gets its own criteria on the assessments it may rate.
        self.owned: dict[str, list[tuple[int, str]]] = {d.name: [] for d in self.devices}
        criteria = school.seats[0].criteria
        reserved = set(criteria[: plan.collisions // plan.assessments + 1])
        pool = [key for key in criteria if key not in reserved]
        cursor: dict[int, int] = {}
        for device in self.devices:
            for seat in school.seats:
                if device.email in school.teachers or device.email == seat.tutor_email:
                    for _ in range(4):
                        index = cursor.get(seat.assessment_id, 0)
                        cursor[seat.assessment_id] = index + 1
                        self.owned[device.name].append((seat.assessment_id, pool[index]))
        # Collisions: a teacher's device and the tutor's, the same untouched item, base 0.
        self.collisions: list[tuple[Device, Device, int, str]] = []
        teachers = [d for d in self.devices if d.email in school.teachers]
        for n in range(plan.collisions):
            seat = school.seats[n % len(school.seats)]
            key = sorted(reserved)[n // len(school.seats)]
            tutor = next(d for d in self.devices if d.email == seat.tutor_email)
            self.collisions.append((teachers[n % len(teachers)], tutor, seat.assessment_id, key))
        self.collision_sent: list[tuple[Sent, Sent]] = []

    def _device_loop(self, device: Device, quota: int, deadline: float, start_at: float) -> None:
        rng = device.rng
        items = self.owned[device.name]
        made = 0
        ticks = max(1, quota // 4)
        pace = self.plan.seconds / ticks
        my_collisions = [c for c in self.collisions if device in (c[0], c[1])]
        while time.monotonic() < deadline:
            if made < quota:
                for _ in range(min(rng.randint(1, 7), quota - made)):
                    assessment_id, key = rng.choice(items)
                    device.change(assessment_id, key, rng.choice(SCALE))
                    made += 1
                due = time.monotonic() - start_at > 0.25 * self.plan.seconds
                while due and my_collisions:  # all at once, as a device back in range
                    self._collide(device, my_collisions.pop())
            status = device.flush()
            roll = rng.random()
            if roll < 0.08:
                device.replay(rng.randint(3, 12))
            elif roll < 0.11:
                device.reuse(SCALE)
            done = made >= quota and not my_collisions and self.faults_done.is_set()
            if done and not device.outbox:
                return
            wait = pace if status in ("ok", "empty") else rng.uniform(0.5, 1.5)
            time.sleep(wait * rng.uniform(0.5, 1.5))

    def _collide(self, device: Device, collision: tuple[Device, Device, int, str]) -> None:
        teacher, _tutor, assessment_id, key = collision
        # Both made offline, minutes apart on their devices; values differ.
        index = self.collisions.index(collision)
        minutes = 10 if device is teacher else 20 - (index % 2) * 15  # either may be later
        moment = datetime.now(UTC) - timedelta(minutes=minutes)
        value = "1" if device is teacher else "3"
        sent = device.change(assessment_id, key, value, "collision", moment, base_version=0)
        with self.ledger.lock:
            self.collision_sent.append((sent, sent))  # paired up in the checks

    # --- faults ------------------------------------------------------------------------

    def _acked_share(self) -> float:
        return len(self.ledger.receipts) / max(1, self.plan.changes)

    def _faults(self) -> None:
        assert self.gunicorn is not None
        try:
            if self.plan.kill_worker:
                self._wait_share(0.15)
                killed = self.gunicorn.kill_worker_mid_batch()
                if killed is not None:
                    self.faults.append(f"kill -9 worker mid-batch ({killed[1] * 1000:.0f} ms in)")
                else:
                    self.report.problems.append("no batch in flight to kill a worker in")
            if self.plan.restart_postgres and self.postgres is not None:
                self._wait_share(0.35)
                started = time.monotonic()
                self.postgres.restart()
                self.faults.append(f"PostgreSQL restart ({time.monotonic() - started:.1f} s)")
            if self.plan.redis_outage:
                self._wait_share(0.5)
                self.redis.kill()
                time.sleep(self.plan.redis_outage)
                self.redis.start()
                self.faults.append(f"Redis down {self.plan.redis_outage:.0f} s")
        finally:
            self.faults_done.set()

    def _wait_share(self, share: float) -> None:
        deadline = time.monotonic() + self.plan.seconds * 2
        while self._acked_share() < share and time.monotonic() < deadline:
            time.sleep(0.05)

    # --- the run -----------------------------------------------------------------------

    def run(self) -> Report:
        assert self.school is not None and self.gunicorn is not None
        started = time.monotonic()
        for seat in self.school.seats:
            listener = Listener(
                self.gunicorn.url, self.school.observer, seat.assessment_id, seat.portfolio_id
            )
            listener.start()
            self.listeners.append(listener)
        self._await(lambda: all(listener.connects for listener in self.listeners), 30)
        self._phase("listeners")
        self._make_devices()
        quota = -(-self.plan.changes // self.plan.devices)
        deadline = time.monotonic() + self.plan.seconds * 3 + self.plan.redis_outage + 60
        start_at = time.monotonic()
        threads = [
            threading.Thread(target=self._device_loop, args=(d, quota, deadline, start_at))
            for d in self.devices
        ]
        faults = threading.Thread(target=self._faults, daemon=True)
        for thread in threads:
            thread.start()
        faults.start()
        browser = None
        if self.plan.browser:
            browser = self._browser_round()
        for thread in threads:
            thread.join()
        self._phase("storm")
        faults.join(timeout=60)
        for device in self.devices:  # what is left (a device stopped by the deadline)
            for _ in range(10):
                if device.flush() in ("empty", "ok") and not device.outbox:
                    break
                time.sleep(1)
        storm_seconds = time.monotonic() - start_at
        self._phase("drain")
        self._final_state()
        self._phase("final")
        self.report.figures["seconds"] = storm_seconds
        self.report.figures["faults"] = self.faults
        if browser is not None:
            self.report.figures["browser"] = browser
        self._check()
        self._phase("checks")
        self.report.figures["total_seconds"] = time.monotonic() - started
        return self.report

    def _await(self, condition: Any, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while not condition():
            if time.monotonic() > deadline:
                return False
            time.sleep(0.05)
        return True

    def _final_state(self) -> None:
        """One last change per assessment (its comment): every listener must show it."""
        assert self.school is not None
        writer = next(d for d in self.devices if d.email == self.school.teachers[0])
        nonce = f"{random.Random().randrange(10**8):08d}"
        self.finals: dict[int, str] = {}
        for seat in self.school.seats:
            value = f"chaos-final-{seat.assessment_id}-{nonce}"
            self.finals[seat.assessment_id] = value
            writer.change(seat.assessment_id, "comment", value, "final")
        made_at = time.monotonic()
        for _ in range(20):
            if writer.flush() in ("ok", "empty") and not writer.outbox:
                break
            time.sleep(1)
        caught = self._await(
            lambda: all(
                listener.has_seen(self.finals[listener.assessment_id], made_at)
                for listener in self.listeners
            ),
            20,
        )
        now = time.monotonic()
        listeners = self.listeners
        self.report.figures |= {
            "listeners": len(listeners),
            "caught_up": sum(
                listener.has_seen(self.finals[listener.assessment_id], made_at)
                for listener in listeners
            ),
            "reconnects": sum(max(0, listener.connects - 1) for listener in listeners),
            "resyncs": sum(listener.refreshes for listener in listeners),
            "refresh_reasons": {
                reason: sum(listener.refresh_reasons.get(reason, 0) for listener in listeners)
                for reason in sorted({r for li in listeners for r in li.refresh_reasons})
            },
            # A stream pings every 15 s: silent for longer than 20 s is a stuck stream.
            "stuck": sum(now - listener.last_line > 20 for listener in listeners),
        }
        if not caught:
            self.report.problems.append("a live listener missed the final state")

    # --- a real browser, scoring offline during the storm -----------------------------

    def _browser_round(self) -> str:
        from tests.chaos.browser import offline_round

        assert self.school is not None and self.gunicorn is not None
        seat = self.school.seats[-1]
        try:
            result = offline_round(
                self.gunicorn.url, seat.tutor_email, seat.portfolio_id, seat.competencies[:3]
            )
        except Exception as error:  # reported, and the storm's checks still run
            self.report.problems.append(f"browser round failed: {error!r}")
            return "failed"
        self.browser_result = (seat.assessment_id, result)
        return f"{len(result['rated'])} ratings, synced in {result['seconds']:.1f} s"

    # --- the checks --------------------------------------------------------------------

    def _check(self) -> None:
        assert self.school is not None and self.proxy is not None
        engine = create_engine(self.school.database_url)
        with engine.connect() as conn:
            history = conn.execute(
                text(
                    "SELECT c.id, c.change_uuid, c.outcome, c.resulting_version, c.value, "
                    "i.assessment_id, i.item_key FROM assessment_item_changes c "
                    "JOIN assessment_items i ON i.id = c.item_id ORDER BY c.id"
                )
            ).all()
            items = {
                (row.assessment_id, row.item_key): row
                for row in conn.execute(
                    text(
                        "SELECT assessment_id, item_key, value, version, conflict "
                        "FROM assessment_items"
                    )
                )
            }
            stored = {row[0] for row in conn.execute(text("SELECT change_uuid FROM sync_receipts"))}
        engine.dispose()
        ledger, figures, problems = self.ledger, self.report.figures, self.report.problems
        assert self.gunicorn is not None
        log = self.gunicorn.output.read_text(errors="replace").splitlines()
        figures["unavailable"] = sorted(
            {line.split(": ", 1)[-1][:120] for line in log if "database unavailable" in line}
        )[:4]
        acked = ledger.acknowledged()
        rows_by_uuid: dict[str, list[Any]] = {}
        rows_by_item: dict[tuple[int, str], list[Any]] = {}
        for row in history:
            rows_by_uuid.setdefault(row.change_uuid, []).append(row)
            rows_by_item.setdefault((row.assessment_id, row.item_key), []).append(row)
        lost = sorted(u for u in acked if u not in rows_by_uuid or u not in stored)
        twice = [u for u, rows in rows_by_uuid.items() if len(rows) > 1]
        version_errors: list[str] = []
        phantom = 0
        for item, uuids in ledger.order.items():
            kind = ledger.changes[uuids[0]].kind
            rows = rows_by_item.get(item, [])
            known = [u for u in uuids if u not in ledger.replaced]
            phantom += sum(1 for row in rows if row.change_uuid not in ledger.changes)
            if kind == "owned":
                self._check_owned(item, known, rows, items.get(item), version_errors)
        twice += ["phantom"] * phantom
        # Every receipt (first answer and replays) names the version its history row holds.
        for change_uuid, receipts in ledger.receipts.items():
            rows = rows_by_uuid.get(change_uuid) or []
            for receipt in receipts:
                if rows and receipt.get("version") != rows[0].resulting_version:
                    version_errors.append(f"receipt version of {change_uuid}")
        flagged = 0
        pairs: dict[tuple[int, str], list[Sent]] = {}
        for sent, _ in self.collision_sent:
            pairs.setdefault((sent.assessment_id, sent.item_key), []).append(sent)
        for item, sents in pairs.items():
            row = items.get(item)
            outcomes = sorted(r.outcome for r in rows_by_item.get(item, []))
            later = max(sents, key=lambda s: datetime.fromisoformat(s.device_time))
            ok = (
                len(sents) == 2
                and row is not None
                and bool(row.conflict)
                and row.value == later.value
                and len(outcomes) == 2
                and outcomes[0] == "applied"
                and outcomes[1] in ("conflict", "superseded")
            )
            flagged += ok
            if not ok:
                problems.append(f"collision on {item}: {outcomes}, item {row}")
        unacked = [
            u for u in ledger.sent if u not in acked and u not in ledger.errors
        ]  # sent, never answered by the end
        refused = sum(len(errors) for errors in ledger.errors.values())
        http_500 = sum(n for s, n in ledger.statuses.items() if s.startswith("5") and s != "503")
        figures |= {
            "made": len(ledger.changes) - len(ledger.replaced),
            "created": len(ledger.changes),
            "posts": ledger.posts,
            "replays": ledger.replays,
            "replay_mismatches": len(ledger.replay_mismatches),
            "reuses": ledger.reuses,
            "reuse_refused": ledger.reuse_refused,
            "dropped": self.proxy.dropped,
            "dropped_statuses": sorted(set(self.proxy.dropped_statuses)),
            "acknowledged": len(acked),
            "lost": len(lost),
            "applied_twice": len(twice),
            "unacknowledged": len(unacked),
            "refused": refused,
            "collisions": len(self.collisions),
            "collisions_flagged": flagged,
            "version_errors": len(version_errors),
            "http_500": http_500,
            "http_503": ledger.statuses.get("503", 0),
            "statuses": dict(sorted(ledger.statuses.items())),
        }
        if lost:
            problems.append(f"acknowledged changes lost: {lost[:5]}")
        if twice:
            problems.append(f"changes applied twice: {twice[:5]}")
        if version_errors:
            problems.append(f"version errors: {version_errors[:5]}")
        if ledger.replay_mismatches:
            problems.append(f"replays answered differently: {ledger.replay_mismatches[:5]}")
        if ledger.reuse_taken:
            problems.append(f"reused ids taken: {ledger.reuse_taken[:5]}")
        if unacked:
            problems.append(f"{len(unacked)} changes never acknowledged")
        if refused:
            problems.append(f"changes refused: {list(ledger.errors.values())[:3]}")
        if http_500:
            problems.append(f"{http_500} answers 5xx other than 503")
        if flagged != len(self.collisions):
            problems.append(f"collisions flagged {flagged}/{len(self.collisions)}")
        browser = getattr(self, "browser_result", None)
        if browser is not None:
            self._check_browser(browser, rows_by_item, items)

    def _check_owned(
        self,
        item: tuple[int, str],
        uuids: list[str],
        rows: list[Any],
        current: Any,
        errors: list[str],
    ) -> None:
        """One device's changes, applied in its order, each once: the version counts the
        value changes, the value is the last change's."""
        ledger = self.ledger
        if [row.change_uuid for row in rows] != uuids:
            errors.append(f"{item}: history {len(rows)} rows for {len(uuids)} changes")
            return
        version, value = 0, None
        for row in rows:
            if row.outcome != "applied":
                errors.append(f"{item}: {row.outcome} on an item only one device changes")
            if row.value != value or version == 0:
                version += 1
            value = row.value
            if row.resulting_version != version:
                errors.append(f"{item}: version {row.resulting_version}, expected {version}")
        last = ledger.changes[uuids[-1]].value if uuids else None
        if current is None or current.version != version or current.value != last:
            errors.append(f"{item}: item {current}, expected version {version} value {last}")

    def _check_browser(self, browser: Any, rows_by_item: Any, items: Any) -> None:
        assessment_id, result = browser
        for competency_id, level in result["rated"].items():
            key = (assessment_id, f"competency:{competency_id}")
            row = items.get(key)
            rows = rows_by_item.get(key, [])
            if row is None or row.value != level or len(rows) != 1:
                self.report.problems.append(f"browser rating {key}: {row}, {len(rows)} rows")
        if result["left"]:
            self.report.problems.append(f"browser outbox not empty: {result['left']}")
