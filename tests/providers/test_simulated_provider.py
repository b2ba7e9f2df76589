"""`--provider simulated`: the scripted model in process, shaped like a real provider's answers.

The request is built from the bundled example with the tool's own prompt templates, so what the
scripted model reads is what a real model would read; its edits are checked by applying them.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path, PurePosixPath

import pytest
from tests.cli.helpers import analysis_of, copy_example, expected_of, run, tree_differences

from kantra_ai.analysis.loader import load_analysis
from kantra_ai.analysis.model import Incident
from kantra_ai.batching.batches import Batch
from kantra_ai.edits.checked import apply_checked
from kantra_ai.edits.model import VerdictStatus
from kantra_ai.formats import SEARCH_REPLACE, TOOL_CALL
from kantra_ai.prompts.builder import PromptBuilder
from kantra_ai.providers.base import ModelRequest
from kantra_ai.providers.registry import create_provider, resolve_preset
from kantra_ai.providers.simulated import SimulatedProvider
from kantra_ai.simulated.contract import FakeReply, FakeRequest, ToolCall

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = "javaee-inventory"
APP = ROOT / "examples" / EXAMPLE / "app"
FILE = "src/main/java/com/example/inventory/service/InventoryService.java"


def _incident_ids() -> list[str]:
    return [i.id for i in _incidents()]


def _incidents() -> list[Incident]:
    """The example's incidents in FILE, mapped onto the pristine example (read, never written)."""
    incidents = [i for i in load_analysis(analysis_of(EXAMPLE), APP).fixable() if str(i.path) == FILE]
    assert incidents, "the example has incidents in this file"
    return incidents


def _batch() -> Batch:
    return Batch(PurePosixPath(FILE), tuple(_incidents()), None, 0, 4000)


def _builder(use_tools: bool = True) -> PromptBuilder:
    return PromptBuilder(TOOL_CALL if use_tools else SEARCH_REPLACE)


def _request(*, use_tools: bool = True, max_tokens: int = 4000) -> ModelRequest:
    """The first request for the example's service class, built by the tool's request builder."""
    content = _original_file()
    return _builder(use_tools).request(
        _batch(), content, total_lines=content.count("\n"), max_tokens=max_tokens
    )


def _expected_file() -> str:
    return (expected_of(EXAMPLE) / FILE).read_text(encoding="utf-8")


def _original_file() -> str:
    return (APP / FILE).read_text(encoding="utf-8")


async def test_tool_reply_carries_edits_that_turn_the_file_into_the_expected_one() -> None:
    response = await SimulatedProvider("simulated-model").complete(_request())
    assert response.stop_reason == "tool_use" and not response.truncated
    assert response.tool_input_error == ""
    reply = _builder().parse(response, _batch(), _batch().incidents)
    assert sorted(v.incident_id for v in reply.verdicts) == sorted(_incident_ids())
    assert {v.status for v in reply.verdicts} == {VerdictStatus.FIXED}
    lines = {i.id: i.line for i in _incidents()}
    assert (
        apply_checked(FILE, _original_file(), reply.edits, incident_lines=lines).content == _expected_file()
    )


async def test_without_tools_the_answer_is_search_replace_text() -> None:
    response = await SimulatedProvider("simulated-model").complete(_request(use_tools=False))
    assert response.stop_reason == "end_turn" and response.tool_input is None
    assert "<<<<<<< SEARCH" in response.text
    reply = _builder(False).parse(response, _batch(), _batch().incidents)
    assert {v.status for v in reply.verdicts} == {VerdictStatus.FIXED}
    lines = {i.id: i.line for i in _incidents()}
    assert (
        apply_checked(FILE, _original_file(), reply.edits, incident_lines=lines).content == _expected_file()
    )


async def test_a_reply_longer_than_max_tokens_is_cut_off_and_says_so() -> None:
    response = await SimulatedProvider("simulated-model").complete(_request(max_tokens=20))
    assert response.truncated
    assert response.usage.output_tokens == 20
    assert response.tool_input is None and "not valid JSON" in response.tool_input_error


async def test_progress_is_reported_like_a_stream() -> None:
    seen: list[int] = []
    response = await SimulatedProvider("simulated-model").complete(_request(), seen.append)
    assert seen[0] == 0  # the response has started
    assert len(seen) > 2 and seen == sorted(seen)
    assert seen[-1] == len(json.dumps(response.tool_input))


async def test_usage_counts_the_shared_prefix_written_once_then_read() -> None:
    provider = SimulatedProvider("simulated-model")
    # The run's prefix lengthened as a bound builder does when it is short of the cache minimum.
    request = (
        _builder()
        .replace(padding=TOOL_CALL.example)
        .request(_batch(), _original_file(), total_lines=_original_file().count("\n"))
    )
    first = (await provider.complete(request)).usage
    second = (await provider.complete(request)).usage
    assert first.cache_write_tokens > 0 and first.cache_read_tokens == 0
    assert second.cache_write_tokens == 0 and second.cache_read_tokens == first.cache_write_tokens
    assert first.total_input == second.total_input > first.cache_write_tokens
    assert first.output_tokens == second.output_tokens > 0


@pytest.mark.parametrize(
    "reply, stop",
    [
        (FakeReply(text="stopped", stop_reason="stop_sequence"), "other"),
        (FakeReply(text="cut", stop_reason="max_tokens"), "max_tokens"),
        (FakeReply(tool_calls=[ToolCall("apply_fixes", {"edits": [], "incidents": []})]), "tool_use"),
    ],
)
async def test_stop_reasons_are_normalised_like_the_real_adapters(reply: FakeReply, stop: str) -> None:
    def responder(_: FakeRequest) -> FakeReply:
        return reply

    response = await SimulatedProvider("m", responder=responder).complete(_request())
    assert response.stop_reason == stop


def test_the_simulated_preset_needs_no_key_and_runs_in_process(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    provider = create_provider(resolve_preset("simulated"), None)
    assert isinstance(provider, SimulatedProvider)
    assert (provider.name, provider.model, provider.local) == ("simulated", "simulated-model", True)


def test_remediate_with_the_simulated_provider_fixes_the_example(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    app = copy_example(EXAMPLE, tmp_path)
    code = run(
        "remediate", "--analysis", analysis_of(EXAMPLE), "--input", app,
        "--provider", "simulated", "--json", "--no-progress",
    )  # fmt: skip
    captured = capsys.readouterr()
    assert code == 0
    assert "SIMULATED provider" in captured.err
    summary = json.loads(captured.out)
    assert summary["provider"] == "simulated"
    assert summary["outcomes"] and {o["status"] for o in summary["outcomes"]} == {"fixed"}
    assert tree_differences(app, expected_of(EXAMPLE)) == []


def test_the_simulated_run_imports_neither_the_test_support_nor_an_sdk_and_opens_no_socket(
    tmp_path: Path,
) -> None:
    app = copy_example(EXAMPLE, tmp_path)
    script = textwrap.dedent(
        """
        import socket, sys

        def refuse(*args, **kwargs):
            raise AssertionError("the simulated provider opened a network connection")

        socket.socket.connect = refuse
        socket.create_connection = refuse
        import kantra_ai
        from kantra_ai.cli.app import main

        code = main(sys.argv[1:])
        loaded = sorted(
            m for m in sys.modules
            if m.split(".")[0] in {"testing", "anthropic", "openai", "httpx", "httpx2"}
        )
        print("LOADED", loaded)
        sys.exit(code)
        """
    )
    args = ["remediate", "--analysis", str(analysis_of(EXAMPLE)), "--input", str(app)]
    args += ["--provider", "simulated", "--no-progress"]
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    # Run from the repository root: `testing` would be importable there, so not finding it in
    # sys.modules means nothing tried.
    result = subprocess.run(
        [sys.executable, "-c", script, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert "LOADED []" in result.stdout
    assert tree_differences(app, expected_of(EXAMPLE)) == []
