"""The integrity gate: what parses but is wrong; and the checked application that runs both gates.

`check_integrity` is given what an application reports (content before and after, where the edits
landed) and trusts none of it. The cases here are what the old literal splice produced, and what a
model's own text can do, which no application logic can undo.
"""

from __future__ import annotations

import pytest

from kantra_ai.edits.apply import plan_region
from kantra_ai.edits.checked import apply_checked
from kantra_ai.edits.integrity import check_integrity
from kantra_ai.edits.model import Edit, EditStatus, Landing

JAVA = """\
package com.example;

import javax.ejb.Stateless;
import java.util.List;

@Stateless
public class OrderService {
    private List<String> names;
}
"""

POM = """\
<project>
  <dependencies>
    <dependency>
      <groupId>javax</groupId>
      <artifactId>javaee-api</artifactId>
    </dependency>
  </dependencies>
</project>
"""


def _landing(before: tuple[int, int], after: tuple[int, int], *edits: Edit) -> Landing:
    return Landing(before, after, edits, tuple(range(len(edits))))


def _reasons(path: str, before: str, after: str, *landings: Landing) -> list[str]:
    return [problem.reason for problem in check_integrity(path, before, after, landings)]


def test_a_correct_edit_has_no_problems() -> None:
    edit = Edit("import javax.ejb.Stateless;\n", "import jakarta.ejb.Stateless;\n")
    after = JAVA.replace("javax.ejb", "jakarta.ejb")
    assert _reasons("A.java", JAVA, after, _landing((2, 3), (2, 3), edit)) == []


def test_lines_glued_by_a_literal_splice_are_caught() -> None:
    # What the old application made of the reply, and reported as a one-line landing.
    edit = Edit("import javax.ejb.Stateless;\n", "import jakarta.ejb.Stateless;")
    after = JAVA.replace("import javax.ejb.Stateless;\n", "import jakarta.ejb.Stateless;")
    reasons = _reasons("A.java", JAVA, after, _landing((2, 3), (2, 3), edit))
    assert reasons == [
        "line 4 changed although no edit named it: 'import java.util.List;' became ''",
        "line 3 joins two lines into one: 'import jakarta.ejb.Stateless;import java.util.List;'",
        # Glued behind another statement, it is no import any more.
        "import java.util.List was removed but List is still used (line 7)",
    ]


def test_an_annotation_run_into_its_declaration_is_caught() -> None:
    edit = Edit("@Stateless\npublic class OrderService {", "@ApplicationScopedpublic class OrderService {")
    after = JAVA.replace("@Stateless\npublic", "@ApplicationScopedpublic")
    reasons = _reasons("A.java", JAVA, after, _landing((5, 7), (5, 6), edit))
    assert reasons == ["line 6 joins two lines into one: '@ApplicationScopedpublic class OrderService {'"]


def test_a_join_the_edit_writes_with_a_space_is_its_own_business() -> None:
    edit = Edit("@Stateless\npublic class OrderService {", "@ApplicationScoped public class OrderService {")
    after = JAVA.replace("@Stateless\npublic", "@ApplicationScoped public")
    assert _reasons("A.java", JAVA, after, _landing((5, 7), (5, 6), edit)) == []


def test_a_join_that_was_in_the_file_already_is_not_held_against_an_edit() -> None:
    before = JAVA.replace("    private List<String> names;", "    int a; int b;")
    edit = Edit("    int a; int b;", "    long a; int b;")
    after = before.replace("int a;", "long a;")
    assert _reasons("A.java", before, after, _landing((7, 8), (7, 8), edit)) == []


def test_xml_tags_of_two_lines_glued_into_one_are_caught() -> None:
    edit = Edit("      <groupId>javax</groupId>\n", "      <groupId>jakarta.platform</groupId>")
    after = POM.replace(
        "      <groupId>javax</groupId>\n      <artifactId>",
        "      <groupId>jakarta.platform</groupId><artifactId>",
    )
    reasons = _reasons("pom.xml", POM, after, _landing((3, 4), (3, 4), edit))
    assert reasons[-1] == (
        "line 4 joins two lines into one: '<groupId>jakarta.platform</groupId><artifactId>javaee-api...'"
    )


def test_a_line_count_the_edit_text_does_not_explain_is_caught() -> None:
    # Told to replace one line with one line, the lines came out two: a line was added unasked.
    edit = Edit("@Stateless\n", "@ApplicationScoped\n")
    after = JAVA.replace("@Stateless\n", "@ApplicationScoped\n\n")
    reasons = _reasons("A.java", JAVA, after, _landing((5, 6), (5, 7), edit))
    assert reasons == ["line 6: the line count changed by +1, but the edit text says +0"]


def test_a_line_changed_outside_every_landing_is_caught() -> None:
    edit = Edit("@Stateless\n", "@ApplicationScoped\n")
    after = JAVA.replace("@Stateless", "@ApplicationScoped").replace("names", "labels")
    reasons = _reasons("A.java", JAVA, after, _landing((5, 6), (5, 6), edit))
    assert reasons == [
        "line 8 changed although no edit named it: 'private List<String> names;' became "
        "'private List<String> labels;'"
    ]


def test_a_line_removed_between_two_edits_is_blamed_on_those_two_only() -> None:
    imports = Edit("import javax.ejb.Stateless;", "import jakarta.ejb.Stateless;")
    scope = Edit("@Stateless", "@ApplicationScoped")
    end = Edit("}", "} // end")
    after = (
        JAVA.replace("javax.ejb", "jakarta.ejb")
        .replace("@Stateless", "@ApplicationScoped")
        .replace("List;\n\n", "List;\n")  # the blank line before the annotation is gone
        .replace("}\n", "} // end\n")
    )
    landings = [
        Landing((2, 3), (2, 3), (imports,), (0,)),
        Landing((5, 6), (4, 5), (scope,), (1,)),
        Landing((8, 9), (7, 8), (end,), (2,)),
    ]
    problems = check_integrity("A.java", JAVA, after, landings)
    assert [(p.reason, p.edits) for p in problems] == [
        ("line 5 changed although no edit named it: '' became (removed)", (0, 1))
    ]


def test_an_import_removed_while_its_name_is_still_used_is_caught() -> None:
    edit = Edit("import java.util.List;\n", "")
    after = JAVA.replace("import java.util.List;\n", "")
    problems = check_integrity("A.java", JAVA, after, [_landing((3, 4), (3, 3), edit)])
    assert [p.reason for p in problems] == [
        "import java.util.List was removed but List is still used (line 7)"
    ]
    assert problems[0].edits == (0,)


def test_a_removed_import_whose_name_another_import_provides_is_fine() -> None:
    edit = Edit("import javax.ejb.Stateless;\n", "import jakarta.ejb.Stateless;\n")
    after = JAVA.replace("javax.ejb", "jakarta.ejb")
    assert _reasons("A.java", JAVA, after, _landing((2, 3), (2, 3), edit)) == []


def test_a_removed_import_named_only_in_comments_and_strings_is_fine() -> None:
    before = JAVA.replace("    private List<String> names;", '    // a List of names\n    String s = "List";')
    edit = Edit("import java.util.List;\n", "")
    after = before.replace("import java.util.List;\n", "")
    assert _reasons("A.java", before, after, _landing((3, 4), (3, 3), edit)) == []


def test_with_a_wildcard_import_a_removed_name_is_not_judged() -> None:
    before = JAVA.replace("import java.util.List;", "import java.util.List;\nimport java.util.*;")
    edit = Edit("import java.util.List;\n", "")
    after = before.replace("import java.util.List;\n", "")
    assert _reasons("A.java", before, after, _landing((3, 4), (3, 3), edit)) == []


# --- both gates behind one call ----------------------------------------------------------------------


def test_checked_apply_refuses_an_edit_whose_own_text_glues_two_statements() -> None:
    glued = Edit(
        "import javax.ejb.Stateless;\nimport java.util.List;\n",
        "import jakarta.ejb.Stateless;import java.util.List;\n",
        ("i1",),
    )
    fine = Edit("    private List<String> names;", "    private List<String> labels;", ("i2",))
    result = apply_checked("A.java", JAVA, [glued, fine])
    assert [o.status for o in result.outcomes] == [EditStatus.FAILED, EditStatus.APPLIED]
    assert result.failed[0].reason == (
        "line 3 joins two lines into one: 'import jakarta.ejb.Stateless;import java.util.List;'"
    )
    assert result.content == JAVA.replace("names", "labels")
    assert [landing.indices for landing in result.landings] == [(1,)]


def test_checked_apply_refuses_removing_an_import_that_is_still_used() -> None:
    remove = Edit("import java.util.List;\n", "", ("i1",))
    annotation = Edit("@Stateless", "@ApplicationScoped", ("i2",))
    result = apply_checked("A.java", JAVA, [remove, annotation])
    assert [o.status for o in result.outcomes] == [EditStatus.FAILED, EditStatus.APPLIED]
    assert result.failed[0].reason == "import java.util.List was removed but List is still used (line 7)"
    assert result.content == JAVA.replace("@Stateless", "@ApplicationScoped")


def test_checked_apply_blames_only_the_edit_that_breaks_the_syntax() -> None:
    breaks = Edit("    private List<String> names;", "    private List<String> names", ("i1",))
    fine = Edit("@Stateless", "@ApplicationScoped", ("i2",))
    result = apply_checked("A.java", JAVA, [breaks, fine])
    assert [o.status for o in result.outcomes] == [EditStatus.FAILED, EditStatus.APPLIED]
    assert result.failed[0].reason.startswith("the edited file no longer parses: line 8")
    assert result.content == JAVA.replace("@Stateless", "@ApplicationScoped")


def test_checked_apply_refuses_every_edit_when_only_their_combination_breaks_the_syntax() -> None:
    content = (
        "class A {\n    void f() {\n        if (c) {\n            x();\n        }\n        y();\n    }\n}\n"
    )
    # Each is valid alone; together a statement stands between the if and its else.
    add_else = Edit("        y();\n", "        else y();\n")
    add_call = Edit("            x();\n        }\n", "            x();\n        }\n        z();\n")
    for alone in (add_else, add_call):
        assert apply_checked("A.java", content, [alone]).applied == [alone]
    result = apply_checked("A.java", content, [add_else, add_call])
    assert result.content == content
    assert [o.reason for o in result.outcomes] == [
        "the edited file no longer parses: line 7, column 15: missing ';'"
    ] * 2


def test_checked_apply_matches_and_blames_inside_the_window_the_model_saw() -> None:
    content = (
        "class A {\n    void f() {\n        x = 1;\n    }\n"
        "    void g() {\n        x = 1;\n        y = 2;\n    }\n}\n"
    )
    window = plan_region(content, 5, 8)  # g() only: `x = 1;` is unique there, not in the file
    breaks = Edit("        x = 1;", "        x = 1", ("i1",))
    fine = Edit("        y = 2;", "        y = 3;", ("i2",))
    result = apply_checked("A.java", content, [breaks, fine], region=window)
    assert [o.status for o in result.outcomes] == [EditStatus.FAILED, EditStatus.APPLIED]
    assert result.outcomes[0].reason.startswith("the edited file no longer parses: line 6")
    assert result.content == content.replace("y = 2;", "y = 3;")


def test_checked_apply_keeps_already_applied_edits_and_order() -> None:
    edit = Edit("@Stateless", "@ApplicationScoped", ("i1",))
    result = apply_checked("A.java", JAVA, [edit, edit])
    assert [o.status for o in result.outcomes] == [EditStatus.APPLIED, EditStatus.ALREADY_APPLIED]
    assert result.failed == []


SERVICE = (
    "package com.example;\n\nimport javax.ejb.Stateless;\n\n@Stateless\npublic class Service {\n"
    + "".join(f"    public int m{n}() {{\n        return {n};\n    }}\n\n" for n in range(12))
    + "}\n"
)


def test_checked_apply_refuses_a_reply_that_deletes_the_whole_file() -> None:
    # It still parses (an empty compilation unit), and every line it removed was named by the edit.
    gone = Edit(SERVICE, "", ("i1",))
    fine = Edit("import javax.ejb.Stateless;", "import jakarta.ejb.Stateless;", ("i2",))
    result = apply_checked("Service.java", SERVICE, [gone])
    assert [o.status for o in result.outcomes] == [EditStatus.FAILED]
    assert result.failed[0].reason.startswith("the edit removes 41 of the file's 41 lines (lines 1-55)")
    assert result.content == SERVICE
    shell = Edit(SERVICE[SERVICE.index("@Stateless") :], "@Stateless\npublic class Service {\n}\n", ("i3",))
    result = apply_checked("Service.java", SERVICE, [shell, fine])
    assert [o.status for o in result.outcomes] == [EditStatus.FAILED, EditStatus.APPLIED]
    assert result.content == SERVICE.replace("javax.ejb", "jakarta.ejb")


def test_checked_apply_refuses_a_placeholder_for_code_the_reply_left_out() -> None:
    # The classic abridged answer: the method it did not repeat would be deleted.
    body = (
        "    public int m3() {\n        return 3;\n    }\n\n    public int m4() {\n        return 4;\n    }\n"
    )
    lazy = Edit(
        body, "    public int m3() {\n        return 3;\n    }\n\n    // ... rest unchanged ...\n", ("i1",)
    )
    result = apply_checked("Service.java", SERVICE, [lazy])
    assert [o.status for o in result.outcomes] == [EditStatus.FAILED]
    assert result.failed[0].reason.startswith("the edit writes a placeholder for code it left out")
    assert result.content == SERVICE


def test_checked_apply_keeps_an_edit_that_removes_a_method_of_a_large_file() -> None:
    method = "    public int m5() {\n        return 5;\n    }\n\n"
    removed = Edit("@Stateless\n", "", ("i1",))
    dropped = Edit(method, "", ("i2",))
    result = apply_checked("Service.java", SERVICE, [removed, dropped])
    assert [o.status for o in result.outcomes] == [EditStatus.APPLIED, EditStatus.APPLIED]
    assert result.content == SERVICE.replace("@Stateless\n", "").replace(method, "")


def test_checked_apply_refuses_an_edit_that_writes_a_credential(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-live-the-users-own-key-0123456789")  # any shape
    fine = Edit("import javax.ejb.Stateless;", "import jakarta.ejb.Stateless;", ("i1",))
    for written in (
        '    private String key = "sk-live-the-users-own-key-0123456789";',
        "    // AKIAIOSFODNN7EXAMPLE",
    ):
        leak = Edit("    private List<String> names;", f"    private List<String> names;\n{written}", ("i2",))
        result = apply_checked("A.java", JAVA, [fine, leak])
        assert [o.status for o in result.outcomes] == [EditStatus.APPLIED, EditStatus.FAILED]
        assert result.failed[0].reason.startswith("the edit writes a credential")
        assert result.content == JAVA.replace("javax.ejb", "jakarta.ejb")


def test_checked_apply_keeps_a_credential_that_was_on_the_edited_lines_already() -> None:
    # The user's own configuration: an edit of the line's other words leaves it as it was.
    before = "db.url=jdbc:postgresql://app:s3cret-pw-4@db/orders\nold.key=x\n"
    edit = Edit(before.splitlines()[0] + "\nold.key=x", before.splitlines()[0] + "\nnew.key=x", ("i1",))
    result = apply_checked("app.properties", before, [edit])
    assert [o.status for o in result.outcomes] == [EditStatus.APPLIED]
    assert result.content == before.replace("old.key", "new.key")


def test_checked_apply_applies_an_incidents_edits_together_or_not_at_all() -> None:
    # Half of a garbled reply: the import's edit breaks the file, its partner for the same incident
    # parses (a misspelt package); neither is written, and another incident's edit still is.
    breaks = Edit("import javax.ejb.Stateless;", "import jakarta.ejb.Stateless", ("i1",))
    garbled = Edit("@Stateless", "@Statless", ("i1",))
    other = Edit("    private List<String> names;", "    private List<String> labels;", ("i2",))
    result = apply_checked("A.java", JAVA, [breaks, garbled, other])
    assert [o.status for o in result.outcomes] == [EditStatus.FAILED, EditStatus.FAILED, EditStatus.APPLIED]
    assert result.failed[1].reason.startswith("another edit for the same incident failed: ")
    assert result.content == JAVA.replace("names", "labels")
