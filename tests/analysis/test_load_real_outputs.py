"""Every real analyzer output in tests/data/konveyor loads, with its real counts.

The expected numbers were counted independently of the loader (a plain libyaml walk over
`violations` / `insights`, informational = under `insights` or without effort) and cross-checked
against the data README (koncur-daytrader: 31 violations / 179 incidents in 53 files plus 654
insight incidents; coolstore: 1,938 incidents, 1,826 of them in .m2 dependencies).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from kantra_ai.analysis.loader import count_by_applicability, load_analysis
from kantra_ai.analysis.model import Applicability
from kantra_ai.analysis.schema import parse_document
from kantra_ai.analysis.unmatched import blank_ignored_blocks


def _yaml(data: bytes | str) -> list[dict[str, object]]:
    """An independent parse (libyaml, no blanking, no loader code) to count against."""
    document: list[dict[str, object]] = yaml.load(data, Loader=yaml.CSafeLoader)
    return document


@dataclass(frozen=True)
class Counts:
    rulesets: int
    violations: int  # non-informational
    incidents: int  # of non-informational violations
    files: int  # distinct URIs among those incidents
    informational: int  # informational violations
    informational_incidents: int
    dependency: int
    no_file: int
    errors: int


EXPECTED = {
    "analyzer-lsp-demo-output.yaml": Counts(1, 13, 75, 17, 6, 24, 0, 3, 1),
    "analyzer-lsp-java-provider-output.yaml": Counts(1, 33, 56, 12, 9, 10, 0, 0, 0),
    "kai-bmt-initial-output.yaml": Counts(26, 19, 57, 9, 18, 39, 0, 6, 0),
    "kai-bmt-solved-output.yaml": Counts(26, 12, 28, 6, 16, 39, 0, 5, 0),
    "kai-ejb-remote-initial-output.yaml": Counts(26, 8, 25, 5, 8, 18, 0, 3, 0),
    "kai-ejb-remote-solved-output.yaml": Counts(26, 9, 17, 5, 11, 35, 0, 4, 0),
    "kai-greeter-initial-output.yaml": Counts(26, 22, 33, 6, 17, 41, 0, 5, 0),
    "kai-greeter-solved-output.yaml": Counts(26, 14, 21, 5, 16, 35, 0, 5, 0),
    "kai-helloworld-mdb-initial-output.yaml": Counts(26, 18, 66, 5, 13, 20, 0, 5, 0),
    "kai-helloworld-mdb-solved-output.yaml": Counts(26, 8, 10, 3, 12, 17, 0, 4, 0),
    "kai-tasks-qute-initial-output.yaml": Counts(26, 19, 35, 8, 16, 59, 0, 5, 0),
    "kai-tasks-qute-solved-output.yaml": Counts(26, 5, 7, 3, 13, 62, 0, 4, 0),
    "kantra-cli-tests-coolstore-relative-uris.yaml": Counts(5, 19, 1938, 399, 0, 0, 1826, 0, 0),
    "kantra-test-output.yaml": Counts(37, 2, 2, 2, 19, 31, 1, 8, 0),
    "koncur-daytrader-output.yaml": Counts(5, 31, 179, 53, 35, 654, 0, 15, 0),
}


def test_every_real_output_has_expected_counts(konveyor_data: Path) -> None:
    # A new sample without verified counts must not slip through untested.
    assert sorted(p.name for p in konveyor_data.glob("*.yaml")) == sorted(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_real_output_loads_with_its_real_counts(name: str, konveyor_data: Path, tmp_path: Path) -> None:
    expected = EXPECTED[name]
    analysis = load_analysis(konveyor_data / name, tmp_path)

    fixing = [v for v in analysis.violations if not v.informational]
    info = [v for v in analysis.violations if v.informational]
    incidents = [i for i in analysis.incidents if not i.violation.informational]
    info_incidents = [i for i in analysis.incidents if i.violation.informational]
    by_kind = count_by_applicability(analysis)

    assert len(fixing) == expected.violations
    assert len(incidents) == expected.incidents
    assert len({i.uri for i in incidents if i.uri}) == expected.files
    assert len(info) == expected.informational
    assert len(info_incidents) == expected.informational_incidents
    assert by_kind[Applicability.DEPENDENCY] == expected.dependency
    assert by_kind[Applicability.NO_FILE] == expected.no_file
    assert len(analysis.errors) == expected.errors
    document = _yaml((konveyor_data / name).read_bytes())
    assert parse_document(document).rulesets == expected.rulesets
    # An empty checkout has no file to fix, and nothing may map outside it.
    assert by_kind[Applicability.SOURCE] == 0
    assert by_kind[Applicability.OUTSIDE_INPUT] == 0
    assert len({i.id for i in analysis.incidents}) == len(analysis.incidents)
    order = [(i.path.as_posix() if i.path else i.uri, i.line or 0) for i in analysis.incidents]
    assert order == sorted(order)
    keys = [(v.ruleset, v.rule_id) for v in analysis.violations]
    assert keys == sorted(keys)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_blanking_unmatched_and_skipped_changes_nothing_else(name: str, konveyor_data: Path) -> None:
    data = (konveyor_data / name).read_bytes()
    blanked = blank_ignored_blocks(data)

    def without_ignored(doc: list[dict[str, object]]) -> list[dict[str, object]]:
        return [{k: v for k, v in rs.items() if k not in ("unmatched", "skipped")} for rs in doc]

    assert without_ignored(_yaml(blanked)) == without_ignored(_yaml(data))
    assert blanked.count(b"\n") == data.count(b"\n")  # YAML error line numbers stay true
    if b"\n  skipped:\n" in data or b"\n  unmatched:\n" in data:
        assert len(blanked) < len(data)


def test_coolstore_loads_well_under_two_seconds(konveyor_data: Path, tmp_path: Path) -> None:
    path = konveyor_data / "kantra-cli-tests-coolstore-relative-uris.yaml"
    load_analysis(path, tmp_path)  # warm the file cache; the budget is for parsing, not the disk
    # CPU time, not wall time: a busy CI machine must not make this flaky, a slow parser must fail it.
    start = time.process_time()
    load_analysis(path, tmp_path)
    assert time.process_time() - start < 2.0


def test_coolstore_relative_uris_map_onto_a_checkout(
    konveyor_data: Path, make_checkout: Callable[..., Path]
) -> None:
    raw = _yaml((konveyor_data / "kantra-cli-tests-coolstore-relative-uris.yaml").read_text())
    relative = {
        i["uri"]
        for rs in raw
        for v in (rs.get("violations") or {}).values()
        for i in v["incidents"]
        if not i["uri"].startswith("file://")
    }
    checkout = make_checkout(relative)

    analysis = load_analysis(konveyor_data / "kantra-cli-tests-coolstore-relative-uris.yaml", checkout)

    by_kind = count_by_applicability(analysis)
    assert by_kind[Applicability.SOURCE] == 1938 - 1826
    assert by_kind[Applicability.DEPENDENCY] == 1826
    assert {i.path.as_posix() for i in analysis.fixable() if i.path} == relative
    assert analysis.source_root is None  # relative URIs needed no root


def test_daytrader_source_root_is_detected_and_every_file_maps(
    konveyor_data: Path, make_checkout: Callable[..., Path]
) -> None:
    path = konveyor_data / "koncur-daytrader-output.yaml"
    raw = _yaml(path.read_text())
    uris = {
        i["uri"]
        for rs in raw
        for section in ("violations", "insights")
        for v in (rs.get(section) or {}).values()
        for i in v["incidents"]
        if i["uri"]
    }
    assert all(u.startswith("file:///source/") for u in uris)
    checkout = make_checkout(u.removeprefix("file:///source/") for u in uris)

    analysis = load_analysis(path, checkout)

    assert analysis.source_root == "/source"
    by_kind = count_by_applicability(analysis)
    assert by_kind[Applicability.SOURCE] == 179 + 654 - 15
    assert by_kind[Applicability.NO_FILE] == 15
    # Insights are informational: on disk, but not fixable unless asked for.
    assert len(analysis.fixable()) == 179
    with_insights = load_analysis(path, checkout, include_informational=True)
    assert len(with_insights.fixable()) == 179 + 654 - 15


def test_daytrader_checkout_of_one_module_maps_only_that_module(
    konveyor_data: Path, make_checkout: Callable[..., Path]
) -> None:
    path = konveyor_data / "koncur-daytrader-output.yaml"
    raw = _yaml(path.read_text())
    prefix = "file:///source/daytrader-ee7-web/"
    web = {
        i["uri"].removeprefix(prefix)
        for rs in raw
        for v in (rs.get("violations") or {}).values()
        for i in v["incidents"]
        if i["uri"].startswith(prefix)
    }
    checkout = make_checkout(web)  # the user passed --input daytrader-ee7-web

    analysis = load_analysis(path, checkout)

    assert analysis.source_root == "/source/daytrader-ee7-web"
    mapped = {i.path.as_posix() for i in analysis.fixable() if i.path}
    assert mapped == web
    ejb = [i for i in analysis.incidents if "/daytrader-ee7-ejb/" in i.uri]
    assert ejb and all(i.applicability is Applicability.MISSING_FILE for i in ejb)


def test_kantra_output_with_host_and_container_roots_maps_both(
    konveyor_data: Path, make_checkout: Callable[..., Path]
) -> None:
    path = konveyor_data / "kantra-test-output.yaml"
    host = "file:///home/runner/work/kantra/kantra/example-applications/example-1/"
    container = "file:///opt/input/source/"
    raw = _yaml(path.read_text())
    uris = {
        i["uri"]
        for rs in raw
        for section in ("violations", "insights")
        for v in (rs.get(section) or {}).values()
        for i in v["incidents"]
    }
    rels = {u.removeprefix(host).removeprefix(container) for u in uris if u.startswith((host, container))}
    checkout = make_checkout(rels)

    analysis = load_analysis(path, checkout, include_informational=True)

    by_uri = {i.uri: i for i in analysis.incidents}
    for uri, incident in by_uri.items():
        if uri.startswith((host, container)):
            assert incident.applicability is Applicability.SOURCE, uri
            assert incident.path is not None
            assert incident.path.as_posix() == uri.removeprefix(host).removeprefix(container)
    assert by_uri[container + "pom.xml"].path == by_uri[host + "pom.xml"].path
    addon = [i for i in analysis.incidents if "/addon/.m2/" in i.uri]
    assert len(addon) == 1 and addon[0].applicability is Applicability.DEPENDENCY
