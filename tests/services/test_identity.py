"""Linking an identity vouched for by the ENT to an existing account: once, by national id or
verified e-mail, never by name; then by the stored (provider, subject) link alone."""

from __future__ import annotations

from typing import Any

import pytest

from app.extensions import db as _db
from app.models import IdentityLink, IdentityProvider
from app.services import identity
from app.services.identity import Identity


def _provider(f: Any) -> IdentityProvider:
    return f._add(
        IdentityProvider(
            protocol="cas",
            label="ENT",
            server_url="https://cas.example.fr",
            email_claim="mail",
            national_id_claim="ine",
        )
    )


def test_national_id_matches_the_importers_prefixes(f: Any) -> None:
    provider = _provider(f)
    pupil = f.learner(external_id="ine:070123456AB", email=None)
    teacher = f.teacher(external_id="sts:88123")
    assert identity.resolve(provider, Identity("a", national_id="070123456AB")) == pupil
    assert identity.resolve(provider, Identity("b", national_id="sts:88123")) == teacher


def test_national_id_wins_over_email_and_links_once(f: Any) -> None:
    provider = _provider(f)
    pupil = f.learner(external_id="ine:070123456AB")
    other = f.teacher(email="x@ent.example.fr")
    found = identity.resolve(
        provider,
        Identity("s1", email="x@ent.example.fr", email_verified=True, national_id="070123456AB"),
    )
    assert found == pupil
    link = _db.session.query(IdentityLink).one()
    assert (link.subject, link.user_id, link.matched_by) == ("s1", pupil.id, "national_id")
    # From now on only the subject counts, whatever the claims say.
    assert (
        identity.resolve(provider, Identity("s1", email="x@ent.example.fr", email_verified=True))
        == pupil
    )
    assert other.id != pupil.id


def test_unverified_email_name_and_ambiguity_are_unknown(f: Any) -> None:
    provider = _provider(f)
    f.teacher(email="paul@ent.example.fr", first_name="Paul", last_name="Durand")
    with pytest.raises(identity.UnknownIdentity):
        identity.resolve(provider, Identity("s", email="paul@ent.example.fr"))
    with pytest.raises(identity.UnknownIdentity):
        identity.resolve(provider, Identity("s", display_name="Paul DURAND"))
    f.learner(external_id="ine:X1")
    f.teacher(external_id="sts:X1")  # the same bare id under two prefixes: refuse to guess
    with pytest.raises(identity.UnknownIdentity):
        identity.resolve(provider, Identity("s", national_id="X1"))
    assert _db.session.query(IdentityLink).count() == 0


def test_a_linked_account_is_not_taken_by_another_subject(f: Any) -> None:
    provider = _provider(f)
    teacher = f.teacher(email="c@ent.example.fr")
    assert (
        identity.resolve(provider, Identity("s1", email="c@ent.example.fr", email_verified=True))
        == teacher
    )
    with pytest.raises(identity.UnknownIdentity):
        identity.resolve(provider, Identity("s2", email="c@ent.example.fr", email_verified=True))


def test_tutors_anonymised_and_deactivated_accounts_are_refused(f: Any) -> None:
    provider = _provider(f)
    f.tutor(email="t@example.fr")
    with pytest.raises(identity.AccountRefused):
        identity.resolve(provider, Identity("t", email="t@example.fr", email_verified=True))
    teacher = f.teacher(email="d@ent.example.fr")
    identity.resolve(provider, Identity("d", email="d@ent.example.fr", email_verified=True))
    teacher.is_active_account = False
    with pytest.raises(identity.AccountRefused):  # even through the stored link
        identity.resolve(provider, Identity("d"))


def test_erasing_a_learner_removes_their_ent_link(f: Any) -> None:
    from app.services import gdpr
    from tests.services.test_gdpr import fill

    w = f.world()
    provider = _provider(f)
    theirs = fill(f, w.classmate_portfolio, "Quillevere", completed=True)  # → anonymised
    mine = w.portfolio.learner  # nothing completed → deleted
    for n, learner in enumerate((theirs.learner, mine)):
        learner.external_id = f"ine:ERASE{n}"
        identity.resolve(provider, Identity(f"s{n}", national_id=f"ERASE{n}"))
    assert _db.session.query(IdentityLink).count() == 2
    assert gdpr.erase_learner(w.admin, theirs.learner).mode == "anonymised"
    assert gdpr.erase_learner(w.admin, mine).mode == "deleted"
    _db.session.flush()
    assert _db.session.query(IdentityLink).count() == 0
