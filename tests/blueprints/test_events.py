"""Live-update streams through the test client: what a listening user receives, and what
they must never receive (SPEC F8).

The stream closes the database session before streaming, which in these tests is the test's
own session: each test commits its data first (committed into the test's outer transaction,
still rolled back at the end) and keeps ids, not objects."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import delete, update

from app.extensions import db as _db
from app.models import SheetRead, User
from app.models.base import utcnow
from app.models.school import teacher_levels
from app.services import events
from app.services.events import Event
from tests.live_servers import Client, gunicorn_server, seeded_app, werkzeug_server


@pytest.fixture(autouse=True)
def fast_streams(app: Flask, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(app.config, "LIVE_KEEPALIVE_SECONDS", 0.05)
    monkeypatch.setitem(app.config, "LIVE_MAX_STREAM_SECONDS", 30)


class Stream:
    """Reads an SSE response block by block (each yield of the server is one block)."""

    def __init__(self, response: Any) -> None:
        self.response = response
        self._chunks: Iterator[bytes] = iter(response.response)

    def block(self) -> str:
        return next(self._chunks).decode()

    def next_event(self, limit: int = 40) -> tuple[str, str]:
        """The next (event name, data) that is not a comment."""
        for _ in range(limit):
            block = self.block()
            if block.startswith(":"):
                continue
            name = ""
            data: list[str] = []
            for line in block.strip("\n").split("\n"):
                field, _, value = line.partition(": ")
                if field == "event":
                    name = value
                elif field == "data":
                    data.append(value)
            return name, "\n".join(data)
        raise AssertionError("no event on the stream")

    def is_over(self) -> bool:
        try:
            self.block()
        except StopIteration:
            return True
        return False

    def close(self) -> None:
        self.response.close()


def open_stream(client: Any, url: str) -> Stream:
    response = client.get(url)
    assert response.status_code == 200, response.get_data(as_text=True)[:300]
    stream = Stream(response)
    assert stream.block().startswith(": stream open")
    return stream


def committed_world(f: Any, db: Any) -> dict[str, int]:
    w = f.world()
    f.written(w.sheet)
    ids = {
        "teacher": w.teacher.id,
        "learner": w.learner.id,
        "tutor": w.tutor.id,
        "period": w.period.id,
        "portfolio": w.portfolio.id,
        "classmate_portfolio": w.classmate_portfolio.id,
        "sheet": w.sheet.id,
        "other_portfolio": w.other_portfolio.id,
        "level": w.level.id,
        "assessment": w.assessment.id,
    }
    db.session.commit()
    return ids


def test_stream_headers_first_comment_and_keepalive(f: Any, db: Any, login_as: Any) -> None:
    w = f.world()
    client = login_as(w.teacher)
    period_id = w.period.id
    db.session.commit()
    response = client.get(f"/events/periodes/{period_id}")
    assert response.status_code == 200
    assert response.mimetype == "text/event-stream"
    assert response.headers["Cache-Control"] == "no-cache"
    assert response.headers["X-Accel-Buffering"] == "no"
    stream = Stream(response)
    first = stream.block()
    assert first.startswith(": stream open") and "retry: " in first
    assert stream.block() == ": ping\n\n"  # keep-alive when nothing happens
    stream.close()


def test_stream_holds_no_database_session(f: Any, db: Any, login_as: Any) -> None:
    w = f.world()
    client = login_as(w.teacher)
    period_id = w.period.id
    db.session.commit()
    stream = open_stream(client, f"/events/periodes/{period_id}")
    assert not db.session.registry.has()  # closed before the first byte
    stream.close()


def test_learner_save_updates_the_teachers_folder(f: Any, db: Any, login_as: Any) -> None:
    ids = committed_world(f, db)
    stream = open_stream(
        login_as(db.session.get(User, ids["teacher"])), f"/events/periodes/{ids['period']}"
    )
    events.publish(
        f"period:{ids['period']}",
        "sheet_saved",
        portfolio_id=ids["portfolio"],
        sheet_id=ids["sheet"],
    )
    name, html = stream.next_event()
    assert name == f"folder-{ids['portfolio']}"
    learner = db.session.get(User, ids["learner"])
    assert f'id="folder-{ids["portfolio"]}"' in html
    assert f'sse-swap="folder-{ids["portfolio"]}"' in html  # the swapped folder keeps listening
    assert learner.full_name in html
    assert "has-unread" in html and "1 non lue" in html
    assert "(1 fiche)" in html
    stream.close()


def test_an_autosave_burst_is_rendered_once(f: Any, db: Any, login_as: Any) -> None:
    ids = committed_world(f, db)
    teacher = login_as(db.session.get(User, ids["teacher"]))
    stream = open_stream(teacher, f"/events/periodes/{ids['period']}")
    for _ in range(5):  # a learner typing: one save a second, or faster
        events.publish(f"period:{ids['period']}", "sheet_saved", portfolio_id=ids["portfolio"])
    events.publish(
        f"period:{ids['period']}", "sheet_saved", portfolio_id=ids["classmate_portfolio"]
    )
    assert stream.next_event()[0] == f"folder-{ids['portfolio']}"
    assert stream.next_event()[0] == f"folder-{ids['classmate_portfolio']}"
    assert stream.block() == ": ping\n\n"  # nothing more: the burst was rendered once
    stream.close()


def test_sheet_id_alone_finds_the_folder(f: Any, db: Any, login_as: Any) -> None:
    ids = committed_world(f, db)
    stream = open_stream(
        login_as(db.session.get(User, ids["teacher"])), f"/events/periodes/{ids['period']}"
    )
    events.publish(f"period:{ids['period']}", "sheet_saved", sheet_id=ids["sheet"])
    assert stream.next_event()[0] == f"folder-{ids['portfolio']}"
    stream.close()


def test_each_teacher_gets_their_own_read_state(f: Any, db: Any, login_as: Any) -> None:
    w = f.world()
    f.written(w.sheet)
    colleague = f.teacher([w.level])
    db.session.add(
        SheetRead(
            sheet_id=w.sheet.id, teacher_id=colleague.id, read_at=utcnow() + timedelta(minutes=1)
        )
    )
    teacher, period_id, portfolio_id = w.teacher, w.period.id, w.portfolio.id
    mine, theirs = login_as(teacher), login_as(colleague)
    db.session.commit()
    stream_mine = open_stream(mine, f"/events/periodes/{period_id}")
    stream_theirs = open_stream(theirs, f"/events/periodes/{period_id}")
    events.publish(f"period:{period_id}", "sheet_saved", portfolio_id=portfolio_id)
    assert "has-unread" in stream_mine.next_event()[1]
    html = stream_theirs.next_event()[1]
    assert "has-unread" not in html and "non lue" not in html
    stream_mine.close()
    stream_theirs.close()


def test_another_periods_portfolio_is_never_rendered(f: Any, db: Any, login_as: Any) -> None:
    w = f.world()
    other_name = w.other_learner.full_name
    teacher, period_id, other_pid = w.teacher, w.period.id, w.other_portfolio.id
    client = login_as(teacher)
    db.session.commit()
    stream = open_stream(client, f"/events/periodes/{period_id}")
    # A forged or mistaken event: the other level's portfolio id on this period's topic.
    events.publish(f"period:{period_id}", "sheet_saved", portfolio_id=other_pid)
    name, data = stream.next_event()
    assert name == "refresh"
    assert other_name not in data and "folder" not in data
    stream.close()


def test_stream_ends_when_access_is_withdrawn(f: Any, db: Any, login_as: Any) -> None:
    ids = committed_world(f, db)
    stream = open_stream(
        login_as(db.session.get(User, ids["teacher"])), f"/events/periodes/{ids['period']}"
    )
    db.session.execute(delete(teacher_levels).where(teacher_levels.c.teacher_id == ids["teacher"]))
    db.session.commit()
    events.publish(f"period:{ids['period']}", "sheet_saved", portfolio_id=ids["portfolio"])
    name, data = stream.next_event()
    assert (name, data) == ("close", "access")
    assert stream.is_over()


def test_stream_ends_when_sessions_are_revoked(f: Any, db: Any, login_as: Any) -> None:
    ids = committed_world(f, db)
    stream = open_stream(
        login_as(db.session.get(User, ids["teacher"])), f"/events/periodes/{ids['period']}"
    )
    db.session.execute(
        update(User)
        .where(User.id == ids["teacher"])
        .values(session_version=User.session_version + 1)
    )
    db.session.commit()
    events.publish(f"period:{ids['period']}", "sheet_saved", portfolio_id=ids["portfolio"])
    assert stream.next_event() == ("close", "access")
    assert stream.is_over()


def test_other_topics_do_not_reach_the_stream(f: Any, db: Any, login_as: Any) -> None:
    w = f.world()
    client = login_as(w.teacher)
    period_id, other_period_id, other_pid = w.period.id, w.other_period.id, w.other_portfolio.id
    db.session.commit()
    stream = open_stream(client, f"/events/periodes/{period_id}")
    events.publish(f"period:{other_period_id}", "sheet_saved", portfolio_id=other_pid)
    assert stream.block() == ": ping\n\n"
    stream.close()


def test_tab_that_made_the_change_gets_no_echo(f: Any, db: Any, login_as: Any) -> None:
    w = f.world()
    teacher, assessment_id = w.teacher, w.assessment.id
    tab_a, tab_b = login_as(teacher), login_as(teacher)
    db.session.commit()
    stream_a = open_stream(tab_a, f"/events/bilans/{assessment_id}?client=tab-aaaaaaaa")
    stream_b = open_stream(tab_b, f"/events/bilans/{assessment_id}?client=tab-bbbbbbbb")
    change = Event(
        f"assessment:{assessment_id}",
        "item_saved",
        {"item_key": "engagement", "author_id": teacher.id},
        origin="tab-aaaaaaaa",
    )
    events.broker().publish(change)
    assert stream_a.block() == ": ping\n\n"  # the author's tab: nothing
    name, _data = stream_b.next_event()  # the same user's other tab updates
    assert name != "close"
    stream_a.close()
    stream_b.close()


def test_without_tab_id_the_author_gets_no_echo(f: Any, db: Any, login_as: Any) -> None:
    w = f.world()
    teacher_id, tutor, assessment_id = w.teacher.id, w.tutor, w.assessment.id
    teacher_client, tutor_client = login_as(w.teacher), login_as(tutor)
    db.session.commit()
    teacher_stream = open_stream(teacher_client, f"/events/bilans/{assessment_id}")
    tutor_stream = open_stream(tutor_client, f"/events/bilans/{assessment_id}")
    events.publish(
        f"assessment:{assessment_id}", "item_saved", item_key="comment", author_id=teacher_id
    )
    assert teacher_stream.block() == ": ping\n\n"
    assert tutor_stream.next_event()[0] != "close"
    teacher_stream.close()
    tutor_stream.close()


def test_publish_takes_the_tab_id_from_the_request(app: Flask, db: Any) -> None:
    subscription = events.broker().subscribe(["period:1"])
    try:
        with app.test_request_context(headers={"X-Live-Client": "tab-12345678"}):
            events.publish("period:1", "sheet_saved", portfolio_id=3)
        with app.test_request_context(headers={"X-Live-Client": "<script>"}):
            events.publish("period:1", "sheet_saved", portfolio_id=3)
        first, second = subscription.get(0.1), subscription.get(0.1)
        assert first is not None and first.origin == "tab-12345678"
        assert second is not None and second.origin is None  # malformed ids are ignored
    finally:
        events.broker().unsubscribe(subscription)


def test_lost_events_make_the_page_refresh(f: Any, db: Any, login_as: Any) -> None:
    w = f.world()
    client = login_as(w.teacher)
    period_id = w.period.id
    db.session.commit()
    stream = open_stream(client, f"/events/periodes/{period_id}")
    broker = events.broker()
    assert isinstance(broker, events.InProcessBroker)
    broker.mark_all_lost()  # what the Redis broker does after an outage
    assert stream.next_event() == ("refresh", "resync")
    stream.close()


def test_a_stopping_server_ends_its_streams_without_closing_them_for_good(
    f: Any, db: Any, login_as: Any
) -> None:
    w = f.world()
    client = login_as(w.teacher)
    period_id = w.period.id
    db.session.commit()
    stream = open_stream(client, f"/events/periodes/{period_id}")
    events.end_all_streams()  # what gunicorn.conf.py does when a worker stops
    assert stream.is_over()  # no "close" event: the browser reconnects (to another worker)


def test_stream_ends_after_its_maximum_age(
    f: Any, db: Any, login_as: Any, app: Flask, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(app.config, "LIVE_MAX_STREAM_SECONDS", 0.12)
    w = f.world()
    client = login_as(w.teacher)
    period_id = w.period.id
    db.session.commit()
    stream = open_stream(client, f"/events/periodes/{period_id}")
    blocks = 0
    while not stream.is_over():
        blocks += 1
        assert blocks < 20
    assert events.broker().listener_count(f"period:{period_id}") == 0  # unsubscribed


def test_closed_stream_unsubscribes(f: Any, db: Any, login_as: Any) -> None:
    w = f.world()
    client = login_as(w.teacher)
    period_id = w.period.id
    db.session.commit()
    stream = open_stream(client, f"/events/periodes/{period_id}")
    assert events.broker().listener_count(f"period:{period_id}") == 1
    stream.close()
    assert events.broker().listener_count(f"period:{period_id}") == 0


def _rate(db: Any, assessment_id: int, user_id: int, key: str, value: str) -> None:
    from app.models import Assessment
    from app.services import assessments

    assessment = db.session.get(Assessment, assessment_id)
    user = db.session.get(User, user_id)
    assessments.record_change(
        assessment, user, key, value, device_time=utcnow(), change_uuid=str(uuid.uuid4())
    )
    db.session.commit()


def test_a_rating_reaches_the_other_assessor_as_the_items_fragment(
    f: Any, db: Any, login_as: Any
) -> None:
    w = f.world()
    ids = {"teacher": w.teacher.id, "assessment": w.assessment.id}
    tutor_client = login_as(w.tutor)
    db.session.commit()
    stream = open_stream(tutor_client, f"/events/bilans/{ids['assessment']}")
    _rate(db, ids["assessment"], ids["teacher"], "engagement", "3")
    events.publish(
        f"assessment:{ids['assessment']}",
        "item_saved",
        item_key="engagement",
        author_id=ids["teacher"],
    )
    name, html = stream.next_event()
    assert name == "parts"
    assert 'id="item-engagement"' in html
    assert "3 sur 4" in html
    assert 'value="3" aria-label="3 étoiles sur 4" checked' in html
    stream.close()


def test_a_completed_assessment_reaches_its_learner_read_only(
    f: Any, db: Any, login_as: Any
) -> None:
    w = f.world()
    w.assessment.status = "completed"
    ids = {"teacher": w.teacher.id, "assessment": w.assessment.id}
    learner_client = login_as(w.learner)
    db.session.commit()
    stream = open_stream(learner_client, f"/events/bilans/{ids['assessment']}")
    events.publish(
        f"assessment:{ids['assessment']}",
        "item_saved",
        item_key="engagement",
        author_id=ids["teacher"],
    )
    name, html = stream.next_event()
    assert name == "parts" and "disabled" in html  # the learner's own (read-only) rights
    stream.close()


def test_unknown_item_key_refreshes_instead_of_failing(f: Any, db: Any, login_as: Any) -> None:
    w = f.world()
    tutor_client = login_as(w.tutor)
    assessment_id = w.assessment.id
    db.session.commit()
    stream = open_stream(tutor_client, f"/events/bilans/{assessment_id}")
    events.publish(f"assessment:{assessment_id}", "item_saved", item_key="criterion:999999")
    assert stream.next_event() == ("refresh", "item")
    stream.close()


def test_a_sheet_change_of_the_portfolio_refreshes_its_open_assessment(
    f: Any, db: Any, login_as: Any
) -> None:
    w = f.world()
    ids = {
        "period": w.period.id,
        "portfolio": w.portfolio.id,
        "classmate": w.classmate_portfolio.id,
        "assessment": w.assessment.id,
    }
    tutor_client = login_as(w.tutor)
    db.session.commit()
    stream = open_stream(tutor_client, f"/events/bilans/{ids['assessment']}")
    events.publish(f"period:{ids['period']}", "sheet_saved", portfolio_id=ids["classmate"])
    assert stream.block() == ": ping\n\n"  # another learner's sheet: nothing
    events.publish(f"period:{ids['period']}", "sheet_linked", portfolio_id=ids["portfolio"])
    assert stream.next_event() == ("refresh", "marks")
    stream.close()


def test_assessment_stream_ends_when_the_tutor_is_replaced(f: Any, db: Any, login_as: Any) -> None:
    from app.models import Portfolio

    w = f.world()
    ids = {"teacher": w.teacher.id, "assessment": w.assessment.id, "portfolio": w.portfolio.id}
    other_tutor = w.other_tutor.id
    tutor_client = login_as(w.tutor)
    db.session.commit()
    stream = open_stream(tutor_client, f"/events/bilans/{ids['assessment']}")
    db.session.execute(
        update(Portfolio).where(Portfolio.id == ids["portfolio"]).values(tutor_id=other_tutor)
    )
    db.session.commit()
    events.publish(
        f"assessment:{ids['assessment']}",
        "item_saved",
        item_key="engagement",
        author_id=ids["teacher"],
    )
    assert stream.next_event() == ("close", "access")
    assert stream.is_over()


def test_an_event_is_rendered_once_per_user_and_with_each_users_rights(
    f: Any, db: Any, count_queries: Any
) -> None:
    """Three tabs on one assessment: the tutor's second tab reuses the first one's fragment
    (no query), a user without access still gets the stream closed, and the next change is
    rendered (and its rights checked) afresh."""
    from flask import current_app

    from app.services import live

    w = f.world()
    topic, related = f"assessment:{w.assessment.id}", (f"period:{w.period.id}",)
    tutor_tab = live.Listener(w.tutor.id, w.tutor.session_version, topic, "tab-one-1234", related)
    other_tab = live.Listener(w.tutor.id, w.tutor.session_version, topic, "tab-two-1234", related)
    outsider = live.Listener(w.other_tutor.id, w.other_tutor.session_version, topic, None, related)
    data = {"item_key": "engagement", "author_id": w.teacher.id}
    event, later = Event(topic, "item_saved", data), Event(topic, "item_saved", data)
    db.session.commit()
    with current_app.test_request_context():
        with count_queries() as first:
            sent = live.messages_for(tutor_tab, event)
        db.session.expire_all()
        with count_queries() as second:
            again = live.messages_for(other_tab, event)
        with pytest.raises(live.AccessEnded):
            live.messages_for(outsider, event)
        with count_queries() as next_change:
            live.messages_for(tutor_tab, later)
    assert sent[0].name == "parts" and 'id="item-engagement"' in sent[0].data
    assert again == sent
    assert first.count > 0 and second.count == 0
    assert next_change.count > 0


def test_streams_asking_meanwhile_wait_for_the_first_render() -> None:
    """On the stream server (gevent, PostgreSQL) the listeners of an event run side by side
    while one waits on the database: the others wait for its answer instead of running the
    same statements again; a refusal reaches them too."""
    import threading

    from app.services import live

    event = Event("assessment:1", "item_saved", {"item_key": "engagement"})
    renders: list[int] = []

    def render() -> str:
        renders.append(1)
        time.sleep(0.2)
        return "<li>"

    def refuse() -> str:
        renders.append(1)
        time.sleep(0.2)
        raise live.AccessEnded

    got: list[object] = []

    def stream(compute: Any, key: tuple[object, ...]) -> None:
        try:
            got.append(live._once(event, key, compute))
        except live.AccessEnded:
            got.append("ended")

    for compute, key in ((render, ("user", 1)), (refuse, ("user", 2))):
        threads = [threading.Thread(target=stream, args=(compute, key)) for _ in range(3)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert len(renders) == 2
    assert got == ["<li>"] * 3 + ["ended"] * 3


def test_rendering_a_folder_costs_the_same_whatever_the_size(
    f: Any, db: Any, login_as: Any, count_queries: Any
) -> None:
    from app.services import live

    def queries_for(learners: int, app_db: Any) -> int:
        level = f.level()
        group = f.class_group(level)
        teacher = f.teacher([level])
        people = [f.learner(group) for _ in range(learners)]
        period = f.period(level, people, weeks=2 + learners)
        portfolio = period.portfolios[0]
        for sheet in portfolio.sheets:
            f.written(sheet)
        listener = live.Listener(teacher.id, teacher.session_version, f"period:{period.id}")
        event = Event(f"period:{period.id}", "sheet_saved", {"portfolio_id": portfolio.id})
        app_db.session.expire_all()
        with count_queries() as q:
            messages = live.messages_for(listener, event)
        assert messages[0].name == f"folder-{portfolio.id}"
        return q.count

    from flask import current_app

    with current_app.test_request_context():
        small = queries_for(1, db)
        large = queries_for(6, db)
    assert small == large, (small, large)


def test_events_refuse_personal_data() -> None:
    with pytest.raises(ValueError):
        Event("period:1", "sheet_saved", {"title": "Câblage chez Martin"})
    with pytest.raises(ValueError):
        Event("period:1", "sheet_saved", {"sheet": {"id": 1}})
    with pytest.raises(ValueError):
        Event("période 1", "sheet_saved", {})
    assert Event("assessment:4", "item_saved", {"item_key": "criterion:12", "author_id": 7})


def test_malformed_wire_events_are_dropped() -> None:
    assert Event.from_json(b"not json") is None
    assert (
        Event.from_json('{"topic": "period:1", "kind": "x", "data": {"name": "Inès Garay"}}')
        is None
    )
    event = Event.from_json('{"topic": "period:1", "kind": "sheet_saved", "data": {"sheet_id": 5}}')
    assert event == Event("period:1", "sheet_saved", {"sheet_id": 5})


# --- real servers: many open streams -------------------------------------------------------


def _timed_get(client: Any, path: str) -> tuple[float, int, str]:
    start = time.perf_counter()
    status, body = client.get(path)
    return time.perf_counter() - start, status, body


def _open_twenty(url: str, seeded: Any) -> tuple[Any, list[Any]]:
    teacher = Client(url)
    teacher.login(seeded.emails["teacher"])
    streams = [teacher.open_stream(f"/events/periodes/{seeded.ids['period']}") for _ in range(20)]
    assert [s.status for s in streams] == [200] * 20
    assert all(s.readline().startswith(": stream open") for s in streams)
    return teacher, streams


def _other_requests_are_quick(url: str, teacher: Any, seeded: Any) -> None:
    for _ in range(5):
        elapsed, status, _body = _timed_get(Client(url), "/healthz")
        assert status == 200 and elapsed < 0.5, f"/healthz took {elapsed:.2f}s"
    elapsed, status, page = _timed_get(teacher, f"/periodes/{seeded.ids['period']}")
    assert status == 200 and seeded.names["learner"] in page
    assert elapsed < 1.5, f"period view took {elapsed:.2f}s"


@pytest.mark.slow
@pytest.mark.db_independent("seeded_app(tmp_path): a SQLite file of its own on both passes")
def test_twenty_streams_on_werkzeug_leave_room_for_requests(tmp_path: Path) -> None:
    app, seeded = seeded_app(tmp_path, LIVE_KEEPALIVE_SECONDS=0.5)
    with werkzeug_server(app) as url:
        teacher, streams = _open_twenty(url, seeded)
        with app.app_context():
            assert _db.engine.pool.checkedout() == 0  # no stream holds a connection
        _other_requests_are_quick(url, teacher, seeded)
        with app.app_context():
            assert events.broker().listener_count(f"period:{seeded.ids['period']}") == 20
            events.publish(
                f"period:{seeded.ids['period']}",
                "sheet_saved",
                portfolio_id=seeded.ids["portfolio"],
            )
        for stream in streams:
            name, html = stream.next_event()
            assert name == f"folder-{seeded.ids['portfolio']}"
            assert seeded.names["learner"] in html
            stream.close()


@pytest.mark.slow
@pytest.mark.db_independent("seeded_app(tmp_path): a SQLite file of its own on both passes")
def test_twenty_streams_on_one_gunicorn_worker_leave_room_for_requests(tmp_path: Path) -> None:
    _app, seeded = seeded_app(tmp_path)
    with gunicorn_server(tmp_path, seeded.database_url, workers=1) as server:
        teacher, streams = _open_twenty(server.url, seeded)
        _other_requests_are_quick(server.url, teacher, seeded)
        for stream in streams:
            stream.close()
