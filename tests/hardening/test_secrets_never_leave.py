"""A server that repeats the key it refused (as OpenAI does with part of it, and proxies do whole)
must not get that key into anything kantra-ai writes: stderr, `--json`, run.json, report.html or the
run store. Both wire protocols, through the real SDKs, with every output searched byte for byte."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from pathlib import Path

import pytest
from tests.cli.helpers import analysis_of, copy_example, run

from kantra_ai.redact import redact
from kantra_ai.simulated.contract import FakeReply, FakeRequest
from kantra_ai.simulated.recipes import respond
from testing.fakeprovider.faults import Fault, FaultPlan
from testing.fakeprovider.server import FakeProviderServer


@dataclass(frozen=True)
class Protocol:
    name: str
    provider: str
    key_env: str
    key_prefix: str  # "": a key of no known shape, masked only because it is configured

    def base_url(self, server: FakeProviderServer) -> str:
        return server.anthropic_base_url if self.name == "anthropic" else server.openai_base_url


PROTOCOLS = [
    Protocol("anthropic", "claude", "ANTHROPIC_API_KEY", "sk-ant-api03-"),
    Protocol("openai", "openai", "OPENAI_API_KEY", "sk-proj-"),
    Protocol("openai-shapeless-key", "together", "TOGETHER_API_KEY", ""),
]


def _every_output(app: Path, stdout: str, stderr: str) -> dict[str, bytes]:
    found = {"stdout": stdout.encode(), "stderr": stderr.encode()}
    for path in sorted(app.rglob("*")):
        if path.is_file():
            found[str(path.relative_to(app))] = path.read_bytes()
    return found


@pytest.mark.parametrize("protocol", PROTOCOLS, ids=lambda p: p.name)
@pytest.mark.parametrize("json_output", [True, False], ids=["json", "console"])
def test_a_key_the_server_echoes_appears_in_no_output(
    protocol: Protocol,
    json_output: bool,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    key = protocol.key_prefix + secrets.token_urlsafe(40)
    monkeypatch.setenv(protocol.key_env, key)
    app = copy_example("javaee-inventory", tmp_path)
    faults = FaultPlan.every_request(Fault.bad_key(echo="whole"), 50)
    with FakeProviderServer(respond, faults=faults) as server:
        code = run(
            "remediate", "--analysis", analysis_of("javaee-inventory"), "--input", app,
            "--provider", protocol.provider, "--base-url", protocol.base_url(server),
            "--no-progress", *(["--json"] if json_output else []),
        )  # fmt: skip
        sent = server.seen_auth_headers
    out, err = capsys.readouterr()
    assert code == 3, err  # the provider refused the run
    # The server did get the key, and did answer with it: the case is real.
    assert any(key in value for headers in sent for value in headers.values())
    assert "Incorrect API key provided" in (out + err)
    outputs = _every_output(app, out, err)
    assert {".kantra-ai/state.db", ".kantra-ai/run.json", ".kantra-ai/report.html"} <= set(outputs)
    leaks = {name: data.count(key.encode()) for name, data in outputs.items() if key.encode() in data}
    assert leaks == {}


def test_redaction_masks_configured_secrets_and_known_key_shapes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GITLAB_TOKEN", "plain-configured-value-123")
    texts = {
        "token plain-configured-value-123 here": "token *** here",
        "key sk-ant-api03-abcDEF123456789xyz end": "key sk-ant-*** end",
        "sk-proj-abc123def456ghi789jkl": "sk-proj-***",
        "push to https://bob:hunter22pw@git.example.com/x.git": "push to https://bob:***@git.example.com/x.git",
        "ghp_0123456789abcdefABCDEF0123": "ghp_***",
        "glpat-0123456789abcdefghij": "glpat-***",
        "id AKIAIOSFODNN7EXAMPLE": "id AKIA***",
        "Authorization: Bearer eyJhbGciOi.J9abc123": "Authorization: Bearer ***",
        "jdbc:postgresql://db/app?user=app&password=s3cretPw77": "jdbc:postgresql://db/app?user=app&password=***",
        "<url>jdbc:x?user=a&amp;pwd=s3cretPw</url>": "<url>jdbc:x?user=a&amp;pwd=***</url>",
        "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkq\nhkiG9w0BAQEFAASC==\n-----END PRIVATE KEY-----\n": (
            "-----BEGIN PRIVATE KEY-----***-----END PRIVATE KEY-----\n"
        ),
        # As JSON writes it, and cut short before its END line.
        '"-----BEGIN RSA PRIVATE KEY-----\\nMIIEvQIBADAN"': '"-----BEGIN RSA PRIVATE KEY-----***"',
        # Words in code are left alone: no digit, no known prefix.
        "class sk-loading-spinner-container": "class sk-loading-spinner-container",
        "Bearer authentication": "Bearer authentication",
        'String password = request.getParameter("pw");': 'String password = request.getParameter("pw");',
    }
    assert [redact(text) for text in texts] == list(texts.values())


def test_a_finished_job_leaves_no_secret_in_any_file_or_output(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Plan, then run, with secrets of every kind about: the API key, a forge token, the password of
    the base URL; a model that repeats all three in its explanations (and is unsure of some fixes,
    so the review file is written). Every byte of stdout, stderr (console and `--json`) and every file
    under the working folder (the tree, `.kantra-ai/`: state.db and its log, run.json, report.html,
    the review file; the plan folder: plan.yaml, plan.html) is searched: none of them holds one."""
    key = "sk-ant-api03-" + secrets.token_urlsafe(40)
    forge = "ghp_" + secrets.token_hex(18)
    password = "pw" + secrets.token_hex(12)
    monkeypatch.setenv("ANTHROPIC_API_KEY", key)
    monkeypatch.setenv("GITHUB_TOKEN", forge)
    app = copy_example("javaee-inventory", tmp_path)
    said = f" (sent with key {key}, token {forge}, password {password})"

    def chatty(request: FakeRequest) -> FakeReply:
        reply = respond(request)
        for call in reply.tool_calls:
            for n, verdict in enumerate(call.input.get("verdicts", [])):
                verdict["reason"] = str(verdict.get("reason", "")) + said  # the model's explanation
                if n % 2:
                    verdict["confidence"] = 0.3  # withheld: written to the review file
        return reply

    with FakeProviderServer(chatty) as server:
        base_url = server.anthropic_base_url.replace("http://", f"http://kantra:{password}@")
        common = ("--analysis", analysis_of("javaee-inventory"), "--input", app, "--base-url", base_url)
        plan_dir = tmp_path / "plan"
        assert run("plan", *common, "--output", plan_dir, "--no-browser") == 0
        console = run("remediate", *common, "--no-progress", "--on-low-confidence", "manual-review-file")
        as_json = run(
            "remediate", *common, "--no-progress", "--json", "--retry-failed", "--on-low-confidence",
            "manual-review-file",
        )  # fmt: skip
        served = len(server.requests)
    out, err = capsys.readouterr()
    assert served > 0 and console in (0, 1) and as_json in (0, 1), err
    outputs = _every_output(tmp_path, out, err)
    store = f"{app.name}/.kantra-ai"
    written = set(outputs)
    assert {"plan/plan.yaml", "plan/plan.html", f"{store}/state.db", f"{store}/run.json"} <= written
    assert {f"{store}/report.html", f"{store}/manual-review.yaml"} <= written
    leaks = {
        (name, what): data.count(value.encode())
        for name, data in outputs.items()
        for what, value in (("key", key), ("forge", forge), ("password", password))
        if value.encode() in data
    }
    assert leaks == {}
    # The explanations were kept, masked: the secrets were there to leak.
    assert b"sent with key ***, token ***, password ***" in outputs[f"{store}/manual-review.yaml"]
