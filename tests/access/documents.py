"""Documents (SPEC F10): they follow the rules of the pages they print. Teachers of the level
get everything; a learner their own pre-agreement and placement summary; a tutor the meeting
grid of their own mentee only; everyone else a 404."""

from __future__ import annotations

from tests.access import Case, only

CASES = [
    Case(
        "documents.pre_agreement_docx",
        "GET",
        lambda w: f"/portfolios/{w.portfolio.id}/pre-convention.docx",
        only({"teacher": 200, "learner": 200}),
    ),
    Case(
        "documents.pre_agreement_docx",
        "GET",
        lambda w: f"/portfolios/{w.classmate_portfolio.id}/pre-convention.docx",
        only({"teacher": 200}),
        note="a classmate's",
    ),
    Case(
        "documents.pre_agreement_docx",
        "GET",
        lambda w: f"/portfolios/{w.other_portfolio.id}/pre-convention.docx",
        only({}),
        note="other level",
    ),
    Case(
        "documents.period_pre_agreements",
        "GET",
        lambda w: f"/periodes/{w.period.id}/pre-conventions",
        only({"teacher": 200}),
    ),
    Case(
        "documents.period_pre_agreements",
        "GET",
        lambda w: f"/periodes/{w.other_period.id}/pre-conventions",
        only({}),
        note="other level",
    ),
    Case(
        "documents.meeting_grid_pdf",
        "GET",
        lambda w: f"/portfolios/{w.portfolio.id}/preparer-la-rencontre.pdf",
        only({"teacher": 200, "tutor": 200}),
    ),
    Case(
        "documents.meeting_grid_pdf",
        "GET",
        lambda w: f"/portfolios/{w.classmate_portfolio.id}/preparer-la-rencontre.pdf",
        only({"teacher": 200, "master": 200}),
        note="the master's apprentice",
    ),
    Case(
        "documents.meeting_grid_pdf",
        "GET",
        lambda w: f"/portfolios/{w.other_portfolio.id}/preparer-la-rencontre.pdf",
        only({}),
        note="other level",
    ),
    Case(
        "documents.placement_summary_pdf",
        "GET",
        lambda w: f"/apprenants/{w.learner.id}/synthese.pdf",
        only({"teacher": 200, "learner": 200}),
    ),
    Case(
        "documents.placement_summary_pdf",
        "GET",
        lambda w: f"/apprenants/{w.classmate.id}/synthese.pdf",
        only({"teacher": 200}),
        note="a classmate's",
    ),
    Case(
        "documents.placement_summary_pdf",
        "GET",
        lambda w: f"/apprenants/{w.other_learner.id}/synthese.pdf",
        only({}),
        note="other level",
    ),
    Case(
        "documents.level_synthesis_page",
        "GET",
        lambda w: f"/niveaux/{w.level.id}/synthese",
        only({"teacher": 200}),
    ),
    Case(
        "documents.level_synthesis_page",
        "GET",
        lambda w: f"/niveaux/{w.other_level.id}/synthese",
        only({}),
        note="other level",
    ),
    Case(
        "documents.level_synthesis_pdf",
        "GET",
        lambda w: f"/niveaux/{w.level.id}/synthese.pdf",
        only({"teacher": 200}),
    ),
    Case(
        "documents.level_synthesis_pdf",
        "GET",
        lambda w: f"/niveaux/{w.other_level.id}/synthese.pdf",
        only({}),
        note="other level",
    ),
]
