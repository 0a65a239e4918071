from tests.access import LOGIN, Case, everyone, only

CASES = [
    Case("auth.home", "GET", lambda w: "/", everyone(302)),
    Case("auth.login", "GET", lambda w: "/connexion", everyone(302, anonymous=200)),
    Case(
        "auth.login",
        "POST",
        lambda w: "/connexion",
        everyone(302, anonymous=422),
        data=lambda w: {"email": "nobody@example.org", "password": "wrong password"},
    ),
    Case("auth.logout", "POST", lambda w: "/deconnexion", everyone(302)),
    Case("auth.change_password", "GET", lambda w: "/compte/mot-de-passe", everyone(200)),
    Case(
        "auth.change_password",
        "POST",
        lambda w: "/compte/mot-de-passe",
        everyone(422),
        data=lambda w: {"current": "wrong", "new": "short", "confirm": "other"},
    ),
    Case("auth.healthz", "GET", lambda w: "/healthz", everyone(200, anonymous=200)),
    Case("static", "GET", lambda w: "/static/css/app.css", everyone(200, anonymous=200)),
    Case("navigation.teacher_home", "GET", lambda w: "/enseignant", only({"teacher": 302}, 403)),
    Case(
        "navigation.choose_level",
        "GET",
        lambda w: f"/niveaux?level_id={w.level.id}",
        only({"teacher": 302}),
    ),
    Case(
        "navigation.level_periods",
        "GET",
        lambda w: f"/niveaux/{w.level.id}/periodes",
        only({"teacher": 200}),
    ),
    Case(
        "navigation.level_learners",
        "GET",
        lambda w: f"/niveaux/{w.level.id}/apprenants",
        only({"teacher": 200}),
    ),
    Case(
        "navigation.period_view",
        "GET",
        lambda w: f"/periodes/{w.period.id}",
        only({"teacher": 200}),
    ),
    Case(
        "navigation.learner_view",
        "GET",
        lambda w: f"/apprenants/{w.learner.id}",
        only({"teacher": 200, "learner": 302}),
    ),
    Case(
        "navigation.learner_home", "GET", lambda w: "/mes-portfolios", only({"learner": 200}, 403)
    ),
    Case(
        "navigation.tutor_home",
        "GET",
        lambda w: "/mes-apprenants",
        only({"tutor": 200, "master": 200}, 403),
    ),
    Case("navigation.admin_home", "GET", lambda w: "/administration", only({"admin": 200}, 403)),
]

__all__ = ["CASES", "LOGIN"]
