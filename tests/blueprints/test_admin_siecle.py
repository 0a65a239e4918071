"""Admin imports of the national exports (issue 13 §2): SIECLE's ElevesSansAdresses.xml and
STS-web's sts_emp_*.xml, through the pages an admin uses — preview, confirmation, report,
re-import, departures, and bad files refused with a French reason."""

from __future__ import annotations

import html
import io
import re
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from app.models import AuditLog, ClassGroup, Framework, Learner, Level, Teacher

DATA = Path(__file__).resolve().parent.parent / "data"
SIECLE = (DATA / "ElevesSansAdresses.xml").read_bytes()  # ISO-8859-1
SIECLE_LATER = (DATA / "ElevesSansAdresses-utf8.xml").read_bytes()  # UTF-8, a later export
STS = (DATA / "sts_emp_0330099X_2026.xml").read_bytes()


def _count(f: Any, model: Any, *where: Any) -> int:
    return f.s.scalar(select(func.count()).select_from(model).where(*where)) or 0


def _text(response: Any) -> str:
    return html.unescape(response.get_data(as_text=True))


def _plain(page: str) -> str:
    """The page as a reader sees it: no tags, single spaces."""
    return " ".join(re.sub(r"<[^>]+>", " ", page).split())


def _upload(client: Any, url: str, content: bytes, name: str = "export.xml") -> Any:
    return client.post(
        url, data={"file": (io.BytesIO(content), name)}, content_type="multipart/form-data"
    )


def _confirm_url(page: str) -> str:
    match = re.search(r'id="import-confirm" action="([^"]+)"', page)
    assert match, "no confirm form on the page"
    return match.group(1)


def _framework(f: Any, code: str) -> Framework:
    return f.s.scalar(select(Framework).where(Framework.code == code))


def _counts(page: str) -> dict[str, int]:
    found = re.findall(r'<li class="count-(\w+)"><strong>(\d+)</strong>', page)
    return {status: int(n) for status, n in found}


SECONDE_FIELD = "framework-2de-professionnelle-metiers-des-transitions-numerique-et-energetique"


def _import_siecle(f: Any, client: Any, content: bytes = SIECLE) -> str:
    preview = _text(_upload(client, "/administration/import/siecle", content))
    data = {SECONDE_FIELD: str(_framework(f, "BACPRO-MELEC").id)}
    response = client.post(_confirm_url(preview), data=data)
    assert response.status_code == 200, _text(response)[:500]
    return _text(response)


def test_siecle_preview_then_import_then_reimport_changes_nothing(f: Any, login_as: Any) -> None:
    client = login_as(f.admin())
    before = (_count(f, Learner), _count(f, ClassGroup), _count(f, Level))
    response = _upload(client, "/administration/import/siecle", SIECLE, "ElevesSansAdresses.xml")
    assert response.status_code == 200
    page = _text(response)
    assert "Rien n'est encore enregistré" in page and "0330099X" in page and "2026" in page
    assert _counts(page) == {"created": 7, "updated": 0, "unchanged": 0, "rejected": 2}
    # Latin-1 accents read right; each rejected pupil with its reason.
    assert "LEFÈVRE" in page and "Maëlle" in page and "N'DIAYE" in page and "João" in page
    assert "sorti(e) de l'établissement le 15/10/2026" in page
    assert "date de naissance invalide : « 31/02/2010 »" in page
    # Levels from the MEF: the diploma is recognised from the MEF's labels when it can be.
    assert "Niveaux à créer" in page
    assert "1re professionnelle Métiers de l'électricité et de ses environnements connectés" in page
    melec, bts = _framework(f, "BACPRO-MELEC"), _framework(f, "BTS-MS-A")
    assert f'<option value="{melec.id}" selected>' in page
    assert f'<option value="{bts.id}" selected>' in page
    assert "2TNE-A (niveau « 2de professionnelle" in page
    assert (_count(f, Learner), _count(f, ClassGroup), _count(f, Level)) == before

    # A seconde of a "famille de métiers" fits several diplomas: importing without choosing
    # one is refused next to the level, and nothing is written.
    refused = client.post(_confirm_url(page))
    assert refused.status_code == 422
    assert "Choisissez le diplôme préparé par ce niveau." in _text(refused)
    assert (_count(f, Learner), _count(f, ClassGroup), _count(f, Level)) == before

    chosen = {SECONDE_FIELD: str(melec.id)}
    report = _text(client.post(_confirm_url(page), data=chosen))
    assert "Import SIECLE des élèves terminé" in report
    assert "Classes créées : 1BTSMS, 1MELEC-A, 2TNE-A, TMELEC-A." in report
    assert _count(f, Learner) == before[0] + 7
    assert _count(f, Level) == before[2] + 4
    lefevre = f.s.scalar(select(Learner).where(Learner.external_id == "ine:0701234567A"))
    assert (lefevre.last_name, lefevre.first_name) == ("LEFÈVRE", "Maëlle")
    assert lefevre.class_group.name == "2TNE-A"
    assert lefevre.class_group.level.framework_id == melec.id
    kowalski = f.s.scalar(select(Learner).where(Learner.last_name == "KOWALSKI"))
    assert kowalski.learner_status == "apprentice"
    assert kowalski.class_group.level.framework_id == bts.id
    hamidi = f.s.scalar(select(Learner).where(Learner.last_name == "HAMIDI"))
    assert hamidi.external_id == "nom:hamidi|yanis|2009-07-21"  # no INE in the file
    assert f.s.scalar(select(Learner).where(Learner.last_name == "PERROT")) is None

    # The same file again: everything unchanged, nothing to confirm, nothing duplicated.
    again = _text(_upload(client, "/administration/import/siecle", SIECLE))
    assert _counts(again) == {"created": 0, "updated": 0, "unchanged": 7, "rejected": 2}
    assert "Aucun élève à enregistrer" in again and 'id="import-confirm"' not in again
    assert "Niveaux à créer" not in again
    assert _count(f, Learner) == before[0] + 7 and _count(f, Level) == before[2] + 4


def test_a_later_export_updates_lists_departures_and_deactivates_on_confirmation(
    f: Any, login_as: Any
) -> None:
    client = login_as(f.admin())
    _import_siecle(f, client)
    muller = f.s.scalar(select(Learner).where(Learner.last_name == "MÜLLER"))
    tmelec_level = f.s.scalar(select(ClassGroup).where(ClassGroup.name == "TMELEC-A")).level_id
    levels = _count(f, Level)

    preview = _text(_upload(client, "/administration/import/siecle", SIECLE_LATER))
    assert _counts(preview) == {"created": 1, "updated": 1, "unchanged": 5, "rejected": 2}
    assert "ŒUVRARD" in preview  # UTF-8, a letter Latin-1 does not have
    assert "1 élève de Passerelle est absent du fichier" in preview
    assert muller.is_active_account  # listed, never silently deactivated
    report = _text(client.post(_confirm_url(preview)))
    assert "Élèves partis (1)" in report
    assert "MÜLLER Jérôme (1MELEC-A) — absent(e) du fichier SIECLE" in _plain(report)
    beranger = f.s.scalar(select(Learner).where(Learner.last_name == "BÉRANGER"))
    assert beranger.class_group.name == "TMELEC-B"
    assert beranger.class_group.level_id == tmelec_level  # same MEF: the existing level
    assert _count(f, Level) == levels
    assert muller.is_active_account

    # Deactivation needs the confirmation box; then the account is inactive, not deleted.
    ids = {"learner_ids": [str(muller.id)]}
    refused = client.post("/administration/import/departs", data=ids)
    assert refused.status_code == 422
    assert "Cochez la case pour confirmer la désactivation." in _text(refused)
    f.s.refresh(muller)
    assert muller.is_active_account
    done = client.post("/administration/import/departs", data={**ids, "confirm": "y"})
    assert done.status_code == 303
    f.s.refresh(muller)
    assert not muller.is_active_account and muller.anonymised_at is None
    assert _count(f, AuditLog, AuditLog.action == "import.departures") == 1
    # Back in a later file, the pupil is reactivated (shown as such in the preview).
    back = _text(_upload(client, "/administration/import/siecle", SIECLE))
    assert "compte réactivé" in back


def test_a_pupil_imported_by_csv_without_ine_is_found_by_name_and_birth_date(
    f: Any, login_as: Any
) -> None:
    group = f.class_group(name="1MELEC-A")
    hamidi = f.learner(
        class_group=group, last_name="HAMIDI", first_name="Yanis",
        external_id="nom:hamidi|yanis|2009-07-21",
    )  # fmt: skip
    muller = f.learner(
        class_group=group, last_name="MÜLLER", first_name="Jérôme",
        external_id="nom:muller|jerome|2009-06-27",
    )  # fmt: skip
    client = login_as(f.admin())
    page = _text(_upload(client, "/administration/import/siecle", SIECLE))
    assert _counts(page)["created"] == 5  # MÜLLER and HAMIDI already exist
    _import_siecle(f, client)
    f.s.refresh(muller)
    f.s.refresh(hamidi)
    assert muller.external_id == "ine:0701234569C"  # the INE replaces the name key
    assert hamidi.external_id == "nom:hamidi|yanis|2009-07-21"
    assert _count(f, Learner, Learner.last_name == "MÜLLER") == 1


XXE = b"""<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE BEE_ELEVES [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<BEE_ELEVES><DONNEES><ELEVES><ELEVE ELEVE_ID="1"><NOM_DE_FAMILLE>&xxe;</NOM_DE_FAMILLE>
<PRENOM>A</PRENOM><DATE_NAISS>01/01/2009</DATE_NAISS></ELEVE></ELEVES></DONNEES></BEE_ELEVES>"""
LAUGHS = (
    b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
    + b"".join(
        f'<!ENTITY lol{i} "{("&lol" + str(i - 1) + ";") * 10}">'.encode() for i in range(1, 10)
    ).replace(b"&lol0;", b"&lol;")
    + b"]><BEE_ELEVES>&lol9;</BEE_ELEVES>"
)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "Le fichier est vide."),
        (b"Nom;Pr\xe9nom;Classe\nA;B;C\n", "n'est pas un fichier XML"),
        (b"PK\x03\x04" + b"\x00" * 40, "archive ZIP"),
        (STS, "n'est pas l'export SIECLE des élèves : son élément racine est « STS_EDT »"),
        (XXE, "DOCTYPE"),
        (LAUGHS, "DOCTYPE"),
        (SIECLE[: len(SIECLE) // 2], "Le fichier XML est mal formé"),
        (b'<?xml version="1.0" encoding="x-unknown"?><BEE_ELEVES/>', "Encodage"),
        (b"<BEE_ELEVES><PARAMETRES/></BEE_ELEVES>", "DONNEES/ELEVES manquant"),
        (b"<BEE_ELEVES><DONNEES><ELEVES/></DONNEES></BEE_ELEVES>", "aucun élève"),
        (b"<BEE_ELEVES>" + b" " * (8 * 1024 * 1024) + b"</BEE_ELEVES>", "trop volumineux"),
    ],
    ids=["empty", "csv", "zip", "sts", "xxe", "laughs", "truncated", "encoding", "no-eleves",
         "no-pupil", "too-large"],
)  # fmt: skip
def test_bad_siecle_files_are_refused_with_a_french_reason(
    f: Any, login_as: Any, content: bytes, message: str
) -> None:
    client = login_as(f.admin())
    before = (_count(f, Learner), _count(f, ClassGroup), _count(f, AuditLog))
    response = _upload(client, "/administration/import/siecle", content)
    assert response.status_code == 422
    page = _text(response)
    assert message in page and 'class="field-error"' in page
    assert "root:" not in page
    assert (_count(f, Learner), _count(f, ClassGroup), _count(f, AuditLog)) == before


def test_confirming_twice_or_a_stranger_token_is_a_clear_message(f: Any, login_as: Any) -> None:
    client = login_as(f.admin())
    preview = _text(_upload(client, "/administration/import/siecle", SIECLE))
    url = _confirm_url(preview)
    other = login_as(f.admin()).post(url, follow_redirects=True)
    assert "n'est plus disponible" in _text(other)
    assert _count(f, Learner) == 0
    chosen = {SECONDE_FIELD: str(_framework(f, "BACPRO-MELEC").id)}
    assert client.post(url, data=chosen).status_code == 200
    assert _count(f, Learner) == 7
    again = client.post(url, data=chosen, follow_redirects=True)
    assert again.status_code == 200 and "n'est plus disponible" in _text(again)


# --- STS-web -----------------------------------------------------------------------------------


def test_sts_preview_import_levels_from_services_and_reimport(f: Any, login_as: Any) -> None:
    client = login_as(f.admin())
    _import_siecle(f, client)
    known = f.teacher(last_name="OUÉDRAOGO", first_name="François", email="f.ouedraogo@ac.fr")
    teachers = _count(f, Teacher)

    response = _upload(client, "/administration/import/sts", STS, "sts_emp_0330099X_2026.xml")
    assert response.status_code == 200
    page = _text(response)
    assert _counts(page) == {"created": 3, "updated": 1, "unchanged": 0, "rejected": 1}
    assert "RIVIÈRE" in page and "Gaëlle" in page and "prénom manquant" in page
    assert "1 personnel non enseignant (direction, vie scolaire…) ignoré" in page
    assert "Classes du fichier inconnues de Passerelle : 3PREPA" in page
    assert "MARCHAND" not in page  # the head of school is no teacher
    assert _count(f, Teacher) == teachers

    report = _text(client.post(_confirm_url_sts(page)))
    assert "Import STS-web des enseignants terminé" in report
    assert _count(f, Teacher) == teachers + 3
    riviere = f.s.scalar(select(Teacher).where(Teacher.external_id == "sts:41017"))
    assert (riviere.last_name, riviere.first_name, riviere.email) == ("RIVIÈRE", "Hélène", None)
    levels_of = {g.name: g.level_id for g in f.s.scalars(select(ClassGroup))}
    assert {lv.id for lv in riviere.levels} == {levels_of["2TNE-A"], levels_of["1MELEC-A"]}
    petit = f.s.scalar(select(Teacher).where(Teacher.external_id == "sts:41021"))
    assert {lv.id for lv in petit.levels} == {levels_of["1MELEC-A"]}  # through a group
    f.s.refresh(known)
    assert known.external_id == "sts:41018"  # the existing account, found by name
    assert {lv.id for lv in known.levels} == {levels_of["2TNE-A"], levels_of["TMELEC-A"]}

    # A teacher without e-mail (STS has none) is listed and editable like any other.
    listing = client.get("/administration/comptes?role=teacher")
    assert listing.status_code == 200 and "RIVIÈRE" in _text(listing)
    assert client.get(f"/administration/comptes/{riviere.id}").status_code == 200

    again = _text(_upload(client, "/administration/import/sts", STS))
    assert _counts(again) == {"created": 0, "updated": 0, "unchanged": 4, "rejected": 1}
    assert "Aucune ligne à enregistrer" in again
    assert _count(f, Teacher) == teachers + 3


def _confirm_url_sts(page: str) -> str:
    match = re.search(r'action="(/administration/import/sts/[^"]+)"', page)
    assert match
    return match.group(1)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (SIECLE, "son élément racine est « BEE_ELEVES », « STS_EDT » attendu"),
        (b"<STS_EDT><PARAMETRES/></STS_EDT>", "DONNEES/INDIVIDUS manquant"),
        (b"<STS_EDT><DONNEES><INDIVIDUS><INDIVIDU ID='1'><FONCTION>DIR</FONCTION></INDIVIDU>"
         b"</INDIVIDUS></DONNEES></STS_EDT>", "aucun enseignant"),
        (b"<STS_EDT><DONNEES>", "mal formé"),
        (XXE.replace(b"BEE_ELEVES", b"STS_EDT"), "DOCTYPE"),
    ],
    ids=["siecle", "no-individus", "no-teacher", "truncated", "xxe"],
)  # fmt: skip
def test_bad_sts_files_are_refused_with_a_french_reason(
    f: Any, login_as: Any, content: bytes, message: str
) -> None:
    client = login_as(f.admin())
    before = _count(f, Teacher)
    response = _upload(client, "/administration/import/sts", content)
    assert response.status_code == 422
    assert message in _text(response)
    assert _count(f, Teacher) == before


def test_markup_in_a_siecle_name_is_shown_as_text(f: Any, login_as: Any) -> None:
    evil = SIECLE.replace(
        "<PRENOM>Noé</PRENOM>".encode("iso-8859-1"),
        b"<PRENOM>&lt;script&gt;alert(1)&lt;/script&gt;</PRENOM>",
    )
    assert evil != SIECLE
    response = _upload(login_as(f.admin()), "/administration/import/siecle", evil)
    raw = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "<script>alert(1)" not in raw and "&lt;script&gt;alert(1)" in raw
