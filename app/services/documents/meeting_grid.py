""" "Préparer la rencontre": the assessment grid on paper (SPEC F6), as a PDF.

It prints the grid of `assessments.build_grid` — the same data as the online assessment page,
never a second reading of the sheets' selections: the mobilised sheets with their reference
numbers, and every competency the sheets selected, rated as a whole or through its criteria
according to the mode in force, each with six empty boxes labelled with the framework's
scale. Then engagement stars, the meeting date, comment lines, signature boxes, and a QR code
that opens the online assessment so the results can be typed in after the visit.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urljoin

import segno
from markupsafe import Markup

from app.models import Assessment
from app.services import assessments
from app.services.assessments import AssessmentGrid, CompetencyRow, CriterionRow, ItemView
from app.services.documents import school_identity
from app.services.documents.pdf import render_pdf

COMMENT_LINES = 5


@dataclass
class GridLine:
    """One printed row: a competency or a criterion. `rated` rows get the six boxes; a
    competency rated through its criteria is a heading row above them."""

    kind: str  # "competency" | "criterion"
    code: str
    title: str
    refs: list[int]
    rated: bool
    recorded: ItemView | None = None  # what is already saved online, shown as a hint


@dataclass
class MeetingGrid:
    grid: AssessmentGrid
    lines: list[GridLine]
    all_competencies: bool  # nothing selected on the sheets yet: the whole framework
    assessment_url: str
    qr_svg: Markup

    @property
    def rated_count(self) -> int:
        return sum(1 for line in self.lines if line.rated)


def grid_lines(grid: AssessmentGrid) -> tuple[list[GridLine], bool]:
    """The rows to print. Competencies selected on the sheets, in framework order; in
    criteria mode the criteria the sheets selected (all of the competency's criteria when the
    assessor switched to criteria mode without any selected). When the sheets selected
    nothing yet, every competency of the framework, rated as a whole."""
    selected = [row for row in grid.competencies if row.selected]
    if not selected:
        return [_competency_line(row, rated=True) for row in grid.competencies], True
    lines: list[GridLine] = []
    for row in selected:
        if row.mode == "criteria" and row.criteria:
            lines.append(_competency_line(row, rated=False))
            chosen = [c for c in row.criteria if c.selected] or row.criteria
            lines.extend(_criterion_line(c) for c in chosen)
        else:
            lines.append(_competency_line(row, rated=True))
    return lines, False


def _competency_line(row: CompetencyRow, *, rated: bool) -> GridLine:
    recorded = row.item if rated and row.item.is_set else None
    return GridLine("competency", row.code, row.title, row.refs, rated, recorded)


def _criterion_line(row: CriterionRow) -> GridLine:
    recorded = row.item if row.item.is_set else None
    return GridLine("criterion", row.code, row.title, row.refs, True, recorded)


def qr_code_svg(url: str) -> Markup:
    """An inline SVG QR code of `url` (segno output: no user markup inside)."""
    svg = segno.make(url, error="m").svg_inline(scale=1, border=2, omitsize=True)
    return Markup(svg)  # noqa: S704  # nosec B704  # segno's markup: paths only, no text


def load_meeting_grid(assessment: Assessment, base_url: str) -> MeetingGrid:
    grid = assessments.build_grid(assessment)
    lines, whole = grid_lines(grid)
    url = urljoin(base_url, f"/portfolios/{grid.portfolio_id}/bilan")
    return MeetingGrid(grid, lines, whole, url, qr_code_svg(url))


def meeting_grid_pdf(assessment: Assessment, base_url: str) -> bytes:
    """The "Préparer la rencontre" PDF of an assessment; `base_url` is the public address of
    the app (PUBLIC_URL, else the request's root) used for the QR code."""
    meeting = load_meeting_grid(assessment, base_url)
    school = school_identity()
    return render_pdf(
        "documents/meeting_grid.html",
        logo=school.logo,
        school=school,
        meeting=meeting,
        grid=meeting.grid,
        comment_lines=range(COMMENT_LINES),
    )
