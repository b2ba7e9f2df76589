"""No nonsense number is accepted: NaN, infinities, negative and absurdly large values of every
numeric option (on the command line and in `.kantra-ai.yaml`), of the price file, and of the
analysis's numeric fields are refused before anything is sent or written, in one line naming the
option, the config key or the analysis file and line. `--max-cost nan` used to switch the budget off.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from tests.cli.helpers import EXAMPLES, analysis_of, copy_example, run, tree_differences

from kantra_ai.simulated.recipes import respond
from testing.fakeprovider.server import FakeProviderServer

EXAMPLE = "javaee-inventory"
HUGE = "99999999999999999999"

# (command, option, bad value). Each must fail with exit 2 and one line naming the option.
BAD_OPTIONS = [
    *(("remediate", "--max-cost", v) for v in ("nan", "inf", "-inf", "-1", "0", "1e400")),
    *(("remediate", "--min-confidence", v) for v in ("nan", "inf", "-0.5", "1.5")),
    *(("remediate", "--batch-size", v) for v in ("0", "-3", HUGE)),
    *(("remediate", "--batch-parallelism", v) for v in ("0", "-1", HUGE)),
    *(("remediate", "--max-batch-tokens", v) for v in ("0", "-1", HUGE)),
    *(("remediate", "--max-retries", v) for v in ("-1", "6", HUGE)),
    *(("remediate", "--max-effort", v) for v in ("-1", HUGE)),
    *(
        ("remediate", "--rate-limits", v)
        for v in ("rpm=inf", "rpm=nan", "itpm=-5", "otpm=1e400", f"rpm={HUGE}")
    ),
    *(("remediate", "--complexity-threshold", v) for v in ("high=nan", "high=inf", "high=-0.1")),
    *(("plan", "--max-phases", v) for v in ("0", "-2", HUGE)),
    *(("plan", "--chunk-tokens", v) for v in ("0", HUGE)),
    ("execute", "--max-cost", "nan"),
    ("status", "--runs", HUGE),
    ("status", "--runs", "0"),
]


def _argv(command: str, app: Path, tmp_path: Path, server: FakeProviderServer) -> list[str | Path]:
    if command == "status":
        return ["status", "--input", app]
    url = ["--base-url", server.anthropic_base_url]
    if command == "execute":
        plan = tmp_path / "plan.yaml"
        plan.write_text("version: '1.0'\n")
        return ["execute", "--plan", plan, "--input", app, "--no-progress", *url]
    quiet = ["--no-progress"] if command == "remediate" else []
    return [command, "--analysis", analysis_of(EXAMPLE), "--input", app, *quiet, *url]


def _one_line_error(capsys: pytest.CaptureFixture[str]) -> str:
    captured = capsys.readouterr()
    err = captured.err.strip()
    assert err.startswith("kantra-ai: error:"), err
    assert len(err.splitlines()) == 1, err
    assert "Traceback" not in captured.out + captured.err
    return err


@pytest.mark.parametrize(("command", "option", "value"), BAD_OPTIONS, ids=lambda x: str(x))
def test_a_nonsense_number_is_refused_in_one_line_naming_the_option(
    command: str, option: str, value: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    app = copy_example(EXAMPLE, tmp_path)
    with FakeProviderServer(respond) as server:
        code = run(*_argv(command, app, tmp_path, server), f"{option}={value}")
        requests = server.request_count
    assert code == 2
    assert option in _one_line_error(capsys)
    assert requests == 0
    assert tree_differences(app, EXAMPLES / EXAMPLE / "app") == []
    assert not (app / ".kantra-ai").exists()


def test_a_nan_budget_pays_nothing_where_a_tiny_one_pays_nothing_either(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The reviewer's case: `--max-cost 0.001` sends no request; `--max-cost nan` sent 7."""
    for value in ("0.001", "nan"):
        app = copy_example(EXAMPLE, tmp_path / value)
        with FakeProviderServer(respond) as server:
            run(
                "remediate", "--analysis", analysis_of(EXAMPLE), "--input", app,
                "--base-url", server.anthropic_base_url, "--no-progress", "--max-cost", value,
            )  # fmt: skip
            assert server.request_count == 0, value
    capsys.readouterr()


# (config text, the key the error must name)
BAD_CONFIG = [
    ("limits:\n  max-cost: .nan\n", "limits.max-cost"),
    ("limits:\n  max-cost: .inf\n", "limits.max-cost"),
    ("limits:\n  max-cost: -2\n", "limits.max-cost"),
    ("limits:\n  max-effort: -1\n", "limits.max-effort"),
    (f"limits:\n  max-effort: {HUGE}\n", "limits.max-effort"),
    ("confidence:\n  min-confidence: .nan\n", "confidence.min-confidence"),
    ("confidence:\n  complexity-thresholds: {high: .nan}\n", "confidence.complexity-thresholds.high"),
    ("batching:\n  batch-parallelism: 100000\n", "batching.batch-parallelism"),
    (f"batching:\n  batch-size: {HUGE}\n", "batching.batch-size"),
    ("plan:\n  max-phases: 0\n", "plan.max-phases"),
]


@pytest.mark.parametrize(
    ("text", "key"), BAD_CONFIG, ids=[k + ":" + t.split(":")[-1].strip() for t, k in BAD_CONFIG]
)
def test_a_nonsense_number_in_the_config_file_is_refused_naming_file_and_key(
    text: str, key: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".kantra-ai.yaml").write_text(text)
    app = copy_example(EXAMPLE, tmp_path)
    code = run("remediate", "--analysis", analysis_of(EXAMPLE), "--input", app, "--dry-run", "--json")
    assert code == 2
    err = _one_line_error(capsys)
    assert ".kantra-ai.yaml" in err and key in err


@pytest.mark.parametrize("price", [".nan", ".inf", "-3"])
def test_a_nonsense_price_is_refused_naming_the_price_file(
    price: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    prices = tmp_path / "prices.yaml"
    prices.write_text(f"claude-sonnet-5-5: {{input: 3, output: {price}}}\n")
    app = copy_example(EXAMPLE, tmp_path)
    code = run(
        "remediate", "--analysis", analysis_of(EXAMPLE), "--input", app, "--dry-run", "--prices", prices,
    )  # fmt: skip
    assert code == 2
    err = _one_line_error(capsys)
    assert str(prices) in err and "output" in err


def _analysis_with(tmp_path: Path, field: str, value: str, *, json_format: bool = False) -> Path:
    """The example's analysis with one incident's (or violation's) field set to `value`."""
    text = analysis_of(EXAMPLE).read_text()
    if field == "lineNumber":
        first = text.index("lineNumber:")
        end = text.index("\n", first)
        text = text[:first] + f"lineNumber: {value}" + text[end:]
    else:
        first = text.index("effort:")
        end = text.index("\n", first)
        text = text[:first] + f"effort: {value}" + text[end:]
    path = tmp_path / "output.yaml"
    path.write_text(text)
    if json_format:
        json_path = tmp_path / "output.json"
        json_path.write_text(json.dumps(yaml.safe_load(text), indent=1))
        return json_path
    return path


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("lineNumber", HUGE),
        ("lineNumber", str(2**63)),
        ("lineNumber", "-7"),
        ("effort", HUGE),
        ("effort", "-2"),
    ],
)
@pytest.mark.parametrize("json_format", [False, True], ids=["yaml", "json"])
def test_an_analysis_number_out_of_range_is_refused_at_its_file_and_line(
    field: str, value: str, json_format: bool, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    analysis = _analysis_with(tmp_path, field, value, json_format=json_format)
    app = copy_example(EXAMPLE, tmp_path)
    with FakeProviderServer(respond) as server:
        code = run(
            "remediate", "--analysis", analysis, "--input", app, "--base-url", server.anthropic_base_url,
            "--no-progress",
        )  # fmt: skip
        assert server.request_count == 0
    assert code == 2
    err = _one_line_error(capsys)
    expected_line = next(
        n
        for n, line in enumerate(analysis.read_text().splitlines(), 1)
        if f"{field}" in line and value in line
    )
    assert f"{analysis}:{expected_line}: " in err
    assert field in err and value in err
    assert not (app / ".kantra-ai").exists()
