"""tree-sitter checks: edits that break a file's syntax are caught, already-broken files are not blamed."""

from __future__ import annotations

import threading

from kantra_ai.edits.syntax import breaks_syntax, is_supported, syntax_error

GOOD_JAVA = """\
package com.example;

public class A {
    void f() {
        int x = 1;
    }
}
"""

POM = """\
<?xml version="1.0" encoding="UTF-8"?>
<project>
  <dependencies>
    <dependency><groupId>jakarta.platform</groupId></dependency>
  </dependencies>
</project>
"""


def test_valid_java_has_no_error() -> None:
    assert syntax_error("src/A.java", GOOD_JAVA) is None


def test_missing_semicolon_is_reported_with_its_line() -> None:
    error = syntax_error("A.java", GOOD_JAVA.replace("int x = 1;", "int x = 1"))
    assert error == "line 5, column 18: missing ';'"


def test_garbage_in_java_is_reported_as_unexpected_text() -> None:
    error = syntax_error("A.java", GOOD_JAVA.replace("int x = 1;", "int x = 1; }} ) rest of code unchanged"))
    assert error is not None and error.startswith("line 5") and "unexpected" in error
    assert "\n" not in error


def test_edit_that_breaks_java_is_detected() -> None:
    after = GOOD_JAVA.replace("    }\n}", "    \n}")  # the model dropped a closing brace
    assert breaks_syntax("A.java", GOOD_JAVA, after) is not None


def test_edit_that_keeps_java_valid_passes() -> None:
    after = GOOD_JAVA.replace("int x = 1;", "long x = 1L;")
    assert breaks_syntax("A.java", GOOD_JAVA, after) is None


def test_already_broken_file_is_not_blamed_on_the_edit() -> None:
    before = GOOD_JAVA.replace("int x = 1;", "int x = ;")
    after = before.replace("package com.example;", "package org.example;")
    assert syntax_error("A.java", after) is not None
    assert breaks_syntax("A.java", before, after) is None


def test_pom_xml_with_mismatched_tag_is_detected() -> None:
    assert syntax_error("pom.xml", POM) is None
    broken = POM.replace("</dependencies>", "</dependency>")
    assert (
        breaks_syntax("module/pom.xml", POM, broken)
        == "line 5, column 3: unexpected '</dependency> </project>'"
    )


def test_unclosed_xml_element_is_reported_at_the_end_of_the_file() -> None:
    error = syntax_error("web.xml", POM.replace("</project>\n", ""))
    assert error is not None and error.startswith("line 5") and "end of file" in error


def test_unsupported_language_is_never_reported_broken() -> None:
    assert not is_supported("notes.unknownext")
    assert syntax_error("notes.unknownext", "((((") is None
    assert breaks_syntax("README", "ok", "((((") is None


def test_non_ascii_text_reports_character_columns() -> None:
    text = 'class A { String s = "é"; int y = 2 }\n'
    assert syntax_error("A.java", text) == "line 1, column 36: missing ';'"


def test_parsers_work_from_several_threads() -> None:
    errors: list[str | None] = []

    def check() -> None:
        for _ in range(20):
            errors.append(syntax_error("A.java", GOOD_JAVA))
            errors.append(syntax_error("A.java", GOOD_JAVA.replace("int x = 1;", "int x = 1")))

    threads = [threading.Thread(target=check) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors.count(None) == 80 and errors.count("line 5, column 18: missing ';'") == 80
