"""The scripted responder: from our own prompt to known-correct edits, in both reply formats.

Prompts are built here by the tool's own request builder (rule book, file, numbered incidents), so
a template change that the responder can no longer read fails these tests rather than a benchmark.
Edits are applied by plain exact, unique replacement: the responder must never lean on the tool's
tolerant matching.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections import defaultdict
from pathlib import Path, PurePosixPath
from typing import Any

import pytest
import yaml

from kantra_ai.analysis.model import Category, Incident, Violation
from kantra_ai.batching.batches import Batch
from kantra_ai.edits.checked import apply_checked
from kantra_ai.edits.model import Edit, FailedEdit
from kantra_ai.edits.parse import parse_text_reply, parse_tool_input
from kantra_ai.formats import SEARCH_REPLACE, TOOL_CALL
from kantra_ai.formats.base import FULL_VERDICTS_MARKER
from kantra_ai.formats.tool_call import TOOL_INPUT_SCHEMA, TOOL_NAME
from kantra_ai.prompts.builder import PromptBuilder
from kantra_ai.simulated import recipes
from kantra_ai.simulated.contract import FakeReply, FakeRequest
from kantra_ai.simulated.recipes import CANNOT_FIX_CONFIDENCE, FIXED_CONFIDENCE, parse_prompt, respond

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
SOURCE_ROOTS = {"javaee-inventory": "file:///opt/input/source/", "multi-violation": "file:///shared/source/"}
TOOLS = [{"name": TOOL_NAME, "description": "apply", "input_schema": TOOL_INPUT_SCHEMA}]


# --- helpers ---------------------------------------------------------------------------------------


def incident(rule_id: str, line: int | None, message: str = "", n: int = 0) -> dict[str, Any]:
    digest = hashlib.sha256(f"{rule_id}\x1f{line}\x1f{n}".encode()).hexdigest()[:12]
    return {"id": digest, "line": line, "rule_id": rule_id, "message": message.strip()}


def _incidents(path: str, incidents: list[dict[str, Any]]) -> tuple[Incident, ...]:
    """The dicts as the tool's incidents; each dict gets the `handle` its request shows it by."""
    made = []
    for handle, i in enumerate(incidents, 1):
        i["handle"] = handle
        violation = Violation("rs", i["rule_id"], f"Rule {i['rule_id']}.", Category.MANDATORY, 1)
        made.append(
            Incident(i["id"], violation, f"file:///{path}", PurePosixPath(path), i["line"], i["message"])
        )
    return tuple(made)


def _batch(path: str, incidents: list[dict[str, Any]], window: tuple[int, int] | None) -> Batch:
    return Batch(PurePosixPath(path), _incidents(path, incidents), window, 0, 8192)


def render_fix(
    path: str,
    content: str,
    incidents: list[dict[str, Any]],
    *,
    window: tuple[int, int] | None = None,
    total_lines: int | None = None,
    strip_final_newline: bool = True,
) -> str:
    """The user turn of the request the tool sends: the rule book, then the file and its incidents."""
    batch = _batch(path, incidents, window)
    lines = total_lines if total_lines is not None else content.count("\n") + 1
    shown = content.rstrip("\n") if strip_final_newline else content
    sent = PromptBuilder().request(batch, shown, total_lines=lines)
    return sent.guidance + "\n" + sent.prompt


def request(
    prompt: str | list[dict[str, Any]], *, tools: bool = True, full: bool = False, own_lines: bool = False
) -> FakeRequest:
    """The request the tool sends. Unless `own_lines`, without the instruction that lets words replaced
    on the incidents' own lines go in `subs`: every change is then an edit quoting its lines, which
    plain exact replacement can check."""
    builder = PromptBuilder(TOOL_CALL if tools else SEARCH_REPLACE, full_verdicts=full)
    sent = FakeRequest(
        protocol="anthropic",
        model="claude-sonnet-5-5",
        system=builder.system(),
        messages=[{"role": "user", "content": prompt}],
        tools=TOOLS if tools else [],
        max_tokens=8192,
        stream=False,
        raw={},
    )
    return sent if own_lines else recipes.quoting(sent)


def tool_input(reply: FakeReply) -> dict[str, Any]:
    assert reply.text == ""
    assert len(reply.tool_calls) == 1 and reply.tool_calls[0].name == TOOL_NAME
    return reply.tool_calls[0].input


def apply_exact(content: str, edits: list[tuple[str, str]]) -> str:
    for old, new in edits:
        assert content.count(old) == 1, f"old_text must occur exactly once: {old!r}"
        content = content.replace(old, new)
    return content


def _new(edit: dict[str, Any]) -> str:
    """An edit's new text: `new`, or `old` with its `sub` pairs applied (as the parser does)."""
    if "new" in edit:
        return str(edit["new"])
    text = str(edit["old"])
    for before, after in edit["sub"]:
        assert before in text
        text = text.replace(before, after)
    return text


def tool_edits(reply: FakeReply) -> list[tuple[str, str]]:
    return [(e["old"], _new(e)) for e in tool_input(reply)["edits"]]


def verdicts(reply: FakeReply) -> dict[int, dict[str, Any]]:
    return {v["id"]: v for v in tool_input(reply).get("verdicts", [])}


def handles(incidents: list[dict[str, Any]]) -> dict[str, str]:
    return {str(i["handle"]): i["id"] for i in incidents}


def normalized(path: Path) -> str:
    return path.read_bytes().decode("utf-8").replace("\r\n", "\n")


def example_files() -> list[tuple[str, str, list[dict[str, Any]]]]:
    """(example, app-relative path, incidents) for every file with actionable source incidents."""
    cases: list[tuple[str, str, list[dict[str, Any]]]] = []
    for example, root in SOURCE_ROOTS.items():
        by_file: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for ruleset in yaml.safe_load((EXAMPLES / example / "output.yaml").read_text(encoding="utf-8")):
            for rule_id, violation in (ruleset.get("violations") or {}).items():
                if not violation.get("effort"):
                    continue  # informational: the tool never sends these
                for n, found in enumerate(violation["incidents"]):
                    if found["uri"].startswith(root):
                        path = found["uri"][len(root) :]
                        by_file[path].append(incident(rule_id, found.get("lineNumber"), found["message"], n))
        cases.extend((example, path, incs) for path, incs in sorted(by_file.items()))
    return cases


EXAMPLE_FILES = example_files()


def test_the_responder_reads_the_full_verdict_marker_the_formats_write() -> None:
    assert recipes.FULL_VERDICTS_MARKER == FULL_VERDICTS_MARKER
    for edit_format in (TOOL_CALL, SEARCH_REPLACE):
        assert FULL_VERDICTS_MARKER in edit_format.protocol_for(full_verdicts=True)
        assert FULL_VERDICTS_MARKER not in edit_format.protocol_for(full_verdicts=False)


# --- the examples, end to end ----------------------------------------------------------------------


@pytest.mark.parametrize("strip_final_newline", [True, False], ids=["rstripped", "verbatim"])
@pytest.mark.parametrize(
    ("example", "path", "incidents"), EXAMPLE_FILES, ids=[f"{e}:{p}" for e, p, _ in EXAMPLE_FILES]
)
def test_tool_reply_turns_each_example_file_into_its_expected_version(
    example: str, path: str, incidents: list[dict[str, Any]], strip_final_newline: bool
) -> None:
    before = normalized(EXAMPLES / example / "app" / path)
    prompt = render_fix(path, before, incidents, strip_final_newline=strip_final_newline)
    reply = respond(request(prompt))
    assert apply_exact(before, tool_edits(reply)) == normalized(EXAMPLES / example / "expected" / path)


def test_the_responder_reads_the_own_lines_marker_the_tool_format_writes() -> None:
    assert recipes.OWN_LINES_MARKER in TOOL_CALL.protocol
    assert recipes.OWN_LINES_MARKER not in SEARCH_REPLACE.protocol


@pytest.mark.parametrize(
    ("example", "path", "incidents"), EXAMPLE_FILES, ids=[f"{e}:{p}" for e, p, _ in EXAMPLE_FILES]
)
def test_edits_on_the_incidents_own_lines_turn_each_example_file_into_its_expected_version(
    example: str, path: str, incidents: list[dict[str, Any]]
) -> None:
    """Told it may, the responder puts words replaced on its incidents' own lines in `subs` (no
    quoting); placed on those lines by the tool's applier, the reply still gives exactly the
    expected file."""
    before = normalized(EXAMPLES / example / "app" / path)
    reply = respond(request(render_fix(path, before, incidents), own_lines=True))
    answer = tool_input(reply)
    quoted = respond(request(render_fix(path, before, incidents)))
    named = {i for e in answer.get("edits", []) for i in e["ids"]}
    for item in answer.get("subs", []):
        named.update(item[0] if isinstance(item[0], list) else [item[0]])
    assert named == {i for e in tool_input(quoted)["edits"] for i in e["ids"]}
    parsed = parse_tool_input(tool_input(reply), handles(incidents), full_verdicts=False)
    lines = {i["id"]: i["line"] for i in incidents}
    result = apply_checked(path, before, parsed.edits, incident_lines=lines)
    assert result.failed == []
    assert result.content == normalized(EXAMPLES / example / "expected" / path)


def test_some_example_changes_go_in_subs_and_others_in_quoting_edits() -> None:
    """Both kinds occur across the examples (a line deleted, or a change beyond the incidents' own
    lines, needs an edit quoting `old`), so the test above checks both."""
    kinds: set[str] = set()
    for example, path, incidents in EXAMPLE_FILES:
        before = normalized(EXAMPLES / example / "app" / path)
        answer = tool_input(respond(request(render_fix(path, before, incidents), own_lines=True)))
        kinds.update(key for key in ("edits", "subs") if answer.get(key))
        assert all("old" in edit for edit in answer.get("edits", []))
    assert kinds == {"edits", "subs"}


@pytest.mark.parametrize(
    ("example", "path", "incidents"), EXAMPLE_FILES, ids=[f"{e}:{p}" for e, p, _ in EXAMPLE_FILES]
)
def test_text_reply_parses_and_gives_the_same_result(
    example: str, path: str, incidents: list[dict[str, Any]]
) -> None:
    before = normalized(EXAMPLES / example / "app" / path)
    reply = respond(request(render_fix(path, before, incidents), tools=False))
    assert reply.tool_calls == []
    ids = [i["id"] for i in incidents]
    parsed = parse_text_reply(reply.text, handles(incidents), full_verdicts=False)
    assert parsed.notes == []
    after = apply_exact(before, [(e.old_text, e.new_text) for e in parsed.edits])
    assert after == normalized(EXAMPLES / example / "expected" / path)
    assert sorted(v.incident_id for v in parsed.verdicts) == sorted(ids)


@pytest.mark.parametrize(
    ("example", "path", "incidents"), EXAMPLE_FILES, ids=[f"{e}:{p}" for e, p, _ in EXAMPLE_FILES]
)
def test_asked_for_full_verdicts_every_incident_gets_one_and_every_edit_names_its_incidents(
    example: str, path: str, incidents: list[dict[str, Any]]
) -> None:
    before = normalized(EXAMPLES / example / "app" / path)
    data = tool_input(respond(request(render_fix(path, before, incidents), full=True)))
    numbers = [i["handle"] for i in incidents]
    assert [v["id"] for v in data["verdicts"]] == numbers
    fixed = {v["id"] for v in data["verdicts"] if v["status"] == "fixed"}
    for edit in data["edits"]:
        assert edit["ids"] and set(edit["ids"]) <= fixed
    assert {i for e in data["edits"] for i in e["ids"]} == fixed
    for verdict in data["verdicts"]:
        assert verdict["reason"]
        expected = FIXED_CONFIDENCE if verdict["status"] == "fixed" else CANNOT_FIX_CONFIDENCE
        assert verdict["confidence"] == expected


@pytest.mark.parametrize(
    ("example", "path", "incidents"), EXAMPLE_FILES, ids=[f"{e}:{p}" for e, p, _ in EXAMPLE_FILES]
)
def test_terse_replies_give_verdicts_only_for_incidents_no_edit_fixes(
    example: str, path: str, incidents: list[dict[str, Any]]
) -> None:
    before = normalized(EXAMPLES / example / "app" / path)
    data = tool_input(respond(request(render_fix(path, before, incidents))))
    edited = {i for e in data["edits"] for i in e["ids"]}
    explained = {v["id"] for v in data.get("verdicts", [])}
    assert edited | explained == {i["handle"] for i in incidents}
    assert not edited & explained
    assert all(v["status"] != "fixed" and "confidence" not in v for v in data.get("verdicts", []))


def test_tool_input_matches_the_apply_fixes_schema() -> None:
    example, path, incidents = next(c for c in EXAMPLE_FILES if c[1].endswith("OrderService.java"))
    data = tool_input(
        respond(request(render_fix(path, normalized(EXAMPLES / example / "app" / path), incidents)))
    )
    assert set(data) <= set(TOOL_INPUT_SCHEMA["properties"])
    assert set(TOOL_INPUT_SCHEMA["required"]) <= set(data)
    edit_keys = set(TOOL_INPUT_SCHEMA["properties"]["edits"]["items"]["properties"])
    verdict_keys = set(TOOL_INPUT_SCHEMA["properties"]["verdicts"]["items"]["properties"])
    assert all(set(e) in (edit_keys - {"sub"}, edit_keys - {"new"}) for e in data["edits"])
    full = tool_input(
        respond(
            request(render_fix(path, normalized(EXAMPLES / example / "app" / path), incidents), full=True)
        )
    )
    assert all(set(v) == verdict_keys for v in full["verdicts"])
    json.dumps(data)  # what the wire encoders send must be plain JSON


# --- behaviours, one at a time ---------------------------------------------------------------------

JAVA = """package com.acme;

import java.util.List;
import javax.naming.InitialContext;
import javax.ejb.Stateless;
import javax.persistence.EntityManager;
import javax.persistence.PersistenceContext;

@Stateless
public class Things {

    @PersistenceContext(unitName = "reports")
    EntityManager em;

    public Object lookup() throws Exception {
        return new InitialContext().lookup("java:global/x");
    }
}
"""


def test_rule_without_recipe_is_reported_cannot_fix_without_edits() -> None:
    local = incident("localhost-http-00001", 16, "The app is trying to access local resource by HTTP.")
    reply = respond(request(render_fix("src/Things.java", JAVA, [local])))
    assert tool_edits(reply) == []
    verdict = verdicts(reply)[local["handle"]]
    assert verdict["status"] == "cannot_fix"
    assert "localhost-http-00001" in verdict["reason"]
    full = respond(request(render_fix("src/Things.java", JAVA, [local]), full=True))
    assert verdicts(full)[local["handle"]]["confidence"] == CANNOT_FIX_CONFIDENCE


def test_fallback_moves_jakarta_ee_packages_for_rules_without_a_recipe() -> None:
    xml = "<servlet>\n    <servlet-class>javax.faces.webapp.FacesServlet</servlet-class>\n</servlet>\n"
    servlet = incident(
        "javax-to-jakarta-servlet-00130", 2, "web.xml element references a javax-prefixed class name"
    )
    reply = respond(request(render_fix("src/main/webapp/WEB-INF/web.xml", xml, [servlet])))
    assert apply_exact(xml, tool_edits(reply)) == xml.replace("javax.faces", "jakarta.faces")
    assert tool_input(reply)["edits"][0]["ids"] == [servlet["handle"]]
    assert servlet["handle"] not in verdicts(reply)


def test_jdk_javax_packages_are_never_renamed() -> None:
    naming = incident("javax-to-jakarta-import-00001", 4, "Replace the `javax.naming` import statement")
    reply = respond(request(render_fix("src/Things.java", JAVA, [naming])))
    assert tool_edits(reply) == []
    assert verdicts(reply)[naming["handle"]]["status"] == "cannot_fix"


def test_named_persistence_unit_is_left_for_a_human() -> None:
    context = incident("persistence-to-quarkus-00010", 12, "Replace `@PersistenceContext` with `@Inject`")
    reply = respond(request(render_fix("src/Things.java", JAVA, [context])))
    assert tool_edits(reply) == []
    assert verdicts(reply)[context["handle"]]["status"] == "cannot_fix"


def test_stateless_swap_adds_the_scope_import_when_the_ejb_import_is_a_wildcard() -> None:
    java = "package a;\n\nimport javax.ejb.*;\nimport java.util.List;\n\n@Stateless\npublic class A {\n}\n"
    stateless = incident(
        "ee-to-quarkus-00000", 6, "replace `@Stateless` with a scope eg `@ApplicationScoped`"
    )
    after = apply_exact(java, tool_edits(respond(request(render_fix("src/A.java", java, [stateless])))))
    assert after == (
        "package a;\n\nimport javax.ejb.*;\nimport java.util.List;\n"
        "import jakarta.enterprise.context.ApplicationScoped;\n\n@ApplicationScoped\npublic class A {\n}\n"
    )


def test_stateful_bean_becomes_session_scoped_with_its_import_swapped() -> None:
    java = 'package a;\n\nimport javax.ejb.Stateful;\n\n@Stateful(name = "cart")\npublic class Cart {\n}\n'
    stateful = incident(
        "ee-to-quarkus-00010", 5, "replacing the `@Stateful` annotation with a scope eg `@SessionScoped`"
    )
    reply = respond(request(render_fix("src/Cart.java", java, [stateful])))
    assert apply_exact(java, tool_edits(reply)) == (
        "package a;\n\nimport jakarta.enterprise.context.SessionScoped;\n\n"
        "@SessionScoped\npublic class Cart {\n}\n"
    )
    assert verdicts(reply) == {}


def test_incidents_on_one_line_share_one_edit() -> None:
    example, path, incidents = next(
        c for c in EXAMPLE_FILES if c[0] == "multi-violation" and c[1].endswith(".xml")
    )
    content = normalized(EXAMPLES / example / "app" / path)
    edits = tool_input(respond(request(render_fix(path, content, incidents))))["edits"]
    on_line_6 = {i["handle"] for i in incidents if i["line"] == 6}
    assert len(on_line_6) == 2
    sharing = [e for e in edits if on_line_6 & set(e["ids"])]
    assert len(sharing) == 1 and on_line_6 <= set(sharing[0]["ids"])


def test_version_incident_reported_on_a_child_line_is_fixed_at_the_root_tag() -> None:
    xml = (
        '<?xml version="1.0"?>\n<!-- persistence units -->\n<persistence version="2.1"\n'
        '    xmlns="http://xmlns.jcp.org/xml/ns/persistence">\n  <persistence-unit name="p">\n'
        "    <jta-data-source>java:/DS</jta-data-source>\n  </persistence-unit>\n</persistence>\n"
    )
    message = "In the root tag, replace the `version` attribute value `2.1` with `3.0`"
    child = incident("javaee-to-jakarta-namespaces-00033", 6, message)
    reply = respond(request(render_fix("persistence.xml", xml, [child])))
    assert apply_exact(xml, tool_edits(reply)) == xml.replace('version="2.1"', 'version="3.0"')
    assert verdicts(reply) == {}


def test_a_repeated_line_is_made_unique_with_a_neighbouring_line() -> None:
    pom = (
        "<dependencies>\n  <dependency>\n    <groupId>javax</groupId>\n"
        "    <artifactId>javaee-api</artifactId>\n  </dependency>\n"
        "  <dependency>\n    <groupId>javax</groupId>\n"
        "    <artifactId>javaee-web-api</artifactId>\n  </dependency>\n</dependencies>\n"
    )
    second = incident(
        "javax-to-jakarta-dependencies-00006", 7, "replacing the `javax` groupId with `jakarta.platform`"
    )
    edits = tool_edits(respond(request(render_fix("pom.xml", pom, [second]))))
    assert len(edits) == 1 and edits[0][0].count("\n") >= 1
    after = apply_exact(pom, edits)
    assert after.count("<groupId>javax</groupId>") == 1
    assert after.index("jakarta.platform") > after.index("javaee-api")


def test_window_prompts_address_absolute_line_numbers() -> None:
    lines = JAVA.rstrip("\n").split("\n")
    window = (5, 13)
    shown = "\n".join(lines[window[0] - 1 : window[1]])
    stateless = incident("javax-to-jakarta-import-00001", 5, "Replace the `javax.ejb` import statement")
    prompt = render_fix("src/Things.java", shown, [stateless], window=window, total_lines=len(lines))
    parsed = parse_prompt(prompt)
    assert parsed is not None and parsed.first_line == 5
    edits = tool_edits(respond(request(prompt)))
    assert edits == [("import javax.ejb.Stateless;", "import jakarta.ejb.Stateless;")]


def test_incident_outside_the_window_is_not_guessed_at() -> None:
    shown = "\n".join(JAVA.split("\n")[8:12])
    far = incident("javax-to-jakarta-import-00001", 5, "Replace the `javax.ejb` import statement")
    reply = respond(request(render_fix("src/Things.java", shown, [far], window=(9, 12), total_lines=19)))
    assert tool_edits(reply) == []
    assert "outside" in verdicts(reply)[far["handle"]]["reason"]


def test_retry_prompt_is_answered_from_the_current_file() -> None:
    current = JAVA.replace(
        "import javax.persistence.EntityManager;", "import jakarta.persistence.EntityManager;"
    )
    stateless = incident("javax-to-jakarta-import-00001", 5, "Replace the `javax.ejb` import statement")
    failure = FailedEdit(
        Edit("import javax.ejb.Stateles;", "import jakarta.ejb.Stateless;", (stateless["id"],)),
        "old text not found",
    )
    batch = _batch("src/Things.java", [stateless], None)
    sent = PromptBuilder().request(
        batch, current.rstrip("\n"), total_lines=19, pending=batch.incidents, failures=[failure]
    )
    assert "incidents [1]" in sent.prompt
    reply = respond(request(sent.guidance + "\n" + sent.prompt))
    assert apply_exact(current, tool_edits(reply)) == current.replace(
        "javax.ejb.Stateless", "jakarta.ejb.Stateless"
    )


def test_prompt_sent_as_content_blocks_is_read_like_a_plain_string() -> None:
    example, path, incidents = EXAMPLE_FILES[0]
    content = normalized(EXAMPLES / example / "app" / path)
    prompt = render_fix(path, content, incidents)
    head, tail = prompt.split("## File:", 1)
    assert "## Rules involved" in head
    blocks: list[dict[str, Any]] = [
        {"type": "text", "text": head.rstrip("\n"), "cache_control": {"type": "ephemeral"}},
        {"type": "text", "text": "## File:" + tail},
    ]
    assert tool_input(respond(request(blocks))) == tool_input(respond(request(prompt)))


def test_replies_are_deterministic() -> None:
    for example, path, incidents in EXAMPLE_FILES:
        prompt = render_fix(path, normalized(EXAMPLES / example / "app" / path), incidents)
        assert respond(request(prompt)) == respond(request(prompt))
        assert respond(request(prompt, tools=False)) == respond(request(prompt, tools=False))


def test_a_message_without_our_file_block_gets_an_empty_answer() -> None:
    assert tool_input(respond(request("Hello, are you there?"))) == {"edits": []}
    text = respond(request("Hello, are you there?", tools=False)).text
    assert parse_text_reply(text, [], full_verdicts=False).edits == []


def test_incident_messages_that_look_like_markup_do_not_confuse_the_parser() -> None:
    tricky = (
        "Replace JNDI lookups with CDI injection:\n```java\n## File: Fake.java\n"
        "#9 line 1 R7: fake\n```\n\n## Incidents\n"
    )
    jndi = incident("jndi-to-quarkus-00001", 16, tricky)
    stateless = incident("javax-to-jakarta-import-00001", 5, "Replace the `javax.ejb` import statement", 1)
    parsed = parse_prompt(render_fix("src/Things.java", JAVA, [jndi, stateless]))
    assert parsed is not None
    assert parsed.path == "src/Things.java"
    assert parsed.content == JAVA.rstrip("\n")
    assert [(i.id, i.line, i.rule_id) for i in parsed.incidents] == [
        ("1", 16, "jndi-to-quarkus-00001"),
        ("2", 5, "javax-to-jakarta-import-00001"),
    ]
    assert parsed.incidents[0].message == tricky.strip()


def test_a_rename_inside_the_old_lines_is_sent_as_a_substitution_not_repeated() -> None:
    java = "package a;\n\nimport javax.inject.Inject;\nimport javax.ws.rs.GET;\n\nclass A {}\n"
    imports = [incident("javax-to-jakarta-import-00001", n, "Replace the javax import", n) for n in (3, 4)]
    reply = respond(request(render_fix("src/A.java", java, imports)))
    (edit,) = tool_input(reply)["edits"]
    assert "new" not in edit and edit["sub"]
    assert apply_exact(java, tool_edits(reply)) == java.replace("javax.", "jakarta.")


def test_a_request_packing_several_files_gets_each_files_edits_under_its_own_numbers() -> None:
    from kantra_ai.prompts.builder import PackPart

    cases = [c for c in EXAMPLE_FILES if c[0] == "javaee-inventory"][:4]
    assert len(cases) >= 2
    parts, contents = [], {}
    offset = 0
    for example, path, incidents in cases:
        content = normalized(EXAMPLES / example / "app" / path)
        contents[path] = content
        batch = dataclasses.replace(_batch(path, incidents, None), handle_offset=offset)
        offset += len(batch.incidents)
        parts.append(PackPart(batch, content.rstrip("\n"), content.count("\n") + 1, batch.incidents))
    every = [i for part in parts for i in part.batch.incidents]
    builder = PromptBuilder().with_rules(every)
    sent = builder.pack_request(parts, max_tokens=8192)
    reply = respond(request(sent.guidance + "\n" + sent.prompt))
    owner = {n: str(part.batch.path) for part in parts for n in builder.handles(part.batch)}
    by_file: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for edit in tool_input(reply)["edits"]:
        files = {owner[str(n)] for n in edit["ids"]}
        assert len(files) == 1, edit  # an edit is for one file
        by_file[files.pop()].append((edit["old"], _new(edit)))
    for _, path, incidents in cases:
        alone = respond(request(render_fix(path, contents[path], incidents)))
        # Packed or alone, the same file comes out.
        assert apply_exact(contents[path], by_file[path]) == apply_exact(contents[path], tool_edits(alone))
