"""Time a SIECLE import of a whole school on SQLite: a generated ElevesSansAdresses.xml of
2,000 pupils (ISO-8859-1, the elements and nesting of the real export, 80 divisions over 8 MEFs)
is previewed and imported into an empty database, then imported again (nothing changes), then a
later export (100 pupils gone, 100 new, 200 changing class) is previewed and imported.

    python -m bench.import_siecle [--pupils 2000]

Prints the figures and writes bench/import_siecle.md. Each step is what the admin pages run:
preview = read + plan (the upload), import = read + apply + commit (the confirmation)."""

from __future__ import annotations

import argparse
import os
import platform
import random
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

from sqlalchemy import event, func, select

from app import create_app
from app.extensions import db
from app.models import Framework

BENCH_DIR = Path(__file__).resolve().parent
LAST_NAMES = [
    "MARTIN",
    "BERNARD",
    "LEFÈVRE",
    "N'DIAYE",
    "DA-COSTA",
    "MÜLLER",
    "GARCÍA",
    "BÉRANGER",
    "LE-GOFF",
    "ROUSSEAU",
    "FAURE",
    "MERCIER",
    "BLANC",
    "GUÉRIN",
    "CHEVALIER",
    "FRANÇOIS",
    "LEGRAND",
    "GAUTHIER",
    "PERRIN",
    "MOREL",
    "HAMIDI",
    "TRAORÉ",
]
FIRST_NAMES = [
    "Maëlle",
    "Noé",
    "Chloé",
    "João",
    "Aïssatou",
    "Jérôme",
    "Zoé",
    "Léa",
    "Inès",
    "Théo",
    "Anaïs",
    "Hélène",
    "Raphaël",
    "Océane",
    "Gaëtan",
    "Loïc",
    "Célia",
    "Yanis",
]
MEFS = [
    ("24720010110", "2NDE PRO METIERS TRANSITIONS NUMERIQUE ET ENERGETIQUE",
     "2de professionnelle Métiers des transitions numérique et énergétique", "BACPRO-MELEC"),
    ("24725006210", "1ERE PRO METIERS ELECTRICITE ENVIRONNEMENTS CONNECTES",
     "1re professionnelle Métiers de l'électricité et de ses environnements connectés", None),
    ("24725006310", "TLE PRO METIERS ELECTRICITE ENVIRONNEMENTS CONNECTES",
     "Terminale professionnelle Métiers de l'électricité et de ses environnements connectés", None),
    ("24725007210", "1ERE PRO CYBERSECURITE INFORMATIQUE RESEAUX ELECTRONIQUE",
     "1re professionnelle Cybersécurité, informatique et réseaux, électronique", None),
    ("24725007310", "TLE PRO CYBERSECURITE INFORMATIQUE RESEAUX ELECTRONIQUE",
     "Terminale professionnelle Cybersécurité, informatique et réseaux, électronique", None),
    ("24725008210", "1ERE PRO MAINTENANCE ET EFFICACITE ENERGETIQUE",
     "1re professionnelle Maintenance et efficacité énergétique", None),
    ("24725008310", "TLE PRO MAINTENANCE ET EFFICACITE ENERGETIQUE",
     "Terminale professionnelle Maintenance et efficacité énergétique", None),
    ("32022002110", "BTS MAINTENANCE DES SYSTEMES OPTION A SYSTEMES DE PRODUCTION",
     "1re année BTS Maintenance des systèmes option A systèmes de production", None),
]  # fmt: skip


@dataclass
class Pupil:
    eleve_id: int
    ine: str
    last_name: str
    first_name: str
    birth: date
    mef: str
    division: str
    apprentice: bool = False


def school(pupils: int, seed: int = 13) -> list[Pupil]:
    rng = random.Random(seed)
    per_mef = 10  # divisions per MEF, 25 pupils each for 2,000 pupils
    result = []
    for n in range(pupils):
        mef_index = n % len(MEFS)
        division = f"{mef_index + 1}D{(n // len(MEFS)) % per_mef + 1:02d}"
        result.append(
            Pupil(
                eleve_id=1_200_000 + n,
                ine=f"{70_000_000 + n:09d}{chr(65 + n % 26)}{chr(65 + n // 26 % 26)}",
                last_name=f"{rng.choice(LAST_NAMES)}-{n}",
                first_name=rng.choice(FIRST_NAMES),
                birth=date(2007, 1, 1) + timedelta(days=rng.randrange(0, 1500)),
                mef=MEFS[mef_index][0],
                division=division,
                apprentice=mef_index == 7 and n % 2 == 0,
            )
        )
    return result


def siecle_xml(pupils: list[Pupil], encoding: str = "ISO-8859-1") -> bytes:
    """An ElevesSansAdresses.xml with every element SIECLE writes for a pupil (most unread)."""
    out = [f'<?xml version="1.0" encoding="{encoding}"?>', '<BEE_ELEVES VERSION="3.7">',
           "<PARAMETRES><UAJ>0330099X</UAJ><ANNEE_SCOLAIRE>2026</ANNEE_SCOLAIRE>"
           "<DATE_EXPORT>02/12/2026</DATE_EXPORT><HORODATAGE>02/12/2026 08:12:45</HORODATAGE>"
           "</PARAMETRES>", "<DONNEES>", "<ELEVES>"]  # fmt: skip
    for p in pupils:
        out.append(
            f'<ELEVE ELEVE_ID="{p.eleve_id}" ELENOET="{p.eleve_id % 100000}">\n'
            f"  <ID_NATIONAL>{p.ine}</ID_NATIONAL>\n  <ELENOET>{p.eleve_id % 100000}</ELENOET>\n"
            f"  <ID_ELEVE_ETAB>{p.eleve_id}</ID_ELEVE_ETAB>\n"
            f"  <NOM_DE_FAMILLE>{escape(p.last_name)}</NOM_DE_FAMILLE>\n"
            f"  <PRENOM>{p.first_name}</PRENOM>\n  <PRENOM2/>\n  <PRENOM3/>\n"
            f"  <DATE_NAISS>{p.birth:%d/%m/%Y}</DATE_NAISS>\n  <DOUBLEMENT>N</DOUBLEMENT>\n"
            "  <CODE_SEXE>1</CODE_SEXE>\n  <CODE_PAYS>100</CODE_PAYS>\n"
            "  <VILLE_NAISS>BORDEAUX</VILLE_NAISS>\n"
            "  <CODE_DEPARTEMENT_NAISS>033</CODE_DEPARTEMENT_NAISS>\n"
            "  <CODE_PAYS_NAT>100</CODE_PAYS_NAT>\n  <CODE_REGIME>2</CODE_REGIME>\n"
            "  <DATE_ENTREE>01/09/2026</DATE_ENTREE>\n"
            "  <ADHESION_TRANSPORT>0</ADHESION_TRANSPORT>\n"
            f"  <CODE_MEF>{p.mef}</CODE_MEF>\n"
            f"  <CODE_STATUT>{'AP' if p.apprentice else 'ST'}</CODE_STATUT>\n"
            "  <ACCEPTE_SMS>0</ACCEPTE_SMS>\n  <SCOLARITE_AN_DERNIER>\n"
            "    <CODE_RNE>0330098W</CODE_RNE>\n    <SIGLE>CLG</SIGLE>\n"
            "    <DENOM_PRINC>COLLEGE</DENOM_PRINC>\n  </SCOLARITE_AN_DERNIER>\n</ELEVE>"
        )  # fmt: skip
    out += ["</ELEVES>", "<STRUCTURES>"]
    for p in pupils:
        out.append(
            f'<STRUCTURES_ELEVE ELEVE_ID="{p.eleve_id}" ELENOET="{p.eleve_id % 100000}">'
            f"<STRUCTURE><CODE_STRUCTURE>{p.division}</CODE_STRUCTURE>"
            "<TYPE_STRUCTURE>D</TYPE_STRUCTURE></STRUCTURE>"
            f"<STRUCTURE><CODE_STRUCTURE>{p.division}_AP</CODE_STRUCTURE>"
            "<TYPE_STRUCTURE>G</TYPE_STRUCTURE></STRUCTURE></STRUCTURES_ELEVE>"
        )
    out += ["</STRUCTURES>", "</DONNEES>", "<NOMENCLATURES>", "<MEFS>"]
    for code, long_label, edition, _ in MEFS:
        out.append(
            f'<MEF CODE_MEF="{code}"><FORMATION>{long_label[:20]}</FORMATION>'
            f"<LIBELLE_LONG>{long_label}</LIBELLE_LONG>"
            f"<LIBELLE_EDITION>{escape(edition)}</LIBELLE_EDITION></MEF>"
        )
    out += ["</MEFS>", "</NOMENCLATURES>", "</BEE_ELEVES>", ""]
    return "\n".join(out).encode(encoding)


@contextmanager
def counted() -> Iterator[list[str]]:
    statements: list[str] = []

    def listen(_c: Any, _cur: Any, statement: str, *_a: Any) -> None:
        statements.append(statement)

    event.listen(db.engine, "before_cursor_execute", listen)
    try:
        yield statements
    finally:
        event.remove(db.engine, "before_cursor_execute", listen)


def timed(step: Callable[[], Any]) -> tuple[float, int, Any]:
    with counted() as statements:
        started = time.perf_counter()
        result = step()
        elapsed = time.perf_counter() - started
    return elapsed, len(statements), result


def run(pupils: int) -> list[tuple[str, float, int, str]]:
    from app.models import Admin, Learner
    from app.services import imports_siecle
    from app.services.frameworks import import_framework_files, shipped_framework_paths

    rows: list[tuple[str, float, int, str]] = []
    with tempfile.TemporaryDirectory() as tmp:
        app = create_app(
            SQLALCHEMY_DATABASE_URI=f"sqlite:///{tmp}/bench-siecle.db",
            SECRET_KEY="bench-siecle-not-a-secret",  # noqa: S106
            REDIS_URL=None,
            UPLOAD_DIR=f"{tmp}/uploads",
        )
        with app.app_context():
            db.create_all()
            import_framework_files(shipped_framework_paths())
            admin = Admin(email="admin@bench.fr", first_name="A", last_name="Admin")
            db.session.add(admin)
            db.session.commit()
            frameworks = {fw.code: fw.id for fw in db.session.scalars(select(Framework))}
            people = school(pupils)
            first = siecle_xml(people)
            later_people = people[100:] + school(pupils + 100)[pupils:]
            for p in later_people[:200]:
                p.division = p.division[:-2] + f"{int(p.division[-2:]) % 10 + 1:02d}"
            later = siecle_xml(later_people, "UTF-8")

            chosen: dict[str, int | None] = {}

            def preview(data: bytes) -> Any:
                plan = imports_siecle.plan_siecle(imports_siecle.read_siecle(data))
                # What the admin picks in the preview for the levels not recognised.
                chosen.clear()
                for lvl in plan.new_levels:
                    picked = lvl.framework.id if lvl.framework else frameworks["BACPRO-MELEC"]
                    chosen[lvl.key] = picked
                return plan

            def apply(data: bytes) -> Any:
                result = imports_siecle.apply_siecle(
                    imports_siecle.read_siecle(data), chosen, admin
                )
                db.session.commit()
                return result

            for label, data, step in (
                ("first file: preview", first, preview),
                ("first file: import", first, apply),
                ("same file again: preview", first, preview),
                ("same file again: import", first, apply),
                ("later export: preview", later, preview),
                ("later export: import", later, apply),
            ):
                db.session.expire_all()
                seconds, statements, plan = timed(lambda d=data, s=step: s(d))
                c = plan.counts
                outcome = (
                    f"{c['created']} created, {c['updated']} updated, "
                    f"{c['unchanged']} unchanged, {c['rejected']} rejected, "
                    f"{len(plan.departures)} departures, {len(plan.new_levels)} new levels"
                )
                rows.append((label, seconds, statements, outcome))
            total = db.session.scalar(select(func.count()).select_from(Learner))
            assert total == pupils + 100
            rows.append((f"learners in the database: {total}", 0.0, 0, f"{len(first)} bytes"))
    return rows


def run_pages(pupils: int) -> list[tuple[str, float, int, str]]:
    """The same first import through the admin pages (Flask test client, real sign-in and
    CSRF): upload → preview page, then the confirmation → report page."""
    import io
    import re

    from app.models import Admin
    from app.services.auth import hash_password
    from app.services.frameworks import import_framework_files, shipped_framework_paths

    rows: list[tuple[str, float, int, str]] = []
    with tempfile.TemporaryDirectory() as tmp:
        app = create_app(
            SQLALCHEMY_DATABASE_URI=f"sqlite:///{tmp}/bench-siecle-pages.db",
            SECRET_KEY="bench-siecle-not-a-secret",  # noqa: S106
            REDIS_URL=None,
            UPLOAD_DIR=f"{tmp}/uploads",
            SESSION_COOKIE_SECURE=False,
        )
        with app.app_context():
            db.create_all()
            import_framework_files(shipped_framework_paths())
            db.session.add(
                Admin(email="admin@bench.fr", first_name="A", last_name="Admin",
                      password_hash=hash_password("bench-password"))
            )  # fmt: skip
            db.session.commit()
            melec = db.session.scalar(select(Framework.id).where(Framework.code == "BACPRO-MELEC"))
        data = siecle_xml(school(pupils))
        client = app.test_client()

        def token(page: str) -> str:
            match = re.search(r'name="csrf_token" (?:type="hidden" )?value="([^"]+)"', page)
            if not match:
                match = re.search(
                    r'id="csrf_token" name="csrf_token" type="hidden" value="([^"]+)"', page
                )
            assert match, "no CSRF token"
            return match.group(1)

        login_page = client.get("/connexion").get_data(as_text=True)
        client.post("/connexion", data={"email": "admin@bench.fr", "password": "bench-password",
                                        "csrf_token": token(login_page)})  # fmt: skip
        form_page = client.get("/administration/import/siecle").get_data(as_text=True)
        started = time.perf_counter()
        response = client.post(
            "/administration/import/siecle",
            data={"file": (io.BytesIO(data), "ElevesSansAdresses.xml"),
                  "csrf_token": token(form_page)},
            content_type="multipart/form-data",
        )  # fmt: skip
        preview = response.get_data(as_text=True)
        elapsed = time.perf_counter() - started
        assert response.status_code == 200, preview[:300]
        rows.append(("pages: upload → preview", elapsed, 0, f"{len(preview)} bytes of HTML"))
        confirm = re.search(r'id="import-confirm" action="([^"]+)"', preview)
        assert confirm
        choices = {name: str(melec) for name in re.findall(r'name="(framework-[^"]+)"', preview)}
        started = time.perf_counter()
        response = client.post(confirm.group(1), data={"csrf_token": token(preview), **choices})
        report = response.get_data(as_text=True)
        elapsed = time.perf_counter() - started
        assert response.status_code == 200, report[:300]
        rows.append(("pages: confirm → report", elapsed, 0, f"{len(report)} bytes of HTML"))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--pupils", type=int, default=2000)
    args = parser.parse_args()
    rows = run(args.pupils)
    size_note = rows.pop()[3]
    rows += run_pages(args.pupils)
    lines = [
        f"# SIECLE import benchmark ({args.pupils} pupils, SQLite)",
        "",
        f"Run {datetime.now(UTC):%Y-%m-%d %H:%M} UTC on {platform.machine()} "
        f"({platform.python_version()}, {os.cpu_count()} CPUs, load average "
        f"{os.getloadavg()[0]:.1f} at the end); `python -m bench.import_siecle`. "
        f"Generated ElevesSansAdresses.xml: {size_note} (ISO-8859-1), 80 divisions, 8 MEFs.",
        "",
        "| step | seconds | SQL statements | outcome |",
        "|---|---:|---:|---|",
    ]
    for label, seconds, statements, outcome in rows:
        lines.append(f"| {label} | {seconds:.2f} | {statements or ''} | {outcome} |")
    first_total = rows[0][1] + rows[1][1]
    pages_total = rows[-2][1] + rows[-1][1]
    lines += [
        "",
        f"Preview + import of the first file: **{first_total:.2f} s** in the services, "
        f"**{pages_total:.2f} s** through the admin pages (HTML of every row included).",
        "",
    ]
    (BENCH_DIR / "import_siecle.md").write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
