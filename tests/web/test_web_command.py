"""`kantra-ai web` and `plan --interactive-web` as a user starts them: a process that prints its
URL (with the token), serves the tree's plan behind that token, and stops on Ctrl-C."""

from __future__ import annotations

import http.client
import os
import re
import signal
import socket
import stat
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

from tests.cli.helpers import analysis_of, copy_example

from kantra_ai.web.security import host_names
from kantra_ai.web.server import is_loopback

URL = re.compile(r"(http://127\.0\.0\.1:\d+/\?token=[A-Za-z0-9_\-]+)")


def start(
    args: list[str],
    cwd: Path,
    seen_before: list[str] | None = None,
    *,
    browser: dict[str, str] | None = None,
) -> tuple[subprocess.Popen[str], str]:
    """Start the command; its URL once printed. `seen_before`: gets the lines printed before it.
    `browser`: the environment of a run that opens a browser (else `--no-browser`)."""
    process = subprocess.Popen(
        [sys.executable, "-m", "kantra_ai.cli.app", *args, *([] if browser else ["--no-browser"])],
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1", "COLUMNS": "200", **(browser or {})},
    )
    assert process.stderr is not None
    deadline = time.monotonic() + 60
    seen = ""
    while time.monotonic() < deadline:
        line = process.stderr.readline()
        seen += line
        found = URL.search(line)
        if seen_before is not None and not found:
            seen_before.append(line)
        if found:
            return process, found.group(1)
        if not line and process.poll() is not None:
            break
    process.kill()
    raise AssertionError(f"no URL printed: {seen}")


def get(url: str, path: str, token: str | None = None) -> tuple[int, str]:
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=10)
    headers = {"X-Kantra-Token": token} if token else {}
    connection.request("GET", path, headers=headers)
    response = connection.getresponse()
    body = response.read().decode()
    connection.close()
    return response.status, body


def stop(process: subprocess.Popen[str]) -> None:
    process.send_signal(signal.SIGINT)
    process.wait(30)


def test_web_prints_its_url_serves_behind_the_token_and_stops_on_ctrl_c(tmp_path: Path) -> None:
    app = copy_example("javaee-inventory", tmp_path)
    process, url = start(
        ["web", "--input", str(app), "--analysis", str(analysis_of("javaee-inventory"))], tmp_path
    )
    try:
        token = url.rsplit("=", 1)[1]
        assert get(url, "/plan")[0] == 403
        status, body = get(url, "/plan", token)
        assert status == 200 and "No plan yet" in body
    finally:
        stop(process)
    assert process.returncode is not None


def test_the_browser_gets_the_token_from_a_private_page_that_is_gone_once_the_server_stops(
    tmp_path: Path,
) -> None:
    app = copy_example("javaee-inventory", tmp_path)
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    opened = tmp_path / "opened"
    browser = tmp_path / "browser.sh"  # stands for the user's browser: notes what it was given
    # Written aside and moved into place: the test must never read it half written.
    browser.write_text(f'#!/bin/sh\nprintf "%s" "$1" > {opened}.part && mv {opened}.part {opened}\n')
    browser.chmod(0o755)
    process, url = start(
        ["web", "--input", str(app)], tmp_path, browser={"BROWSER": f"{browser} %s", "TMPDIR": str(scratch)}
    )
    try:
        deadline = time.monotonic() + 30
        while not opened.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        given = opened.read_text()
        token = url.rsplit("=", 1)[1]
        assert given.startswith("file://") and token not in given  # never on a command line
        page = Path(urlsplit(given).path)
        assert page.parent.parent == scratch and page.parent.name.startswith(f"kantra-ai-web-{process.pid}.")
        assert stat.S_IMODE(page.stat().st_mode) == 0o600
        assert stat.S_IMODE(page.parent.stat().st_mode) == 0o700
        assert url in page.read_text()
    finally:
        stop(process)
    assert list(scratch.iterdir()) == []


def test_plan_interactive_web_opens_the_plan_it_made(tmp_path: Path) -> None:
    app = copy_example("javaee-inventory", tmp_path)
    out = tmp_path / "plan"
    process, url = start(
        [
            "plan", "--analysis", str(analysis_of("javaee-inventory")), "--input", str(app),
            "--output", str(out), "--planner", "deterministic", "--interactive-web",
        ],
        tmp_path,
    )  # fmt: skip
    try:
        assert (out / "plan.yaml").is_file()
        status, body = get(url, "/plan", url.rsplit("=", 1)[1])
        assert status == 200 and 'data-phase-id="phase-1"' in body and str(out / "plan.yaml") in body
    finally:
        stop(process)


def test_another_host_and_port_are_used_with_a_warning_first(tmp_path: Path) -> None:
    app = copy_example("javaee-inventory", tmp_path)
    with socket.socket() as probe:  # a port free right now
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    before: list[str] = []
    process, url = start(
        ["web", "--input", str(app), "--host", "0.0.0.0", "--port", str(port)], tmp_path, before
    )
    try:
        assert url.startswith(f"http://127.0.0.1:{port}/?token=")
        warning = "".join(before)
        assert "warning: listening on 0.0.0.0, not only this machine" in warning
        assert "not encrypted" in warning
        assert get(url, "/plan", url.rsplit("=", 1)[1])[0] == 200
    finally:
        stop(process)


def test_a_host_it_cannot_listen_on_is_one_line_without_the_warning_for_listening_there(
    tmp_path: Path,
) -> None:
    app = copy_example("javaee-inventory", tmp_path)
    done = subprocess.run(
        [sys.executable, "-m", "kantra_ai.cli.app", "web", "--input", str(app), "--host", "999.1.1.1",
         "--no-browser"],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 2
    assert done.stderr.splitlines() == [done.stderr.strip()]  # one line: no warning before it
    assert done.stderr.startswith("kantra-ai: error: cannot listen on 999.1.1.1")


def test_an_analysis_that_is_not_there_is_refused_before_the_server_starts(tmp_path: Path) -> None:
    """It served the page, whose "make a plan" then failed; `remediate` refuses the same path at once."""
    app = copy_example("javaee-inventory", tmp_path)
    for missing, said in ((tmp_path / "nope.yaml", "analysis file not found"), (tmp_path, "holds no output")):
        done = subprocess.run(
            [sys.executable, "-m", "kantra_ai.cli.app", "web", "--input", str(app), "--analysis",
             str(missing), "--no-browser"],
            capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
        assert done.returncode == 2, done.stderr
        assert done.stderr.splitlines() == [done.stderr.strip()]
        assert done.stderr.startswith("kantra-ai: error: --analysis ") and said in done.stderr


def test_only_loopback_names_are_accepted_unless_another_host_is_given() -> None:
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("192.0.2.7")
    assert host_names("127.0.0.1", 8000) == {"127.0.0.1:8000", "localhost:8000", "[::1]:8000"}
    assert "192.0.2.7:8000" in host_names("192.0.2.7", 8000)
    assert all(not name.startswith("0.0.0.0") for name in host_names("0.0.0.0", 8000))
