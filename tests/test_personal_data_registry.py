"""Every model holding personal data is in the GDPR registry (app/services/gdpr.py), with each
of its personal columns accounted for — so a new model or column cannot escape the export
and the erasure unnoticed. The heuristic is deliberately broad: a false alarm costs one line
in the registry, a miss costs a learner's data left behind."""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    Date,
    ForeignKey,
    Integer,
    MetaData,
    String,
    Table,
    Text,
)

from app.extensions import db
from app.models import User
from app.services.gdpr import PERSONAL_DATA, registry_table

# The list, plus what this schema taught us: free texts (objectives, activities,
# company), JSON payloads (details, receipt), the audit's copied actor name, a login key.
PERSONAL = re.compile(
    r"name|email|phone|birth|address|description|analysis|comment|value|siret|url|"
    r"objectives|activities|company|details|receipt|actor_label|^key$"
)
USERS = User.__table__.name


def _personal_columns(table: Table) -> set[str]:
    flagged: set[str] = set()
    for column in table.columns:
        assert isinstance(column, Column)
        if column.primary_key and not column.foreign_keys:
            continue
        holds_data = isinstance(column.type, String | Text | JSON | Date)
        if (holds_data and PERSONAL.search(column.name)) or any(
            fk.column.table.name == USERS for fk in column.foreign_keys
        ):
            flagged.add(column.name)
    return flagged


def _registered() -> dict[str, Any]:
    return {registry_table(key).name: entry for key, entry in PERSONAL_DATA.items()}


def test_every_model_with_personal_columns_is_registered() -> None:
    registered = _registered()
    missing = {
        table.name: sorted(_personal_columns(table))
        for table in db.metadata.sorted_tables
        if _personal_columns(table) and table.name not in registered
    }
    assert not missing, (
        f"Add these tables to gdpr.PERSONAL_DATA (how they are exported and erased): {missing}"
    )


def test_every_personal_column_of_a_registered_model_is_listed() -> None:
    registered = _registered()
    unlisted = {}
    for table in db.metadata.sorted_tables:
        entry = registered.get(table.name)
        if entry is None:
            continue
        extra = _personal_columns(table) - set(entry.columns)
        if extra:
            unlisted[table.name] = sorted(extra)
    assert not unlisted, f"List these columns in gdpr.PERSONAL_DATA: {unlisted}"


def test_registry_names_only_real_columns_and_says_how_each_is_handled() -> None:
    for key, entry in PERSONAL_DATA.items():
        table = registry_table(key)
        unknown = set(entry.columns) - {c.name for c in table.columns}
        assert not unknown, f"{table.name}: no such columns {unknown}"
        assert entry.erase, f"{table.name}: say what the erasure does"
        assert entry.export or entry.note, f"{table.name}: say where it is exported, or why not"


def test_the_heuristic_would_catch_a_new_model() -> None:
    """A model someone might add tomorrow: a teacher's note about a learner."""
    metadata = MetaData()
    User.__table__.to_metadata(metadata)
    probe = Table(
        "probe_notes",
        metadata,
        Column("id", Integer, primary_key=True),
        Column("author_id", Integer, ForeignKey(f"{USERS}.id")),
        Column("comment", Text),
        Column("position", Integer),
        Column("flag_value", Boolean),
    )
    assert _personal_columns(probe) == {"author_id", "comment"}
    assert probe.name not in _registered()
    assert _personal_columns(User.__table__) >= {"email", "first_name", "birth_date"}
