"""Scheduling: cache-group leaders first, longest files (and packs) next; read-ahead never hands out
stale text."""

from __future__ import annotations

import os
from pathlib import Path, PurePosixPath

from kantra_ai.analysis.model import Category, Incident, Violation
from kantra_ai.batching.batches import Batch, FileBatches
from kantra_ai.engine.scheduling import Prefetcher, cache_friendly_order, longest_units_first, rule_set


def _file(name: str, rule: str, output: int) -> FileBatches:
    violation = Violation("rs", rule, "d", Category.MANDATORY, 1)
    incident = Incident(f"id-{name}", violation, name, PurePosixPath(name), 1, "m")
    return FileBatches(PurePosixPath(name), [Batch(PurePosixPath(name), (incident,), None, 100, output)])


def test_every_cache_group_starts_early_then_the_longest_files_go_first() -> None:
    files = [
        _file("a1", "A", 100),
        _file("a2", "A", 900),
        _file("a3", "A", 500),
        _file("b1", "B", 300),
        _file("b2", "B", 50),
        _file("c1", "C", 10),
    ]
    order = cache_friendly_order(files)
    leaders = order[:3]
    assert {rule_set(f) for f in leaders} == {("rs/A",), ("rs/B",), ("rs/C",)}
    assert [str(f.path) for f in leaders] == ["a2", "b1", "c1"]  # each group's longest leads
    assert [str(f.path) for f in order[3:]] == ["a3", "a1", "b2"]
    assert sorted(map(str, (f.path for f in order))) == sorted(str(f.path) for f in files)


def test_a_pack_of_small_files_goes_by_its_whole_work_not_by_its_first_file() -> None:
    leader_a, leader_b = _file("a1", "A", 900), _file("b1", "B", 50)
    lone = _file("a2", "A", 400)
    pack = [_file("a3", "A", 150), _file("a4", "A", 150), _file("a5", "A", 150)]  # 450 together
    small = _file("a6", "A", 100)
    # As the runner groups them: each group where its first file was in the cache-friendly order.
    units = [[leader_a], [leader_b], [lone], pack, [small]]
    ordered = longest_units_first(units)
    assert ordered[:2] == [[leader_a], [leader_b]]  # the leaders keep their places, small or not
    assert ordered[2:] == [pack, [lone], [small]]


async def test_read_ahead_returns_the_file_as_read_when_it_is_unchanged(tmp_path: Path) -> None:
    (tmp_path / "A.java").write_text("class A {}\n", encoding="utf-8")
    prefetcher = Prefetcher(tmp_path)
    prefetcher.schedule([Path("A.java")])
    source = await prefetcher.read(tmp_path / "A.java")
    prefetcher.close()
    assert source.text == "class A {}\n"
    assert prefetcher.hits == 1


async def test_read_ahead_rereads_a_file_changed_after_it_was_prefetched(tmp_path: Path) -> None:
    target = tmp_path / "A.java"
    target.write_text("class A {}\n", encoding="utf-8")
    prefetcher = Prefetcher(tmp_path)
    prefetcher.schedule([Path("A.java")])
    prefetcher._pending[target].result()  # the read-ahead has happened
    target.write_text("class A { int changed; }\n", encoding="utf-8")
    stat = target.stat()
    os.utime(target, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    source = await prefetcher.read(target)
    prefetcher.close()
    assert "changed" in source.text
    assert prefetcher.misses == 1
