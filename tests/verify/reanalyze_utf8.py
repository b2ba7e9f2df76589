"""A stand-in for `kantra analyze` on the utf8-reports example: scans the tree for the constructor
calls the openjdk21 `utf-8-by-default` rules match and writes `OUTPUT_DIR/output.yaml` in the
analyzer's own format.

    python reanalyze_utf8.py OUTPUT_DIR             # like the real rules: every such call
    python reanalyze_utf8.py OUTPUT_DIR --charsets  # a stricter rule: only calls without a charset
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import yaml

ROOT = "file:///opt/input/source/"
RULES = {
    "utf-8-by-default-00000": (
        "java.io",
        re.compile(r"new (?:java\.io\.)?(FileReader|FileWriter|InputStreamReader|OutputStreamWriter)\("),
    ),
    "utf-8-by-default-00010": ("java.util", re.compile(r"new (Formatter|Scanner)\(")),
}


def message(name: str) -> str:
    """The rule's message, as the analyzer renders it for the class `name`."""
    return (
        f"If not supplied, the `{name}` constructor uses UTF-8 by default. \n If you haven't provided the "
        "character set, and UTF-8 is not appropriate for your class, then supply the appropriate character "
        "set to the constructor call."
    )


def main(output: Path, charsets: bool) -> None:
    violations: dict[str, dict[str, object]] = {}
    for source in sorted(Path("src").rglob("*.java")):
        lines = source.read_text(encoding="utf-8").split("\n")
        for number, line in enumerate(lines, 1):
            for rule, (package, pattern) in RULES.items():
                match = pattern.search(line)
                if match is None or (charsets and "Charset" in line):
                    continue
                first, last = max(1, number - 3), min(len(lines), number + 3)
                width = len(str(last))
                violation = violations.setdefault(
                    rule,
                    {
                        "description": f"The '{package}' constructor defaults to UTF-8",
                        "category": "potential",
                        "labels": ["konveyor.io/target=openjdk18+", "konveyor.io/target=openjdk"],
                        "incidents": [],
                        "effort": 1,
                    },
                )
                violation["incidents"].append(  # type: ignore[attr-defined]
                    {
                        "uri": ROOT + source.as_posix(),
                        "message": message(f"{package}.{match.group(1)}"),
                        "codeSnip": "\n".join(f"{n:>{width}}  {lines[n - 1]}" for n in range(first, last + 1))
                        + "\n",
                        "lineNumber": number,
                    }
                )
    output.mkdir(parents=True, exist_ok=True)
    document = [{"name": "openjdk21", "violations": violations}]
    (output / "output.yaml").write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")


if __name__ == "__main__":
    main(Path(sys.argv[1]), "--charsets" in sys.argv[2:])
