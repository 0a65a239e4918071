"""Live-update streams: only users who may see the period / assessment get a stream;
anonymous users get 401 JSON (EventSource cannot follow a redirect to the sign-in page)."""

from tests.access import Case, only

CASES = [
    Case(
        "events.period_stream",
        "GET",
        lambda w: f"/events/periodes/{w.period.id}",
        only({"teacher": 200, "anonymous": 401}),
    ),
    Case(
        "events.period_stream",
        "GET",
        lambda w: f"/events/periodes/{w.other_period.id}",
        only({"anonymous": 401}),
        note="other level",
    ),
    Case(
        "events.assessment_stream",
        "GET",
        lambda w: f"/events/bilans/{w.assessment.id}",
        only({"teacher": 200, "tutor": 200, "anonymous": 401}),
    ),
    Case(
        "events.assessment_stream",
        "GET",
        lambda w: f"/events/bilans/{w.assessment.id}",
        only({"teacher": 200, "tutor": 200, "learner": 200, "anonymous": 401}),
        setup=lambda w, f: setattr(w.assessment, "status", "completed"),
        note="completed (the learner may read it)",
    ),
    Case(
        "events.assessment_stream",
        "GET",
        lambda w: f"/events/bilans/{w.other_assessment.id}",
        only({"anonymous": 401}),
        note="other level",
    ),
]
