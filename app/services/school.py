"""The school itself: its settings (name, UAI, address, logo and stamp images) and its
structure (levels and classes), as the admin manages them.

Images are accepted on their content (PNG or JPEG magic bytes, then fully decoded by Pillow
with a pixel limit), never on their name, and stored under UPLOAD_DIR with a random name;
they are served by an authenticated route and embedded in documents from disk.
"""

from __future__ import annotations

import io
import re
import secrets
import warnings
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from app.extensions import db
from app.models import ClassGroup, Framework, Learner, Level, Period, School, User
from app.models.school import teacher_levels
from app.services import audit
from app.services.liaison import normalize_email, normalize_phone
from app.services.periods import FieldError

MAX_IMAGE_BYTES = 2 * 1024 * 1024
MAX_IMAGE_PIXELS = 4000 * 4000
IMAGE_KINDS = {"png": "image/png", "jpg": "image/jpeg"}
_STORED = re.compile(r"school-[0-9a-f]{32}\.(png|jpg)")
_UAI = re.compile(r"\d{7}[A-Z]")


# --- settings --------------------------------------------------------------------------------


def get_school() -> School | None:
    return db.session.scalar(select(School).order_by(School.id).limit(1))


@dataclass
class SchoolInput:
    name: str
    uai: str = ""
    address: str = ""
    postal_code: str = ""
    city: str = ""
    phone: str = ""
    email: str = ""
    head_name: str = ""
    logo: bytes | None = None
    stamp: bytes | None = None
    remove_logo: bool = False
    remove_stamp: bool = False


@dataclass
class SettingsResult:
    school: School
    changed: list[str]
    # Files to remove from disk once the transaction has committed (replaced or removed).
    obsolete_files: list[str] = field(default_factory=list)
    # Files written by this call, to remove if the transaction rolls back.
    new_files: list[str] = field(default_factory=list)


def check_image(data: bytes, field_name: str) -> str:
    """The extension ("png" or "jpg") of a valid image; FieldError otherwise."""
    if not data:
        raise FieldError(field_name, "Le fichier est vide.")
    if len(data) > MAX_IMAGE_BYTES:
        raise FieldError(field_name, "L'image dépasse 2 Mo : réduisez-la avant de l'envoyer.")
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        ext, expected = "png", "PNG"
    elif data.startswith(b"\xff\xd8\xff"):
        ext, expected = "jpg", "JPEG"
    else:
        raise FieldError(field_name, "Seules les images PNG ou JPEG sont acceptées.")
    from PIL import Image  # Pillow comes with WeasyPrint

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as image:
                if image.format != expected:
                    raise ValueError("format does not match the magic bytes")
                if image.width * image.height > MAX_IMAGE_PIXELS:
                    raise FieldError(field_name, "L'image est trop grande (16 mégapixels au plus).")
                image.load()
    except FieldError:
        raise
    except Exception:  # any decoding failure means a corrupt or disguised file
        raise FieldError(field_name, "Ce fichier n'est pas une image PNG ou JPEG valide.") from None
    return ext


def _write_image(upload_dir: Path, data: bytes, ext: str) -> str:
    upload_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    name = f"school-{secrets.token_hex(16)}.{ext}"
    (upload_dir / name).write_bytes(data)
    return name


def image_path(upload_dir: Path, stored: str | None) -> Path | None:
    """Where a school image lives, only for names this module generated (no traversal)."""
    if not stored or not _STORED.fullmatch(stored):
        return None
    path = upload_dir / stored
    return path if path.is_file() else None


def image_type(stored: str) -> str:
    return IMAGE_KINDS[stored.rsplit(".", 1)[-1]]


def update_settings(actor: User, data: SchoolInput, upload_dir: Path) -> SettingsResult:
    """Create or update the school's settings. Image files are written now; the caller removes
    `obsolete_files` after the commit (and `new_files` if it fails)."""
    name = " ".join(data.name.split())
    if not name:
        raise FieldError("name", "Indiquez le nom de l'établissement.")
    if len(name) > 200:
        raise FieldError("name", "200 caractères au maximum.")
    uai = data.uai.strip().upper()
    if uai and not _UAI.fullmatch(uai):
        raise FieldError("uai", "Le code UAI compte 7 chiffres suivis d'une lettre (ex. 0350001A).")
    postal_code = data.postal_code.strip()
    if postal_code and not re.fullmatch(r"\d{5}", postal_code):
        raise FieldError("postal_code", "Le code postal compte 5 chiffres.")
    city = " ".join(data.city.split())
    if len(city) > 120:
        raise FieldError("city", "120 caractères au maximum.")
    address = data.address.strip()
    if len(address) > 1000:
        raise FieldError("address", "1000 caractères au maximum.")
    values: dict[str, object] = {
        "name": name,
        "uai": uai or None,
        "address": address,
        "postal_code": postal_code,
        "city": city,
        "phone": normalize_phone(data.phone, "phone", required=False),
        "email": normalize_email(data.email, "email", required=False),
        "head_name": " ".join(data.head_name.split())[:160],
    }
    logo_ext = check_image(data.logo, "logo") if data.logo else None
    stamp_ext = check_image(data.stamp, "stamp") if data.stamp else None

    school = get_school()
    if school is None:
        school = School(name=name)
        db.session.add(school)
    result = SettingsResult(school=school, changed=[])
    for key, value in values.items():
        if getattr(school, key) != value:
            setattr(school, key, value)
            result.changed.append(key)
    for attr, content, ext, remove in (
        ("logo_file", data.logo, logo_ext, data.remove_logo),
        ("stamp_file", data.stamp, stamp_ext, data.remove_stamp),
    ):
        old = getattr(school, attr)
        if content and ext:
            new = _write_image(upload_dir, content, ext)
            result.new_files.append(new)
            setattr(school, attr, new)
        elif remove and old:
            setattr(school, attr, None)
        else:
            continue
        if old:
            result.obsolete_files.append(old)
        result.changed.append(attr)
    db.session.flush()
    if result.changed:
        audit.record(actor, "school.updated", "school", school.id, fields=result.changed)
    return result


def remove_files(upload_dir: Path, names: list[str]) -> None:
    for name in names:
        path = image_path(upload_dir, name)
        if path is not None:
            path.unlink(missing_ok=True)


# --- levels and classes ----------------------------------------------------------------------


@dataclass
class LevelLine:
    level: Level
    framework_title: str
    classes: list[tuple[ClassGroup, int]]  # class and its number of learners
    teacher_count: int
    period_count: int


def list_structure() -> list[LevelLine]:
    """Every level with its diploma, classes (and learners per class), teachers and periods,
    in five queries whatever their number."""
    levels = list(db.session.scalars(select(Level).order_by(Level.position, Level.name)))
    titles = dict(db.session.execute(select(Framework.id, Framework.short_title)).all())
    learner_counts = dict(
        db.session.execute(
            select(Learner.class_group_id, func.count())
            .where(Learner.class_group_id.isnot(None), Learner.anonymised_at.is_(None))
            .group_by(Learner.class_group_id)
        ).all()
    )
    classes: dict[int, list[tuple[ClassGroup, int]]] = {}
    for group in db.session.scalars(select(ClassGroup).order_by(ClassGroup.name)):
        classes.setdefault(group.level_id, []).append((group, learner_counts.get(group.id, 0)))
    teachers: dict[int, int] = dict(
        db.session.execute(
            select(teacher_levels.c.level_id, func.count()).group_by(teacher_levels.c.level_id)
        ).all()
    )
    periods = dict(
        db.session.execute(select(Period.level_id, func.count()).group_by(Period.level_id)).all()
    )
    return [
        LevelLine(
            level=level,
            framework_title=titles.get(level.framework_id, ""),
            classes=classes.get(level.id, []),
            teacher_count=teachers.get(level.id, 0),
            period_count=periods.get(level.id, 0),
        )
        for level in levels
    ]


def frameworks_for_select() -> list[tuple[int, str]]:
    rows = db.session.execute(
        select(Framework.id, Framework.short_title, Framework.code).order_by(Framework.short_title)
    )
    return [(fid, f"{title} ({code})") for fid, title, code in rows]


def _level_name(name: str, level: Level | None) -> str:
    text = " ".join(name.split())
    if not text:
        raise FieldError("name", "Indiquez le nom du niveau.")
    if len(text) > 120:
        raise FieldError("name", "120 caractères au maximum.")
    clash = db.session.scalar(select(Level).where(func.lower(Level.name) == text.lower()))
    if clash is not None and (level is None or clash.id != level.id):
        raise FieldError("name", "Un niveau porte déjà ce nom.")
    return text


def _framework(framework_id: int | None) -> Framework:
    framework = db.session.get(Framework, framework_id) if framework_id else None
    if framework is None:
        raise FieldError("framework_id", "Choisissez le diplôme préparé.")
    return framework


def create_level(actor: User, name: str, framework_id: int | None, position: int) -> Level:
    level = Level(
        name=_level_name(name, None), framework_id=_framework(framework_id).id, position=position
    )
    db.session.add(level)
    _flush_unique("name", "Un niveau porte déjà ce nom.")
    audit.record(actor, "level.created", "level", level.id, name=level.name)
    return level


def update_level(
    actor: User, level: Level, name: str, framework_id: int | None, position: int
) -> list[str]:
    """Rename, reorder, or change the diploma of a level (not once it has periods: their
    sheets are linked to the old framework)."""
    values = {
        "name": _level_name(name, level),
        "framework_id": _framework(framework_id).id,
        "position": position,
    }
    if values["framework_id"] != level.framework_id:
        has_periods = db.session.scalar(
            select(Period.id).where(Period.level_id == level.id).limit(1)
        )
        if has_periods is not None:
            raise FieldError(
                "framework_id",
                "Ce niveau a déjà des périodes : son diplôme ne peut plus être changé.",
            )
    changed = [key for key, value in values.items() if getattr(level, key) != value]
    for key in changed:
        setattr(level, key, values[key])
    _flush_unique("name", "Un niveau porte déjà ce nom.")
    if changed:
        audit.record(actor, "level.updated", "level", level.id, fields=changed)
    return changed


def _class_name(name: str, group: ClassGroup | None) -> str:
    text = " ".join(name.split())
    if not text:
        raise FieldError("name", "Indiquez le nom de la classe.")
    if len(text) > 40:
        raise FieldError("name", "40 caractères au maximum.")
    clash = db.session.scalar(select(ClassGroup).where(func.lower(ClassGroup.name) == text.lower()))
    if clash is not None and (group is None or clash.id != group.id):
        raise FieldError("name", "Une classe porte déjà ce nom.")
    return text


def create_class(actor: User, name: str, level_id: int | None) -> ClassGroup:
    level = db.session.get(Level, level_id) if level_id else None
    if level is None:
        raise FieldError("level_id", "Choisissez le niveau de la classe.")
    group = ClassGroup(name=_class_name(name, None), level_id=level.id)
    db.session.add(group)
    _flush_unique("name", "Une classe porte déjà ce nom.")
    audit.record(actor, "class.created", "class", group.id, name=group.name, level=level.name)
    return group


def update_class(actor: User, group: ClassGroup, name: str, level_id: int | None) -> list[str]:
    level = db.session.get(Level, level_id) if level_id else None
    if level is None:
        raise FieldError("level_id", "Choisissez le niveau de la classe.")
    values = {"name": _class_name(name, group), "level_id": level.id}
    changed = [key for key, value in values.items() if getattr(group, key) != value]
    for key in changed:
        setattr(group, key, values[key])
    _flush_unique("name", "Une classe porte déjà ce nom.")
    if changed:
        audit.record(actor, "class.updated", "class", group.id, fields=changed)
    return changed


def _flush_unique(field_name: str, message: str) -> None:
    """Flush. Names were checked just before, so only a concurrent insert of the same name
    can fail here; it becomes a form error rather than a 500 (the request's transaction is
    rolled back by the error handler's teardown)."""
    try:
        db.session.flush()
    except IntegrityError:
        db.session.rollback()
        raise FieldError(field_name, message) from None
