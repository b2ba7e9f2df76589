"""Bad config files: unknown keys warn (naming key and file), bad values stop with one line naming
key, value and what is allowed; `config show` tells where each setting came from, secrets masked."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import typer
from tests.cli.helpers import analysis_of, copy_example, run

from kantra_ai.cli.app import app
from kantra_ai.config.loader import load_config
from kantra_ai.config.settings import BINDINGS, Settings

EXAMPLE = "javaee-inventory"


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _config(project: Path, text: str) -> Path:
    path = project / ".kantra-ai.yaml"
    path.write_text(text)
    return path


def _dry_run(project: Path) -> int:
    app_dir = copy_example(EXAMPLE, project)
    return run("remediate", "--analysis", analysis_of(EXAMPLE), "--input", app_dir, "--dry-run", "--json")


def _one_line_error(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err.strip()
    assert err.startswith("kantra-ai: error:"), err
    assert len(err.splitlines()) == 1, err
    return err


def test_an_unknown_key_is_a_warning_naming_key_and_file_and_the_run_goes_on(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _config(project, "provider:\n  nmae: openai\nbogus-section: 1\n")
    assert _dry_run(project) == 0
    err = capsys.readouterr().err
    assert (
        "warning: ./.kantra-ai.yaml: unknown key 'provider.nmae' (ignored); did you mean 'provider.name'?"
        in err
    )
    assert "unknown key 'bogus-section'" in err


def test_a_top_level_key_in_the_wrong_section_is_pointed_to_its_section(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _config(project, "batch-size: 3\n")
    assert _dry_run(project) == 0
    assert "did you mean 'batching.batch-size'?" in capsys.readouterr().err


def test_an_api_key_in_a_config_file_is_ignored_and_never_echoed(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _config(project, "provider:\n  api-key: sk-ant-from-the-file-1234\n")
    assert _dry_run(project) == 0
    captured = capsys.readouterr()
    assert "provider.api-key' ignored: secrets are never read from config files" in captured.err
    assert "sk-ant-from-the-file-1234" not in captured.out + captured.err


@pytest.mark.parametrize(
    "text, fragments",
    [
        (
            "confidence:\n  on-low-confidence: ask\n",
            ["confidence.on-low-confidence", "'ask'", "'skip', 'warn-and-apply' or 'manual-review-file'"],
        ),
        (
            "confidence:\n  min-confidence: 1.5\n",
            ["confidence.min-confidence", "1.5", "less than or equal to 1"],
        ),
        (
            "confidence:\n  complexity-thresholds: {high: -0.1}\n",
            ["confidence.complexity-thresholds.high", "-0.1", "greater than or equal to 0"],
        ),
        ("batching:\n  batch-size: 0\n", ["batching.batch-size", "0", "greater than or equal to 1"]),
        ("limits:\n  max-cost: cheap\n", ["limits.max-cost", "'cheap'", "valid number"]),
        # YAML's true is no number: read as 1, it was a $1 budget and a batch of one incident.
        ("limits:\n  max-cost: true\n", ["limits.max-cost", "True", "expected a number, got true"]),
        ("batching:\n  batch-size: yes\n", ["batching.batch-size", "True", "expected a number, got true"]),
        ("filters:\n  categories: [urgent]\n", ["filters.categories[0]", "'urgent'", "'mandatory'"]),
        ("provider:\n  name: skynet\n", ["provider.name", "'skynet'", "ollama"]),
        ("provider: claude\n", ["provider", "'claude'", "expected a mapping"]),
        ("git:\n  commit-strategy: sometimes\n", ["git.commit-strategy", "'sometimes'", "'at-end'"]),
        (
            "prompts:\n  rule-templates: [{match: 'javax-*'}]\n",
            ["prompts.rule-templates[0].template", "missing"],
        ),
        ("prompts:\n  language-templates: {cobol: t.j2}\n", ["prompts.language-templates", "cobol", "java"]),
        # A path is the usual value: the error says so, not only "a mapping".
        (
            "prompts:\n  language-templates: {java: 5}\n",
            ["prompts.language-templates.java", "5", "a template path", "single-fix-template"],
        ),
        (
            "prompts:\n  language-templates: java.j2\n",
            ["prompts.language-templates", "'java.j2'", "language to a template path"],
        ),
        (
            "prompts:\n  language-templates: {java: {batch-fix-template: 5}}\n",
            ["prompts.language-templates.java.batch-fix-template", "expected a path"],
        ),
    ],
)
def test_an_invalid_value_is_one_line_naming_file_key_value_and_what_is_allowed(
    text: str, fragments: list[str], project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _config(project, text)
    assert _dry_run(project) == 2
    error = _one_line_error(capsys)
    assert "./.kantra-ai.yaml" in error
    for fragment in fragments:
        assert fragment in error


def test_a_config_file_that_is_not_yaml_is_one_line_with_its_line(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _config(project, "provider:\n  name: [claude\n")
    assert _dry_run(project) == 2
    error = _one_line_error(capsys)
    assert "./.kantra-ai.yaml: line 3: not valid YAML" in error


def test_a_missing_config_option_file_is_refused(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    app_dir = copy_example(EXAMPLE, project)
    args = ["--analysis", analysis_of(EXAMPLE), "--input", app_dir, "--config", project / "nope.yaml"]
    assert run("remediate", *args) == 2
    assert "--config" in _one_line_error(capsys)


def test_a_config_option_naming_a_folder_is_refused_as_such(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (project / "configs").mkdir()
    assert run("config", "show", "--config", project / "configs") == 2
    assert _one_line_error(capsys).endswith(f"--config {project / 'configs'}: a folder, not a config file")


def test_a_home_this_user_may_not_enter_hides_no_config_and_breaks_nothing(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`sudo -u` or setpriv keep another user's HOME: looking there is denied, not an error."""
    denied = project / "other-home"
    real_is_file = Path.is_file

    def is_file(path: Path) -> bool:
        if path.is_relative_to(denied):
            raise PermissionError(13, "Permission denied", str(path))
        return real_is_file(path)

    monkeypatch.setattr(Path, "is_file", is_file)
    assert load_config(None, cwd=project, home=denied, env={}).files == []


def test_config_show_names_the_source_of_each_setting_and_masks_secrets(
    project: Path, user_home: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (user_home / ".kantra-ai.yaml").write_text(
        "batching: {batch-size: 5}\nprovider: {model: claude-haiku-4-5}\n"
    )
    _config(
        project,
        "provider:\n  model: claude-opus-4-8\ngit:\n  create-pr: true\nverification:\n  enabled: true\n",
    )
    monkeypatch.setenv("ANTHROPIC_BASE_URL", "https://user:hunter2@proxy.example/v1")
    assert run("config", "show", "--json") == 0
    out = capsys.readouterr().out
    settings = json.loads(out)["settings"]
    assert settings["provider.model"] == {"value": "claude-opus-4-8", "source": "./.kantra-ai.yaml"}
    assert settings["batching.batch-size"] == {"value": "5", "source": "~/.kantra-ai.yaml"}
    assert settings["batching.max-batch-tokens"]["source"] == "default"
    assert settings["provider.api-key"] == {"value": "set (hidden)", "source": "env ANTHROPIC_API_KEY"}
    assert settings["provider.base-url"]["source"] == "env ANTHROPIC_BASE_URL"
    assert "hunter2" not in out and "sk-ant-test-secret-0000" not in out
    assert settings["git.create-pr"] == {"value": "true", "source": "./.kantra-ai.yaml"}
    # Every section is acted on now: nothing is "accepted, not used yet".
    assert settings["verification.enabled"] == {"value": "true", "source": "./.kantra-ai.yaml"}
    assert not any("not used yet" in s["source"] for s in settings.values())


def test_config_show_prints_a_table_for_people(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _config(project, "confidence:\n  enabled: true\n")
    assert run("config", "show") == 0
    out = capsys.readouterr().out
    assert "./.kantra-ai.yaml" in out
    assert "confidence.enabled" in out


def test_config_show_masks_credentials_in_a_narrow_table_where_values_fold(
    project: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # Folded across lines at 80 columns, a URL's password reached the output's redaction in pieces.
    _config(project, "git:\n  remote: https://ci:supersecretpass99@git.example.com/x.git\n")
    monkeypatch.setenv("COLUMNS", "80")
    assert run("config", "show") == 0
    out = capsys.readouterr().out
    assert "https://ci:***@" in out.replace(" ", "").replace("│", "").replace("\n", "")
    for piece in ("supersecret", "pass99", "secretpa"):
        assert piece not in out


def test_a_section_of_the_wrong_shape_is_named_by_its_shape_not_its_contents(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _config(project, "provider:\n  - name: claude\n    api-key: corp-proxy-key-7f3a9c1d2e\n")
    assert _dry_run(project) == 2
    error = _one_line_error(capsys)
    assert "provider: invalid value (a list of 1 items): expected a mapping of keys" in error
    assert "corp-proxy-key" not in error


@pytest.mark.parametrize(
    ("text", "said"),
    [
        ("limits: {max-cost: 5}\nlimits: {max-cost: 500}\n", "line 2: not valid YAML: key 'limits' is"),
        ("limits:\n  max-cost: 5\n  max-cost: 500\n", "line 3: not valid YAML: key 'max-cost' is"),
    ],
)
def test_a_key_given_twice_is_one_line_not_the_last_one_silently_winning(
    project: Path, capsys: pytest.CaptureFixture[str], text: str, said: str
) -> None:
    _config(project, text)
    assert _dry_run(project) == 2
    assert _one_line_error(capsys) == f"kantra-ai: error: ./.kantra-ai.yaml: {said} given twice"


def test_config_show_takes_the_config_option(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    extra = project / "team.yaml"
    extra.write_text("provider: {name: ollama}\n")
    assert run("config", "show", "--json", "--config", extra) == 0
    document = json.loads(capsys.readouterr().out)
    assert document["settings"]["provider.name"]["source"] == str(extra)
    assert document["settings"]["provider.api-key"]["value"] == "(not needed)"


def test_every_binding_names_a_real_key() -> None:
    loaded = load_config(cwd=Path("/nonexistent"), home=Path("/nonexistent"), env={})
    for key in BINDINGS:
        loaded.value(key)  # raises KeyError for a key the settings do not have


def test_the_config_defaults_are_the_remediate_flag_defaults() -> None:
    command = typer.main.get_command(app)
    remediate = command.commands["remediate"]  # type: ignore[attr-defined]
    defaults = Settings()
    loaded = load_config(cwd=Path("/nonexistent"), home=Path("/nonexistent"), env={})
    loaded.settings = defaults
    params = {p.name: p for p in remediate.params}
    for key, binding in BINDINGS.items():
        if binding.param not in params or (binding.commands and "remediate" not in binding.commands):
            continue
        flag_default = params[binding.param].default
        value = loaded.value(key)
        expected = [] if flag_default is None and isinstance(value, list) else flag_default
        if hasattr(expected, "value"):
            expected = expected.value
        if hasattr(value, "value"):
            value = value.value
        assert value == expected, key


def test_the_readme_example_config_is_valid_and_complete(tmp_path: Path) -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    section = readme.split("### Configuration file `.kantra-ai.yaml`", 1)[1]
    example = section.split("```yaml\n", 1)[1].split("```", 1)[0]
    (tmp_path / ".kantra-ai.yaml").write_text(example)
    loaded = load_config(cwd=tmp_path, home=tmp_path / "home", env={})
    assert loaded.warnings == []
    sections = {key.split(".", 1)[0] for key in loaded.origins}
    assert sections == {name.replace("_", "-") for name in Settings.model_fields}


def test_rate_limits_from_the_config_file_are_validated_like_the_flag(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".kantra-ai.yaml").write_text('limits:\n  rate-limits: "rpm=lots"\n')
    app = copy_example("javaee-inventory", tmp_path)
    code = run("remediate", "--analysis", analysis_of("javaee-inventory"), "--input", app, "--dry-run")
    [err] = capsys.readouterr().err.strip().splitlines()
    assert code == 2
    # The file and its key are named (not --rate-limits, a flag the user never gave), and the same
    # check as the flag's says what is wrong; `config show` refuses it too.
    assert err == (
        "kantra-ai: error: ./.kantra-ai.yaml: limits.rate-limits: invalid value 'rpm=lots': "
        "rate limits: 'lots' is not a number"
    )
    assert run("config", "show") == 2
