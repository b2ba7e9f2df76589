"""What a rule message quotes between backticks: the names the rule book slots and the output
prior counts as a rename."""

from __future__ import annotations

import pytest

from kantra_ai.analysis.model import names_a_rename, quoted_names


def test_the_names_a_message_quotes_come_in_order() -> None:
    assert quoted_names("Replace `javax.ejb` with `jakarta.ejb`") == ("javax.ejb", "jakarta.ejb")
    assert quoted_names("No names here") == ()


@pytest.mark.parametrize(
    ("message", "rename"),
    [
        ("Replace `javax.ejb` with `jakarta.ejb`", True),
        ("Replace the `javax.ejb` import statement with `jakarta.ejb`\n\nSee the guide.", True),
        ("Use `@ApplicationScoped`", False),
        ("Remove `a`.\nThen think about `b`.", False),  # two names, but not one replaced by the other
    ],
)
def test_a_message_names_a_rename_when_one_line_quotes_two_names(message: str, rename: bool) -> None:
    assert names_a_rename(message) is rename
