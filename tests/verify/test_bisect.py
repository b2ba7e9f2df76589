"""Bisection finds the groups whose writes break a check, and says when none of ours does."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from kantra_ai.store.checks import PendingWrite
from kantra_ai.verify.bisect import find_culprits
from kantra_ai.verify.groups import Group


def groups(count: int) -> list[Group]:
    return [
        Group(
            f"file:F{n}.java", (PendingWrite(n, 1, f"F{n}.java", "fix", (f"i{n}",), (f"i{n}",), (), "", 0),)
        )
        for n in range(count)
    ]


def culprits(count: int, broken: set[int]) -> tuple[list[str] | None, int]:
    """Bisect `count` groups where the check passes once every group in `broken` is taken out."""
    probes = 0

    async def probe(chosen: Sequence[Group]) -> bool:
        nonlocal probes
        probes += 1
        return {f"file:F{n}.java" for n in broken} <= {g.key for g in chosen}

    found = asyncio.run(find_culprits(groups(count), probe))
    return (None if found is None else sorted(g.key for g in found)), probes


def test_one_culprit_among_many_in_about_log2_checks() -> None:
    found, probes = culprits(16, {11})
    assert found == ["file:F11.java"]
    assert probes <= 2 + 4 + 1  # all out, none out, the halvings, the confirmation


def test_several_culprits_are_all_found_and_nothing_else() -> None:
    found, _ = culprits(10, {2, 7, 8})
    assert found == ["file:F2.java", "file:F7.java", "file:F8.java"]


def test_a_failure_that_stays_without_any_of_our_writes_is_not_ours() -> None:
    async def never(chosen: Sequence[Group]) -> bool:
        return False

    assert asyncio.run(find_culprits(groups(4), never)) is None
