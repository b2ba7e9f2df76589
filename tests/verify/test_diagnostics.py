"""A check's output as diagnostics: what each tool prints, read back to file, line and message, and
compared with the baseline by file and message (never by line: fixes move lines)."""

from __future__ import annotations

from pathlib import Path

import pytest

from kantra_ai.verify.diagnostics import Diagnostic, new_diagnostics, parse_diagnostics


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    for name in (
        "src/main/java/com/example/reports/CsvExport.java",
        "src/main/java/com/example/reports/Summary.java",
        "src/a.ts",
        "cmd/main.go",
        "pkg/clock.py",
        "tests/test_clock.py",
        "src/app.js",
        "src/Main.kt",
        "Program.cs",
    ):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("\n")
    return tmp_path


def parsed(output: str, tree: Path) -> list[tuple[str | None, int | None, str]]:
    return [(d.path, d.line, d.message) for d in parse_diagnostics(output, [tree])]


JAVAC = "\n".join(
    [
        "src/main/java/com/example/reports/CsvExport.java:13: error: cannot find symbol",
        "        try (Writer out = new FileWriter(target.toFile(), StandardCharsets.UTF_8)) {",
        "                                                          ^",
        "  symbol:   variable StandardCharsets",
        "  location: class CsvExport",
        "src/main/java/com/example/reports/Summary.java:19: error: no suitable constructor found for "
        "Formatter(StringBuilder,Charset)",
        "        try (Formatter table = new Formatter(text, StandardCharsets.UTF_8)) {",
        "                               ^",
        "    constructor Formatter.Formatter(Locale,Appendable) is not applicable",
        "      (argument mismatch; StringBuilder cannot be converted to Locale)",
        "src/main/java/com/example/reports/Summary.java:3: warning: [deprecation] URLEncoder in java.net "
        "has been deprecated",
        "Note: Some messages have been simplified; recompile with -Xdiags:verbose to get full output",
        "2 errors",
    ]
)


def test_javac_errors_carry_their_symbol_and_location_and_warnings_are_not_problems(tree: Path) -> None:
    assert parsed(JAVAC, tree) == [
        (
            "src/main/java/com/example/reports/CsvExport.java",
            13,
            "cannot find symbol\n  symbol: variable StandardCharsets\n  location: class CsvExport",
        ),
        (
            "src/main/java/com/example/reports/Summary.java",
            19,
            "no suitable constructor found for Formatter(StringBuilder,Charset)",
        ),
    ]


def test_maven_absolute_paths_and_its_repeated_summary_give_each_error_once(tree: Path) -> None:
    root = tree.resolve()
    output = f"""\
\x1b[1;31mERROR\x1b[m] COMPILATION ERROR :
[ERROR] {root}/src/main/java/com/example/reports/CsvExport.java:[13,59] cannot find symbol
  symbol:   variable StandardCharsets
  location: class com.example.reports.CsvExport
[ERROR] Failed to execute goal org.apache.maven.plugins:maven-compiler-plugin:3.10.1:compile \
(default-compile) on project utf8-reports: Compilation failure
[ERROR] {root}/src/main/java/com/example/reports/CsvExport.java:[13,59] cannot find symbol
[ERROR]   symbol:   variable StandardCharsets
[ERROR]   location: class com.example.reports.CsvExport
[ERROR] -> [Help 1]
"""
    assert parsed(output, tree) == [
        (
            "src/main/java/com/example/reports/CsvExport.java",
            13,
            "cannot find symbol\n  symbol: variable StandardCharsets\n"
            "  location: class com.example.reports.CsvExport",
        )
    ]


def test_tsc_plain_and_pretty_output_read_the_same(tree: Path) -> None:
    plain = "src/a.ts(1,26): error TS2304: Cannot find name 'lastValueFrom'.\n"
    pretty = (
        "\x1b[96msrc/a.ts\x1b[0m:\x1b[93m1\x1b[0m:\x1b[93m26\x1b[0m - \x1b[91merror\x1b[0m\x1b[90m TS2304: "
        "\x1b[0mCannot find name 'lastValueFrom'.\n\n\x1b[7m1\x1b[0m export const x = lastValueFrom(1);\n\n"
        "Found 1 error in src/a.ts\x1b[90m:1\x1b[0m\n"
    )
    expected = [("src/a.ts", 1, "TS2304: Cannot find name 'lastValueFrom'.")]
    assert parsed(plain, tree) == expected
    assert parsed(pretty, tree) == expected


def test_go_dotnet_kotlin_and_eslint_formats(tree: Path) -> None:
    output = """\
# example.com/orders/cmd
./cmd/main.go:7:2: "io/ioutil" imported and not used
Program.cs(12,17): error CS0103: The name 'Encoding' does not exist in the current context [/src/app.csproj]
Program.cs(3,1): warning CS8019: Unnecessary using directive. [/src/app.csproj]
e: file://{root}/src/Main.kt:4:13 Unresolved reference: Charsets
w: file://{root}/src/Main.kt:9:5 Variable 'x' is never used

src/app.js
  12:5  error  'fetchJson' is not defined  no-undef
  14:1  warning  Unexpected console statement  no-console
""".replace("{root}", str(tree.resolve()))
    assert parsed(output, tree) == [
        ("cmd/main.go", 7, '"io/ioutil" imported and not used'),
        ("Program.cs", 12, "CS0103: The name 'Encoding' does not exist in the current context"),
        ("src/Main.kt", 4, "Unresolved reference: Charsets"),
        ("src/app.js", 12, "'fetchJson' is not defined"),
    ]


PYTEST = """\
F.                                                                       [100%]
=================================== FAILURES ===================================
___________________________________ test_now ___________________________________

    def test_now():
>       assert now().tzinfo is not None
               ^^^^^

tests/test_clock.py:3:
_ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _

    def now():
>       return datetime.now(timezone.utc)
                            ^^^^^^^^
E       NameError: name 'timezone' is not defined

pkg/clock.py:3: NameError
=========================== short test summary info ============================
FAILED tests/test_clock.py::test_now - NameError: name 'timezone' is not defined
1 failed, 1 passed in 0.12s
"""


def test_a_pytest_failure_is_placed_at_its_deepest_frame_in_the_tree(tree: Path) -> None:
    assert parsed(PYTEST, tree) == [
        ("pkg/clock.py", 3, "NameError: name 'timezone' is not defined (in test_now)"),
    ]


def test_pytest_without_tracebacks_still_names_each_failed_test(tree: Path) -> None:
    output = (
        "=========================== short test summary info ============================\n"
        "FAILED tests/test_clock.py::test_now - assert None is not None\n"
    )
    assert parsed(output, tree) == [
        ("tests/test_clock.py", None, "assert None is not None (in tests/test_clock.py::test_now)")
    ]


def test_a_python_traceback_and_a_compileall_syntax_error(tree: Path) -> None:
    output = """\
Traceback (most recent call last):
  File "/usr/lib/python3.11/runpy.py", line 198, in _run_module_as_main
  File "pkg/clock.py", line 3, in now
    return datetime.now(timezone.utc)
NameError: name 'timezone' is not defined
*** Error compiling './pkg/clock.py'...
  File "./pkg/clock.py", line 1
    def f(:
          ^
SyntaxError: invalid syntax
"""
    assert parsed(output, tree) == [
        ("pkg/clock.py", 3, "NameError: name 'timezone' is not defined"),
        ("pkg/clock.py", 1, "SyntaxError: invalid syntax"),
    ]


def test_a_file_outside_the_tree_keeps_its_name_but_belongs_to_no_file_of_ours(tree: Path) -> None:
    output = "/usr/include/stdio.h:12: error: something\n/elsewhere/Foo.java:3: error: cannot find symbol\n"
    # Unknown files are not guessed from the generic format (they may be anything)...
    assert parsed(output, tree) == []
    # ...but a tool-specific format names them, and they stay unattributed.
    maven = "[ERROR] /elsewhere/Foo.java:[3,1] cannot find symbol\n"
    assert [(d.path, d.file) for d in parse_diagnostics(maven, [tree])] == [(None, "/elsewhere/Foo.java")]


def test_only_problems_the_baseline_did_not_have_are_new_whatever_their_lines() -> None:
    before = [Diagnostic("A.java", 10, "cannot find symbol"), Diagnostic("B.java", 3, "x")]
    after = [
        Diagnostic("A.java", 14, "cannot find symbol"),  # moved by an edit: the same problem
        Diagnostic("A.java", 20, "cannot find symbol"),  # a second one: new
        Diagnostic("C.java", 1, "x"),
    ]
    assert new_diagnostics(after, before) == after[1:]
    assert new_diagnostics(after, []) == after
