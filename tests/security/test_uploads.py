"""Upload checks not already in tests/blueprints/test_sheets.py (executables, HTML/SVG
disguised as text or images, size limits, javascript: links, download headers of a PDF) and
tests/services/test_attachments.py (the sniffer: macros, archives, broken files; names):
file names that try to leave the upload folder, the client's claimed type being ignored,
archives whose entries escape ("zip slip"), polyglot images, and the school images.
"""

from __future__ import annotations

import io
import struct
import zipfile
import zlib
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select

from app.models import Attachment
from tests.security import fresh_session


def _upload(
    client: Any, sheet_id: int, data: bytes, name: str, content_type: str | None = None
) -> Any:
    file = (io.BytesIO(data), name, content_type) if content_type else (io.BytesIO(data), name)
    fresh_session()
    return client.post(
        f"/fiches/{sheet_id}/annexes", data={"file": file}, content_type="multipart/form-data"
    )


def _files_under(root: Path) -> set[Path]:
    return {path for path in root.rglob("*") if path.is_file()}


def _attachments(db: Any, sheet_id: int) -> list[Attachment]:
    return list(db.session.scalars(select(Attachment).where(Attachment.sheet_id == sheet_id)))


def png(width: int = 1, height: int = 1, extra: bytes = b"") -> bytes:
    """A valid greyscale PNG (optionally with an extra tEXt chunk)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    raw = b"".join(b"\x00" + b"\x00" * width for _ in range(height))
    text = chunk(b"tEXt", b"Comment\x00" + extra) if extra else b""
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
        + text
        + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )


@pytest.mark.parametrize(
    "name",
    [
        "../../../../tmp/evil.txt",
        "..\\..\\..\\evil.txt",
        "/etc/cron.d/evil.txt",
        "sub/dir/../../../evil.txt",
        "....//....//evil.txt",
        "evil\x00.txt",
        "..",
    ],
)
def test_a_file_name_cannot_place_the_file_outside_the_upload_folder(
    name: str, app: Flask, f: Any, login_as: Any, db: Any
) -> None:
    root = Path(app.config["UPLOAD_DIR"]).parent  # the test's whole temporary folder
    world = f.world()
    client = login_as(world.learner)
    sheet_id = world.sheet.id
    before = _files_under(root)
    response = _upload(client, sheet_id, b"Compte rendu de la semaine.\n", name)
    assert response.status_code in (303, 422), response.status_code
    created = _files_under(root) - before
    attachments_dir = (Path(app.config["UPLOAD_DIR"]) / "attachments").resolve()
    assert all(path.resolve().parent == attachments_dir for path in created), created
    for attachment in _attachments(db, sheet_id):
        assert "/" not in attachment.original_name and "\\" not in attachment.original_name
        assert not attachment.original_name.startswith(".")
        assert "\x00" not in attachment.original_name


def test_the_type_is_read_from_the_content_not_from_the_client(
    f: Any, login_as: Any, db: Any
) -> None:
    world = f.world()
    client = login_as(world.learner)
    sheet_id = world.sheet.id
    response = _upload(client, sheet_id, b"Bonjour, simple texte.\n", "page.html", "text/html")
    assert response.status_code == 303
    (attachment,) = _attachments(db, sheet_id)
    assert attachment.content_type == "text/plain"
    assert attachment.original_name.endswith(".txt")  # never served as .html
    attachment_id = attachment.id
    fresh_session()
    download = client.get(f"/fiches/{sheet_id}/annexes/{attachment_id}")
    assert download.status_code == 200
    assert download.mimetype == "text/plain"
    assert download.headers["Content-Disposition"].startswith("attachment")


def test_a_polyglot_image_is_served_as_an_inert_download(f: Any, login_as: Any, db: Any) -> None:
    """A GIF header followed by HTML is accepted as an image, but a browser never renders it
    as a page: attachment, nosniff, image type and a sandboxing CSP."""
    world = f.world()
    client = login_as(world.learner)
    sheet_id = world.sheet.id
    polyglot = b"GIF89a\x01\x00\x01\x00\x00\x00\x00;<html><script>alert(1)</script></html>"
    response = _upload(client, sheet_id, polyglot, "image.html", "text/html")
    assert response.status_code == 303
    stored = [(a.id, a.original_name) for a in _attachments(db, sheet_id)]
    assert len(stored) == 1
    for attachment_id, original_name in stored:
        assert not original_name.endswith(".html")
        fresh_session()
        download = client.get(f"/fiches/{sheet_id}/annexes/{attachment_id}")
        assert download.mimetype == "image/gif"
        assert download.headers["X-Content-Type-Options"] == "nosniff"
        assert download.headers["Content-Disposition"].startswith("attachment")
        assert "sandbox" in download.headers["Content-Security-Policy"]


def _zip(entries: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
    return buffer.getvalue()


# Macro documents, plain archives and broken zips are refused by the sniffer
# (tests/services/test_attachments.py); here, at the route, archives whose entries try to
# leave the folder ("zip slip"), disguised as an archive or as a Word document.
@pytest.mark.parametrize(
    ("content", "name", "message"),
    [
        (_zip({"../../evil.sh": b"#!/bin/sh\n"}), "archive.zip", "archives"),
        (_zip({"../../evil.sh": b"#!/bin/sh\n"}), "rapport.docx", "archives"),
        (
            _zip(
                {
                    "[Content_Types].xml": b"<Types/>",
                    "word/document.xml": b"<w:document/>",
                    "../../../evil.sh": b"#!/bin/sh\n",
                    "word/vbaProject.bin": b"\x00" * 10,
                }
            ),
            "rapport.docx",
            "macros",
        ),
    ],
)
def test_archives_with_escaping_entries_are_refused_and_never_extracted(
    content: bytes, name: str, message: str, app: Flask, f: Any, login_as: Any, db: Any
) -> None:
    root = Path(app.config["UPLOAD_DIR"]).parent
    world = f.world()
    client = login_as(world.learner)
    sheet_id = world.sheet.id
    before = _files_under(root)
    response = _upload(client, sheet_id, content, name)
    assert response.status_code == 422
    assert message in response.get_data(as_text=True)
    assert not _attachments(db, sheet_id)
    assert _files_under(root) == before  # nothing left on disk, nothing extracted


def test_upload_without_a_file_or_with_two_is_a_form_error(f: Any, login_as: Any) -> None:
    world = f.world()
    client = login_as(world.learner)
    sheet_id = world.sheet.id
    fresh_session()
    empty = client.post(f"/fiches/{sheet_id}/annexes", data={}, content_type="multipart/form-data")
    assert empty.status_code == 422
    fresh_session()
    nameless = client.post(
        f"/fiches/{sheet_id}/annexes",
        data={"file": (io.BytesIO(b""), "")},
        content_type="multipart/form-data",
    )
    assert nameless.status_code == 422
    fresh_session()
    two = client.post(
        f"/fiches/{sheet_id}/annexes",
        data={"file": [(io.BytesIO(b"un\n"), "a.txt"), (io.BytesIO(b"deux\n"), "b.txt")]},
        content_type="multipart/form-data",
    )
    assert two.status_code in (303, 422)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>', "PNG ou JPEG"),
        (b"\x89PNG\r\n\x1a\n<html><script>alert(1)</script>", "pas une image"),
        (b"\xff\xd8\xff" + b"<script>alert(1)</script>", "pas une image"),
        (png(5000, 5000), "trop grande"),
        (b"", "vide"),
    ],
)
def test_school_images_must_be_real_small_png_or_jpeg(
    data: bytes, message: str, app: Flask
) -> None:
    from app.services.school import FieldError, check_image

    with pytest.raises(FieldError) as error:
        check_image(data, "logo")
    assert message in str(error.value.args) + str(getattr(error.value, "message", ""))


def test_a_real_png_is_accepted_as_a_school_image(app: Flask) -> None:
    from app.services.school import check_image

    assert check_image(png(4, 4), "logo") == "png"
