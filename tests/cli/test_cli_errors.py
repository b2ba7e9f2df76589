"""Bad flags and bad files: one line on stderr, exit code 2, nothing touched."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.cli.helpers import analysis_of, copy_example, run, tree_differences

EXAMPLE = "javaee-inventory"


def _one_line_error(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err.strip()
    assert err.startswith("kantra-ai: error:"), err
    assert len(err.splitlines()) == 1, err
    return err


@pytest.mark.parametrize(
    "args, fragment",
    [
        (["remediate", "--no-such-flag"], "no-such-flag"),
        (["remediate", "--analysis", "x.yaml"], "--input"),
        (["remediate", "--batch-size", "zero"], "batch-size"),
        (["frobnicate"], "frobnicate"),
    ],
)
def test_wrong_flags_give_a_one_line_usage_error(
    args: list[str], fragment: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(*args) == 2
    assert fragment in _one_line_error(capsys)


def test_missing_analysis_file_is_a_one_line_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    app = copy_example(EXAMPLE, tmp_path)
    assert run("remediate", "--analysis", tmp_path / "nope.yaml", "--input", app) == 2
    assert "nope.yaml" in _one_line_error(capsys)


def test_broken_yaml_is_a_one_line_error_and_changes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    app = copy_example(EXAMPLE, tmp_path)
    broken = tmp_path / "output.yaml"
    broken.write_text("- name: rules\n  violations: {a: [unclosed\n")
    assert run("remediate", "--analysis", broken, "--input", app) == 2
    assert "output.yaml" in _one_line_error(capsys)
    assert tree_differences(app, copy_example(EXAMPLE, tmp_path / "pristine")) == []


def test_an_analysis_that_is_not_a_text_file_is_refused_as_such(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    app = copy_example(EXAMPLE, tmp_path)
    store = tmp_path / "state.db"  # a run store given as --analysis: said to be "cut short" before
    store.write_bytes(b"SQLite format 3\x00" + b"\x00" * 100)
    assert run("remediate", "--analysis", store, "--input", app, "--dry-run") == 2
    assert "not a text file" in _one_line_error(capsys)


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        (None, "No such file or directory"),
        (b"simulated-model: {input: 1, output: 2\n", "YAML syntax error at line 2"),
        (b"\xde\xad\xbe\xef: 1\n", "not UTF-8 text"),  # was a UnicodeDecodeError traceback
        (b"simulated-model: {input: 1, output: 2, cache_read: 3}\n", "unknown key 'cache_read'"),
    ],
)
def test_a_bad_prices_file_is_refused_with_a_local_provider_too(
    content: bytes | None, fragment: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A local (or simulated) model costs nothing, but the file the user gave is still read: it was
    not opened at all, so a missing or broken --prices passed unnoticed (exit 0)."""
    app = copy_example(EXAMPLE, tmp_path)
    prices = tmp_path / "prices.yaml"
    if content is not None:
        prices.write_bytes(content)
    args = ("remediate", "--analysis", analysis_of(EXAMPLE), "--input", app, "--provider", "simulated")
    assert run(*args, "--prices", prices) == 2
    error = _one_line_error(capsys)
    assert fragment in error and "prices.yaml" in error
    assert tree_differences(app, copy_example(EXAMPLE, tmp_path / "pristine")) == []


@pytest.mark.parametrize(
    ("flags", "needs"),
    [
        (["--branch", "migration"], "--git-commit or --create-pr"),
        (["--pr-strategy", "per-violation"], "--create-pr"),
        (["--git-commit", "at-end", "--pr-base", "main"], "--create-pr"),
        (["--remote", "upstream"], "--create-pr"),
        (["--forge", "gitlab"], "--create-pr"),
        (["--forge-url", "https://git.example.com"], "--create-pr"),
        (["--pr-comment-threshold", "0.8"], "--create-pr"),
    ],
)
def test_a_git_option_without_git_delivery_is_refused_not_ignored(
    flags: list[str], needs: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Ignored, `--branch migration` ran, fixed the tree and exited 0 with nothing committed: the
    user believed the fixes were on that branch (as --verify's options without --verify)."""
    app = copy_example(EXAMPLE, tmp_path)
    args = ("remediate", "--analysis", analysis_of(EXAMPLE), "--input", app, "--provider", "simulated")
    assert run(*args, *flags) == 2
    assert f"--{flags[-2].lstrip('-')} only applies with {needs}" in _one_line_error(capsys)
    assert tree_differences(app, copy_example(EXAMPLE, tmp_path / "pristine"), ignore=()) == []


def test_input_that_is_not_a_directory_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run("remediate", "--analysis", analysis_of(EXAMPLE), "--input", tmp_path / "missing") == 2
    assert "not a directory" in _one_line_error(capsys)


def test_unknown_provider_lists_the_known_ones(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    app = copy_example(EXAMPLE, tmp_path)
    assert run("remediate", "--analysis", analysis_of(EXAMPLE), "--input", app, "--provider", "skynet") == 2
    assert "ollama" in _one_line_error(capsys)


def test_unknown_category_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    app = copy_example(EXAMPLE, tmp_path)
    code = run("remediate", "--analysis", analysis_of(EXAMPLE), "--input", app, "--categories", "urgent")
    assert code == 2
    assert "mandatory" in _one_line_error(capsys)


def test_missing_api_key_names_the_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("ANTHROPIC_API_KEY")
    app = copy_example(EXAMPLE, tmp_path)
    assert run("remediate", "--analysis", analysis_of(EXAMPLE), "--input", app) == 2
    assert "ANTHROPIC_API_KEY" in _one_line_error(capsys)


@pytest.mark.parametrize(
    ("exported", "said"),
    [
        ("CLAUDE_API_KEY", "(CLAUDE_API_KEY is set, but ANTHROPIC_API_KEY is the name read)"),
        ("ANTHROPIC_KEY", "(ANTHROPIC_KEY is set, but ANTHROPIC_API_KEY is the name read)"),
        ("OPENAI_API_KEY", "(OPENAI_API_KEY is set, which --provider openai reads)"),
    ],
)
def test_a_key_exported_under_another_name_is_named_next_to_the_missing_one(
    exported: str,
    said: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.delenv("ANTHROPIC_API_KEY")
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.setenv(exported, "sk-test-misplaced-0000")
    app = copy_example(EXAMPLE, tmp_path)
    assert run("remediate", "--analysis", analysis_of(EXAMPLE), "--input", app) == 2
    error = _one_line_error(capsys)
    assert f"ANTHROPIC_API_KEY is not set {said}: export it" in error, error
    assert "sk-test-misplaced" not in error
    assert tree_differences(app, copy_example(EXAMPLE, tmp_path / "pristine")) == []


def test_max_cost_without_a_known_price_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    app = copy_example(EXAMPLE, tmp_path)
    code = run(
        "remediate",
        "--analysis",
        analysis_of(EXAMPLE),
        "--input",
        app,
        "--model",
        "some-unpriced-model",
        "--max-cost",
        "1",
    )
    assert code == 2
    assert "--prices" in _one_line_error(capsys)


def test_help_explains_every_option(capsys: pytest.CaptureFixture[str]) -> None:
    assert run("remediate", "--help") == 0
    out = capsys.readouterr().out
    for option in ("--analysis", "--input", "--provider", "--max-cost", "--dry-run", "--batch-size"):
        assert option in out
