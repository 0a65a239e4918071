"""The accessibility statement is public: anyone may read it, signed in or not."""

from tests.access import Case, everyone

CASES = [
    Case(
        "accessibility.statement",
        "GET",
        lambda w: "/accessibilite",
        everyone(200, anonymous=200),
    ),
]
