"""SIECLE and STS-web imports at the service level: encodings, the diploma recognised from a
MEF, departures, and a number of SQL statements that does not grow with the school."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

from sqlalchemy import select

from app.models import Admin, Framework, Learner
from app.services import imports_siecle, imports_sts
from bench.import_siecle import school, siecle_xml

DATA = Path(__file__).resolve().parent.parent / "data"


def _frameworks(f: Any) -> dict[str, Framework]:
    return {fw.code: fw for fw in f.s.scalars(select(Framework))}


def test_the_diploma_is_recognised_from_the_mef_labels_only_when_one_fits(f: Any) -> None:
    frameworks = _frameworks(f)
    shipped = list(frameworks.values())

    def guess(*labels: str) -> str | None:
        found = imports_siecle.guess_framework(list(labels), shipped)
        return found.code if found else None

    assert guess("1ERE PRO METIERS ELECTRICITE ENVIRONNEMENTS CONNECTES") == "BACPRO-MELEC"
    assert guess("Terminale professionnelle Cybersécurité, informatique et réseaux, électronique") \
        == "BACPRO-CIEL"  # fmt: skip
    assert guess("BTS MAINTENANCE DES SYSTEMES OPTION A SYSTEMES DE PRODUCTION") == "BTS-MS-A"
    assert guess("TLE PRO MAINTENANCE ET EFFICACITE ENERGETIQUE") == "BACPRO-MEE"
    # A seconde of the "famille des métiers des transitions numérique et énergétique" is shared
    # by five diplomas, and a label naming none is no guess either.
    assert guess("2NDE PRO METIERS TRANSITIONS NUMERIQUE ET ENERGETIQUE") is None
    assert guess("CAP ELECTRICIEN") is None


def test_latin1_and_utf8_exports_read_the_same() -> None:
    pupils = school(30)
    latin1 = imports_siecle.read_siecle(siecle_xml(pupils, "ISO-8859-1"))
    utf8 = imports_siecle.read_siecle(siecle_xml(pupils, "UTF-8"))
    assert [(r.key, r.last_name, r.first_name) for r in latin1.rows] == [
        (r.key, r.last_name, r.first_name) for r in utf8.rows
    ]
    assert any("È" in r.last_name or "Ü" in r.last_name for r in latin1.rows)
    sample = imports_siecle.read_siecle((DATA / "ElevesSansAdresses.xml").read_bytes())
    assert sample.rows[0].last_name == "LEFÈVRE" and sample.rows[0].first_name == "Maëlle"


def test_a_future_exit_date_keeps_the_pupil_and_a_past_one_lists_them(f: Any) -> None:
    data = (DATA / "ElevesSansAdresses.xml").read_bytes()
    before = imports_siecle.read_siecle(data, today=date(2026, 10, 1))
    after = imports_siecle.read_siecle(data, today=date(2026, 10, 15))
    etienne_before = next(r for r in before.rows if r.last_name == "ÉTIENNE")
    etienne_after = next(r for r in after.rows if r.last_name == "ÉTIENNE")
    assert etienne_before.error is None and not etienne_before.departed
    assert etienne_after.departed and etienne_after.error == (
        "sorti(e) de l'établissement le 15/10/2026"
    )
    # Imported while still enrolled, then listed as gone (not deactivated) once the date passed.
    frameworks = _frameworks(f)
    seconde = "2de-professionnelle-metiers-des-transitions-numerique-et-energetique"
    chosen: dict[str, int | None] = {seconde: frameworks["BACPRO-MELEC"].id}
    imports_siecle.apply_siecle(before, chosen, None)
    stranger = f.learner(last_name="ZZINCONNU")
    inactive = f.learner(last_name="ZZPARTI", is_active_account=False)
    plan = imports_siecle.plan_siecle(after)
    gone = {d.learner.last_name: d.reason for d in plan.departures}
    assert gone == {
        "ÉTIENNE": "sorti(e) de l'établissement le 15/10/2026",
        stranger.last_name: "absent(e) du fichier SIECLE",
    }
    assert inactive.last_name not in gone
    etienne = f.s.scalar(select(Learner).where(Learner.last_name == "ÉTIENNE"))
    assert etienne.is_active_account


def test_plan_and_apply_take_as_many_statements_for_400_pupils_as_for_40(
    f: Any, count_queries: Any
) -> None:
    frameworks = _frameworks(f)
    admin = f._add(Admin(email="admin-siecle@exemple.fr", first_name="A", last_name="B"))
    counts = []
    for size, offset in ((40, 0), (400, 1000)):
        pupils = school(size + offset)[offset:]
        parsed = imports_siecle.read_siecle(siecle_xml(pupils))
        with count_queries() as planning:
            plan = imports_siecle.plan_siecle(parsed)
        chosen: dict[str, int | None] = {
            lvl.key: (lvl.framework or frameworks["BACPRO-MELEC"]).id for lvl in plan.new_levels
        }
        with count_queries() as applying:
            result = imports_siecle.apply_siecle(parsed, chosen, admin)
        assert result.counts["created"] == size
        counts.append((planning.count, applying.count))
    (plan_40, apply_40), (plan_400, apply_400) = counts
    assert plan_400 == plan_40
    assert apply_400 <= apply_40 + 2, counts


def test_sts_keys_and_levels_come_from_the_services() -> None:
    parsed = imports_sts.read_sts((DATA / "sts_emp_0330099X_2026.xml").read_bytes())
    assert (parsed.uai, parsed.year, parsed.others) == ("0330099X", "2026", 1)
    rows = {row.key: row for row in parsed.rows}
    assert rows["sts:41017"].divisions == ["1MELEC-A", "2TNE-A"]
    assert rows["sts:41018"].divisions == ["2TNE-A", "3PREPA", "TMELEC-A"]
    assert rows["sts:41021"].divisions == ["1MELEC-A"]  # a group's service
    assert rows["sts:41017"].last_name == "RIVIÈRE"  # NOM_USAGE before NOM_PATRONYMIQUE
    assert rows["sts:41022"].error == "prénom manquant"
