"""Annex storage: content sniffing (not extensions), names, URLs, size limit, and files that
follow the database (deleted on commit, cleaned on rollback)."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path
from typing import Any

import pytest

from app.errors import InvalidInput
from app.models import Attachment
from app.services import attachments as svc

PDF = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<<>>\nendobj\n"
PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + b"\x00" * 40
JPEG = b"\xff\xd8\xff\xe1\x00\x18Exif\x00\x00" + b"\x00" * 40
GIF = b"GIF89a\x01\x00\x01\x00" + b"\x00" * 20
WEBP = b"RIFF\x24\x00\x00\x00WEBPVP8 " + b"\x00" * 40
HEIC = b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic" + b"\x00" * 40


def _zip(entries: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, content in entries.items():
            archive.writestr(name, content)
    return buffer.getvalue()


DOCX = _zip({"[Content_Types].xml": b"<Types/>", "word/document.xml": b"<w:document/>"})
XLSX = _zip({"[Content_Types].xml": b"<Types/>", "xl/workbook.xml": b"<workbook/>"})
PPTX = _zip({"[Content_Types].xml": b"<Types/>", "ppt/presentation.xml": b"<p/>"})
ODT = _zip({"mimetype": b"application/vnd.oasis.opendocument.text", "content.xml": b"<x/>"})
DOCM = _zip(
    {
        "[Content_Types].xml": b"<Types/>",
        "word/document.xml": b"<w:document/>",
        "word/vbaProject.bin": b"\x00macro",
    }
)
PLAIN_ZIP = _zip({"virus.exe": b"MZ\x90\x00"})


def _sniff(tmp_path: Path, content: bytes) -> svc.FileType:
    path = tmp_path / "upload"
    path.write_bytes(content)
    return svc.sniff(path)


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (PDF, svc.PDF),
        (PNG, svc.PNG),
        (JPEG, svc.JPEG),
        (GIF, svc.GIF),
        (WEBP, svc.WEBP),
        (HEIC, svc.HEIC),
        (DOCX, svc.DOCX),
        (XLSX, svc.XLSX),
        (PPTX, svc.PPTX),
        (ODT, svc.ODT),
        ("Compte rendu : câblage terminé.\n".encode(), svc.TEXT),
        (b"\xef\xbb\xbfdate;heures\n2026-06-08;7\n", svc.TEXT),
    ],
)
def test_allowed_types_are_recognised_by_content(
    tmp_path: Path, content: bytes, expected: svc.FileType
) -> None:
    assert _sniff(tmp_path, content) == expected


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"MZ\x90\x00\x03\x00\x00\x00" + b"\x00" * 64, "programme ou un script"),
        (b"\x7fELF\x02\x01\x01\x00" + b"\x00" * 64, "programme ou un script"),
        (b"\xcf\xfa\xed\xfe\x07\x00\x00\x01", "programme ou un script"),
        (b"#!/usr/bin/env python\nimport os\n", "programme ou un script"),
        (b"\xef\xbb\xbf  #!/bin/sh\necho\n", "programme ou un script"),
        (b"<!DOCTYPE html><html><body>x</body></html>", "pages web"),
        (b"Bonjour <script>alert(1)</script>", "pages web"),
        (b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg"/>', "pages web"),
        (DOCM, "macros"),
        (PLAIN_ZIP, "archives"),
        (b"PK\x03\x04 broken zip", "endommagé"),
        (b"\x00\x01\x02\x03binary", "n'est pas accepté"),
        ("latin-1 é".encode("latin-1"), "n'est pas accepté"),
        (b"", "vide"),
    ],
)
def test_refused_content_says_why(tmp_path: Path, content: bytes, message: str) -> None:
    with pytest.raises(InvalidInput) as error:
        _sniff(tmp_path, content)
    assert message in error.value.message


def test_names_keep_no_directory_and_match_the_content() -> None:
    assert svc.clean_filename("../../etc/passwd", svc.TEXT) == "passwd.txt"
    assert svc.clean_filename("C:\\Users\\inès\\photo.JPG", svc.JPEG) == "photo.JPG"
    assert svc.clean_filename("photo.exe", svc.JPEG) == "photo.exe.jpg"
    assert svc.clean_filename("rapport\x00\n.pdf", svc.PDF) == "rapport.pdf"
    assert svc.clean_filename("", svc.PDF) == "fichier.pdf"
    assert svc.clean_filename(None, svc.PNG) == "fichier.png"
    long = svc.clean_filename("a" * 400 + ".pdf", svc.PDF)
    assert len(long) == svc.MAX_NAME_LENGTH and long.endswith(".pdf")


@pytest.mark.parametrize(
    "url",
    [
        "https://www.legrand.fr/notice.pdf",
        "http://intranet.lycee.fr:8080/a?b=c#d",
        "  https://example.org  ",
    ],
)
def test_http_urls_are_accepted(url: str) -> None:
    assert svc.clean_url(url) == url.strip()


@pytest.mark.parametrize(
    "url",
    [
        "javascript:alert(1)",
        "JavaScript:alert(document.cookie)",
        " javascript:alert(1)",
        "data:text/html;base64,PHNjcmlwdD4=",
        "vbscript:msgbox",
        "file:///etc/passwd",
        "ftp://example.org/x",
        "//evil.example/x",
        "example.org",
        "http://",
        "https:///path",
        "https://exa mple.org",
        "https://example.org/\x00",
        "https://[::1",
        "",
        "https://example.org/" + "a" * 2100,
    ],
)
def test_other_urls_are_refused(url: str) -> None:
    with pytest.raises(InvalidInput):
        svc.clean_url(url)


def test_file_is_stored_under_a_random_name_outside_static(f: Any, app: Any) -> None:
    w = f.world()
    attachment = svc.add_file(w.sheet, w.learner, io.BytesIO(PDF), "../../compte rendu.pdf")
    path = svc.file_path(attachment)
    assert path is not None and path.read_bytes() == PDF
    assert path.parent == Path(app.config["UPLOAD_DIR"]) / "attachments"
    assert not str(path).startswith(str(app.static_folder))
    assert attachment.original_name == "compte rendu.pdf"
    assert attachment.stored_name != attachment.original_name
    assert (attachment.size, attachment.content_type) == (len(PDF), "application/pdf")
    assert w.sheet.learner_updated_at is not None


def test_file_over_the_limit_is_refused_and_not_kept(f: Any, app: Any, monkeypatch: Any) -> None:
    w = f.world()
    monkeypatch.setitem(app.config, "MAX_UPLOAD_BYTES", 1024)
    folder = Path(app.config["UPLOAD_DIR"]) / "attachments"
    before = set(folder.glob("*")) if folder.exists() else set()
    with pytest.raises(InvalidInput) as error:
        svc.add_file(w.sheet, w.learner, io.BytesIO(PDF + b"x" * 2000), "big.pdf")
    assert "taille maximale" in error.value.message and "1 Ko" in error.value.message
    assert set(folder.glob("*")) == before
    assert f.s.query(Attachment).count() == 0


def test_file_path_never_follows_a_crafted_name(f: Any) -> None:
    w = f.world()
    crafted = Attachment(sheet_id=w.sheet.id, kind="file", stored_name="../../secret_key")
    assert svc.file_path(crafted) is None
    link = Attachment(sheet_id=w.sheet.id, kind="url", url="https://example.org")
    assert svc.file_path(link) is None


def test_files_are_removed_only_when_the_deletion_commits(f: Any, db: Any) -> None:
    w = f.world()
    attachment = svc.add_file(w.sheet, w.learner, io.BytesIO(PNG), "schema.png")
    db.session.commit()
    path = svc.file_path(attachment)
    assert path is not None and path.exists()
    svc.delete_attachment(attachment, w.learner)
    assert path.exists()  # not yet: the transaction may still roll back
    db.session.commit()
    assert not path.exists()


def test_a_rolled_back_deletion_keeps_the_file(f: Any, db: Any) -> None:
    w = f.world()
    attachment = svc.add_file(w.sheet, w.learner, io.BytesIO(PNG), "schema.png")
    db.session.commit()
    path = svc.file_path(attachment)
    assert path is not None
    svc.delete_files_after_commit([attachment.stored_name])
    db.session.rollback()
    db.session.commit()
    assert path.exists()


def test_a_rolled_back_upload_leaves_no_file(f: Any, db: Any) -> None:
    w = f.world()
    db.session.commit()
    attachment = svc.add_file(w.sheet, w.learner, io.BytesIO(GIF), "anim.gif")
    path = svc.file_path(attachment)
    assert path is not None and path.exists()
    db.session.rollback()
    assert not path.exists()


def test_links_are_stored_with_an_optional_title(f: Any) -> None:
    w = f.world()
    link = svc.add_url(w.sheet, w.learner, " https://example.org/a ", "  Vidéo du chantier ")
    assert (link.kind, link.url, link.original_name) == (
        "url",
        "https://example.org/a",
        "Vidéo du chantier",
    )
    assert link.stored_name is None


def test_human_size() -> None:
    assert svc.human_size(1) == "1 octet"
    assert svc.human_size(512) == "512 octets"
    assert svc.human_size(230 * 1024) == "230 Ko"
    assert svc.human_size(int(1.4 * 1024 * 1024)) == "1,4 Mo"
    assert svc.human_size(10 * 1024 * 1024) == "10 Mo"
