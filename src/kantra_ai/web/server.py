"""Serving the web app: uvicorn on a loopback socket, behind the token, Host and Origin gate.

The socket is bound before anything else (so `--port 0` can pick a free port and the gate knows
the port), the URL with the token is printed, and the browser is opened through a file that only
this user can read (as Jupyter does): the token never appears on a command line other users can
see in the process list. Ctrl-C stops the server; a run it started is paused first (as Ctrl-C on
`execute` would) and waited for, so nothing is left half done.
"""

from __future__ import annotations

import contextlib
import html
import ipaddress
import os
import socket
import threading
import webbrowser
from collections.abc import Callable
from pathlib import Path
from types import FrameType

import uvicorn

from kantra_ai.errors import UserError
from kantra_ai.scratch import scratch_folder
from kantra_ai.web.app import WebContext, build_app
from kantra_ai.web.security import Guard, host_names, new_token

DEFAULT_HOST = "127.0.0.1"
SHUTDOWN_SECONDS = 2


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def bind(host: str, port: int) -> socket.socket:
    """A listening socket on host:port (port 0: a free one); UserError when it cannot be had."""
    family = socket.AF_INET6 if ":" in host.strip("[]") else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host.strip("[]"), port))
        sock.listen(64)
    except OSError as exc:
        sock.close()
        raise UserError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    sock.set_inheritable(True)
    return sock


class _Server(uvicorn.Server):
    """uvicorn's server that also tells the app it is closing (event streams end at once)."""

    def __init__(self, config: uvicorn.Config, ctx: WebContext) -> None:
        super().__init__(config)
        self.ctx = ctx

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        self.ctx.closing.set()
        super().handle_exit(sig, frame)


class WebServer:
    """The app on a socket; `serve()` in the foreground (the CLI) or `start()` in a thread (tests)."""

    def __init__(self, ctx: WebContext, *, host: str = DEFAULT_HOST, port: int = 0) -> None:
        self.ctx = ctx
        self.host = host
        self.sock = bind(host, port)
        self.port = int(self.sock.getsockname()[1])
        extra = [socket.gethostname(), socket.getfqdn()] if not is_loopback(host) else []
        self.app = Guard(
            build_app(ctx),
            token=ctx.token,
            hosts=host_names(host, self.port, extra),
            cookie=f"kantra_ai_token_{self.port}",
        )
        config = uvicorn.Config(
            self.app,
            log_level="warning",
            ws="none",  # no websocket endpoint: live progress is server-sent events
            lifespan="off",
            timeout_graceful_shutdown=SHUTDOWN_SECONDS,
            server_header=False,
        )
        self.server = _Server(config, ctx)
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        shown = "127.0.0.1" if self.host in ("0.0.0.0", "") else self.host
        if ":" in shown and not shown.startswith("["):
            shown = f"[{shown}]"
        return f"http://{shown}:{self.port}"

    @property
    def url(self) -> str:
        return f"{self.base_url}/?token={self.ctx.token}"

    def serve(self) -> None:
        try:
            self.server.run(sockets=[self.sock])
        finally:
            self._finish_run()
            self.sock.close()

    def start(self) -> None:
        self._thread = threading.Thread(target=self.serve, name="kantra-ai-web", daemon=True)
        self._thread.start()
        while not self.server.started and self._thread.is_alive():
            threading.Event().wait(0.02)

    def stop(self) -> None:
        self.ctx.closing.set()
        self.server.should_exit = True
        if self._thread is not None:
            self._thread.join(30)

    def _finish_run(self) -> None:
        runs = self.ctx.runs
        if runs.active:
            with contextlib.suppress(UserError):
                runs.stop()
            runs.join()


def open_browser(url: str, folder: Path) -> bool:
    """Open `url` through a file only this user can read in `folder` (a private scratch folder the
    caller removes when the server stops), so the token stays off command lines."""
    page = folder / "open.html"
    target = html.escape(url, quote=True)
    fd = os.open(page, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(
            f'<!doctype html><meta http-equiv="refresh" content="0;url={target}">'
            f'<p><a href="{target}">Open kantra-ai</a></p>\n'
        )
    try:
        return webbrowser.open(page.as_uri())
    except webbrowser.Error:
        return False


def run_web(
    ctx: WebContext,
    *,
    host: str,
    port: int,
    browser: bool,
    say: Callable[[str], None],
) -> None:
    """Serve until Ctrl-C: print the URL, open the browser unless told not to."""
    server = WebServer(ctx, host=host, port=port)  # a host it cannot listen on fails here, alone
    if not is_loopback(host):
        say(
            f"warning: listening on {host}, not only this machine: anyone who can reach it and has "
            "the URL (with its token) can change your plan, run it and revert files; the traffic is "
            "not encrypted"
        )
    say(f"kantra-ai web app on {ctx.input_dir}: {server.url}")
    say("Ctrl-C stops the server (a run it started is paused first)")
    if not browser:
        server.serve()
        return
    # The page that hands the token to the browser lives as long as the server: the browser reads
    # it some time after the call returns, and the token is worthless once the server is gone.
    with scratch_folder("web") as folder:
        threading.Timer(0.5, open_browser, args=(server.url, folder)).start()
        server.serve()


def new_context(
    *,
    input_dir: Path,
    plan_path: Path,
    analysis: Path | None,
    state: Path | None,
    config: Path | None,
) -> WebContext:
    if not input_dir.is_dir():
        raise UserError(f"--input {input_dir}: not a directory")
    return WebContext(
        input_dir=input_dir.resolve(),
        plan_path=(plan_path / "plan.yaml" if plan_path.is_dir() else plan_path).resolve(),
        token=new_token(),
        analysis=analysis.resolve() if analysis else None,
        state=state,
        config=config,
        cwd=Path.cwd(),
    )
