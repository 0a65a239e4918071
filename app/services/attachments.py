"""Annexes of an activity sheet: uploaded files and links (SPEC F5).

Files live under `UPLOAD_DIR/attachments/` (outside `static/`) with random names; they are
only ever found by the attachment's id, never by a name a user typed, so a path traversal is
impossible. A file is accepted on what its content is (magic bytes), not on its extension:
PDF, images, office documents and plain UTF-8 text. Files are removed from disk only after the
database transaction that forgets them commits (and new files are removed again if it rolls
back), so the disk and the database never disagree for long.
"""

from __future__ import annotations

import os
import re
import secrets
import unicodedata
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any
from urllib.parse import urlsplit

from flask import current_app
from sqlalchemy import event, select
from sqlalchemy.orm import Session

from app.errors import InvalidInput
from app.extensions import db
from app.models import ActivitySheet, Attachment, User
from app.models.base import utcnow

CHUNK = 64 * 1024
ACCEPTED_TYPES_LABEL = (
    "PDF, photos et images (JPEG, PNG, GIF, WebP, HEIC), documents Word, Excel, "
    "PowerPoint ou OpenDocument, texte"
)
MAX_URL_LENGTH = 2000
MAX_NAME_LENGTH = 200


@dataclass(frozen=True)
class FileType:
    content_type: str
    extensions: tuple[str, ...]  # the first is appended when the name does not match
    label: str


PDF = FileType("application/pdf", ("pdf",), "PDF")
PNG = FileType("image/png", ("png",), "image PNG")
JPEG = FileType("image/jpeg", ("jpg", "jpeg", "jpe"), "photo JPEG")
GIF = FileType("image/gif", ("gif",), "image GIF")
WEBP = FileType("image/webp", ("webp",), "image WebP")
HEIC = FileType("image/heic", ("heic", "heif"), "photo HEIC")
DOCX = FileType(
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    ("docx",),
    "document Word",
)
XLSX = FileType(
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", ("xlsx",), "classeur Excel"
)
PPTX = FileType(
    "application/vnd.openxmlformats-officedocument.presentationml.presentation",
    ("pptx",),
    "présentation PowerPoint",
)
ODT = FileType("application/vnd.oasis.opendocument.text", ("odt",), "document OpenDocument")
ODS = FileType("application/vnd.oasis.opendocument.spreadsheet", ("ods",), "classeur OpenDocument")
ODP = FileType(
    "application/vnd.oasis.opendocument.presentation", ("odp",), "présentation OpenDocument"
)
TEXT = FileType("text/plain", ("txt", "csv", "md", "log"), "texte")

ODF_TYPES = {t.content_type: t for t in (ODT, ODS, ODP)}
TYPE_LABELS = {
    t.content_type: t.label
    for t in (PDF, PNG, JPEG, GIF, WEBP, HEIC, DOCX, XLSX, PPTX, ODT, ODS, ODP, TEXT)
}
HEIC_BRANDS = {b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"mif1", b"msf1"}
EXECUTABLE_MAGIC = (
    b"MZ",  # Windows PE / DOS
    b"\x7fELF",  # Linux
    b"\xfe\xed\xfa\xce",  # Mach-O
    b"\xfe\xed\xfa\xcf",
    b"\xce\xfa\xed\xfe",
    b"\xcf\xfa\xed\xfe",
    b"\xca\xfe\xba\xbe",  # Mach-O universal / Java class
    b"#!",  # script with a shebang
    b"\x00asm",  # WebAssembly
)
MARKUP = re.compile(
    rb"<\s*(html|script|svg|!doctype|\?xml|iframe|body|object|embed|meta|head)\b", re.IGNORECASE
)

REFUSED_EXECUTABLE = (
    "Ce fichier est un programme ou un script : il est refusé, même renommé. "
    "Types acceptés : " + ACCEPTED_TYPES_LABEL + "."
)
REFUSED_TYPE = (
    "Ce type de fichier n'est pas accepté. Types acceptés : " + ACCEPTED_TYPES_LABEL + "."
)


# --- content sniffing -------------------------------------------------------------------------


def sniff(path: Path) -> FileType:
    """The type of the file at `path`, from its content; InvalidInput when not allowed."""
    with path.open("rb") as handle:
        head = handle.read(4096)
    if not head:
        raise InvalidInput("Le fichier est vide.")
    if head.startswith(EXECUTABLE_MAGIC):
        raise InvalidInput(REFUSED_EXECUTABLE)
    if head.startswith(b"%PDF-"):
        return PDF
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return PNG
    if head.startswith(b"\xff\xd8\xff"):
        return JPEG
    if head.startswith((b"GIF87a", b"GIF89a")):
        return GIF
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return WEBP
    if head[4:8] == b"ftyp" and head[8:12] in HEIC_BRANDS:
        return HEIC
    if head.startswith(b"PK\x03\x04"):
        return _sniff_zip(path)
    return _sniff_text(path)


def _sniff_zip(path: Path) -> FileType:
    """Office Open XML and OpenDocument files are zip archives with known entries; other
    archives (which could carry anything) and macro-enabled documents are refused."""
    try:
        with zipfile.ZipFile(path) as archive:
            names = set(archive.namelist())
            if any(name.lower().endswith("vbaproject.bin") for name in names) or any(
                name.startswith(("Basic/", "Scripts/")) for name in names
            ):
                raise InvalidInput(
                    "Les documents contenant des macros ne sont pas acceptés. "
                    "Enregistrez-le sans macro (.docx, .xlsx, .pptx) ou en PDF."
                )
            if "[Content_Types].xml" in names:
                if "word/document.xml" in names:
                    return DOCX
                if "xl/workbook.xml" in names:
                    return XLSX
                if "ppt/presentation.xml" in names:
                    return PPTX
            if "mimetype" in names:
                with archive.open("mimetype") as entry:
                    mimetype = entry.read(100).decode("ascii", "replace").strip()
                if mimetype in ODF_TYPES:
                    return ODF_TYPES[mimetype]
    except (zipfile.BadZipFile, OSError, ValueError, RuntimeError) as error:
        raise InvalidInput("Ce fichier est endommagé ou n'est pas un document valide.") from error
    raise InvalidInput(
        "Les archives (ZIP…) ne sont pas acceptées : joignez les fichiers un par un. "
        "Types acceptés : " + ACCEPTED_TYPES_LABEL + "."
    )


def _sniff_text(path: Path) -> FileType:
    data = path.read_bytes()
    if b"\x00" in data:
        raise InvalidInput(REFUSED_TYPE)
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise InvalidInput(REFUSED_TYPE) from error
    body = data.removeprefix(b"\xef\xbb\xbf").lstrip()
    if body.startswith(b"#!"):
        raise InvalidInput(REFUSED_EXECUTABLE)
    if MARKUP.search(data[:8192]):
        raise InvalidInput(
            "Les pages web (HTML, SVG) ne sont pas acceptées : enregistrez-les en PDF. "
            "Types acceptés : " + ACCEPTED_TYPES_LABEL + "."
        )
    return TEXT


# --- names and URLs -------------------------------------------------------------------------


def clean_filename(filename: str | None, kind: FileType) -> str:
    """The name shown and used on download: no directories, no control characters, and an
    extension that matches the real content (photo.exe holding a JPEG becomes photo.exe.jpg)."""
    name = (filename or "").replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(ch for ch in name if unicodedata.category(ch)[0] != "C").strip(" .")
    if not name:
        name = "fichier"
    stem, dot, extension = name.rpartition(".")
    if not dot or extension.lower() not in kind.extensions:
        name = f"{name}.{kind.extensions[0]}"
    if len(name) > MAX_NAME_LENGTH:
        stem, _, extension = name.rpartition(".")
        name = f"{stem[: MAX_NAME_LENGTH - len(extension) - 1]}.{extension}"
    return name


def clean_url(raw: str | None) -> str:
    """An absolute http(s) URL, or InvalidInput: never javascript:, data:, file: and the like."""
    url = (raw or "").strip()
    if not url:
        raise InvalidInput("Saisissez l'adresse du lien.")
    if len(url) > MAX_URL_LENGTH:
        raise InvalidInput("Cette adresse est trop longue.")
    if any(ch.isspace() or unicodedata.category(ch)[0] == "C" for ch in url):
        raise InvalidInput("Une adresse web ne contient pas d'espace.")
    try:
        parts = urlsplit(url)
        hostname = parts.hostname
    except ValueError as error:
        raise InvalidInput("Cette adresse web n'est pas valide.") from error
    if parts.scheme.lower() not in ("http", "https"):
        raise InvalidInput(
            "Seules les adresses web commençant par http:// ou https:// sont acceptées."
        )
    if not hostname:
        raise InvalidInput("Cette adresse web n'est pas valide (il manque le nom du site).")
    return url


def safe_href(url: str | None) -> str | None:
    """The URL if it is still a valid http(s) address (checked again when rendering, in case
    a row was written by another path), else None: never a javascript: link."""
    try:
        return clean_url(url)
    except InvalidInput:
        return None


# --- storage --------------------------------------------------------------------------------


def upload_dir() -> Path:
    return Path(current_app.config["UPLOAD_DIR"]) / "attachments"


def file_path(attachment: Attachment) -> Path | None:
    """Where the file of an attachment is stored, or None (links, missing names)."""
    name = attachment.stored_name
    if attachment.kind != "file" or not name or not re.fullmatch(r"[0-9a-f]{32}", name):
        return None
    return upload_dir() / name


def _write_stream(stream: IO[bytes], max_bytes: int) -> tuple[str, int]:
    directory = upload_dir()
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    stored_name = secrets.token_hex(16)
    path = directory / stored_name
    size = 0
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as out:
            while chunk := stream.read(CHUNK):
                size += len(chunk)
                if size > max_bytes:
                    limit = _megabytes(max_bytes)
                    raise InvalidInput(
                        f"Le fichier dépasse la taille maximale autorisée ({limit})."
                    )
                out.write(chunk)
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    return stored_name, size


def _megabytes(size: int) -> str:
    value = size / (1024 * 1024)
    return f"{value:.0f} Mo" if value >= 1 else f"{size / 1024:.0f} Ko"


def human_size(size: int) -> str:
    """1,4 Mo · 230 Ko · 12 octets."""
    if size >= 1024 * 1024:
        text = f"{size / (1024 * 1024):.1f}".removesuffix(".0")
        return f"{text} Mo".replace(".", ",")
    if size >= 1024:
        return f"{size / 1024:.0f} Ko"
    return f"{size} octet{'s' if size > 1 else ''}"


def _session_list(session: Session, key: str) -> list[str]:
    return session.info.setdefault(key, [])


def delete_files_after_commit(stored_names: Iterable[str | None]) -> None:
    """Remove these files from disk once the current transaction commits (never before: a
    rolled-back deletion keeps its files)."""
    _session_list(db.session(), "attachments_delete_on_commit").extend(
        name for name in stored_names if name
    )


def _remove(names: list[str]) -> None:
    directory = upload_dir()
    for name in names:
        if re.fullmatch(r"[0-9a-f]{32}", name):
            (directory / name).unlink(missing_ok=True)


@event.listens_for(Session, "after_commit")
def _after_commit(session: Session) -> None:
    doomed = session.info.pop("attachments_delete_on_commit", [])
    session.info.pop("attachments_new_files", None)
    if doomed:
        _remove(doomed)


@event.listens_for(Session, "after_soft_rollback")
def _after_rollback(session: Session, previous_transaction: Any) -> None:
    if previous_transaction.parent is not None:
        return  # a nested savepoint: the outer transaction decides
    session.info.pop("attachments_delete_on_commit", None)
    fresh = session.info.pop("attachments_new_files", [])
    if fresh:
        _remove(fresh)


# --- verbs ----------------------------------------------------------------------------------


def add_file(
    sheet: ActivitySheet, user: User, stream: IO[bytes], filename: str | None
) -> Attachment:
    """Store an uploaded file for the sheet after checking its size and real type."""
    max_bytes = int(current_app.config["MAX_UPLOAD_BYTES"])
    stored_name, size = _write_stream(stream, max_bytes)
    path = upload_dir() / stored_name
    try:
        if size == 0:
            raise InvalidInput("Le fichier est vide.")
        kind = sniff(path)
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    _session_list(db.session(), "attachments_new_files").append(stored_name)
    attachment = Attachment(
        sheet_id=sheet.id,
        kind="file",
        original_name=clean_filename(filename, kind),
        stored_name=stored_name,
        content_type=kind.content_type,
        size=size,
    )
    db.session.add(attachment)
    _touched_by(sheet, user)
    db.session.flush()
    return attachment


def add_url(
    sheet: ActivitySheet, user: User, url: str | None, label: str | None = ""
) -> Attachment:
    """Link a web page to the sheet (http/https only)."""
    clean = clean_url(url)
    title = (label or "").strip()[:MAX_NAME_LENGTH]
    attachment = Attachment(sheet_id=sheet.id, kind="url", url=clean, original_name=title)
    db.session.add(attachment)
    _touched_by(sheet, user)
    db.session.flush()
    return attachment


def delete_attachment(attachment: Attachment, user: User) -> None:
    """Forget an annex; its file goes once the transaction commits."""
    sheet = attachment.sheet
    delete_files_after_commit([attachment.stored_name])
    db.session.delete(attachment)
    _touched_by(sheet, user)
    db.session.flush()


def stored_names_of_sheets(sheet_ids: Iterable[int]) -> list[str]:
    """Stored file names of these sheets' annexes (for callers deleting sheets in bulk)."""
    ids = list(sheet_ids)
    if not ids:
        return []
    return [
        name
        for name in db.session.scalars(
            select(Attachment.stored_name).where(
                Attachment.sheet_id.in_(ids), Attachment.kind == "file"
            )
        )
        if name
    ]


def _touched_by(sheet: ActivitySheet, user: User) -> None:
    if user.id == sheet.learner_id:
        sheet.learner_updated_at = utcnow()


# --- files of other aggregates (convention scans) -----------------------------------------------


@dataclass(frozen=True)
class StoredFile:
    stored_name: str
    original_name: str
    content_type: str
    size: int


def store_checked_file(
    stream: IO[bytes], filename: str | None, *, allowed: set[FileType]
) -> StoredFile:
    """Store an upload with the same size and content checks as sheet annexes, restricted to
    the `allowed` types; the file is removed again if the transaction rolls back."""
    max_bytes = int(current_app.config["MAX_UPLOAD_BYTES"])
    stored_name, size = _write_stream(stream, max_bytes)
    path = upload_dir() / stored_name
    try:
        if size == 0:
            raise InvalidInput("Le fichier est vide.")
        kind = sniff(path)
        if kind not in allowed:
            labels = ", ".join(sorted(t.label for t in allowed))
            raise InvalidInput(
                f"Ce type de fichier n'est pas accepté ici. Types acceptés : {labels}."
            )
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    _session_list(db.session(), "attachments_new_files").append(stored_name)
    return StoredFile(stored_name, clean_filename(filename, kind), kind.content_type, size)


def stored_file_path(stored_name: str | None) -> Path | None:
    """Where a file stored by store_checked_file lives (None for a missing or odd name)."""
    if not stored_name or not re.fullmatch(r"[0-9a-f]{32}", stored_name):
        return None
    return upload_dir() / stored_name
