"""A git server over HTTP behind a password: git's own `git http-backend` (the smart HTTP protocol,
clone, fetch and push) run as a CGI program for each request, after HTTP Basic authentication.

    with GitHttpServer(root, user="deploy", password="s3cret-pass") as server:
        url = server.url("org/app.git")   # http://127.0.0.1:PORT/org/app.git; root/org/app.git is bare
        ... git clone http://deploy:s3cret-pass@127.0.0.1:PORT/org/app.git ...
        assert server.authenticated  # requests that carried the password

A request without the right credentials gets 401 with a `WWW-Authenticate` challenge, as a forge
answers, so git asks its credential helpers or GIT_ASKPASS; `refused` counts them. It shares nothing
with kantra-ai: the protocol is git's, the CGI variables are those `git help http-backend` lists.
"""

from __future__ import annotations

import base64
import subprocess
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from urllib.parse import urlsplit


class GitHttpServer:
    def __init__(self, root: Path, *, user: str, password: str) -> None:
        self.root = root
        self.user = user
        self.password = password
        self.authenticated = 0  # requests that came with the right user and password
        self.refused = 0  # requests answered 401
        self.pushes = 0  # git-receive-pack posts (a push) that were let in
        self._lock = threading.Lock()
        self._http: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    def url(self, repository: str) -> str:
        assert self._http is not None
        return f"http://127.0.0.1:{self._http.server_address[1]}/{repository}"

    def __enter__(self) -> GitHttpServer:
        handler = type("Handler", (_Handler,), {"server_of": self})
        self._http = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._thread = threading.Thread(target=self._http.serve_forever, daemon=True)
        self._thread.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        assert self._http is not None and self._thread is not None
        self._http.shutdown()
        self._http.server_close()
        self._thread.join(timeout=10)

    def _count(self, name: str) -> None:
        with self._lock:
            setattr(self, name, getattr(self, name) + 1)


class _Handler(BaseHTTPRequestHandler):
    server_of: GitHttpServer

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        self._serve()

    def do_POST(self) -> None:
        self._serve()

    def _serve(self) -> None:
        server = self.server_of
        expected = base64.b64encode(f"{server.user}:{server.password}".encode()).decode()
        if self.headers.get("Authorization", "") != f"Basic {expected}":
            server._count("refused")
            self.send_response(401)
            self.send_header("WWW-Authenticate", 'Basic realm="git"')
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        server._count("authenticated")
        parts = urlsplit(self.path)
        if parts.path.endswith("/git-receive-pack") and self.command == "POST":
            server._count("pushes")
        env = {
            "GIT_PROJECT_ROOT": str(server.root),
            "GIT_HTTP_EXPORT_ALL": "1",
            "PATH_INFO": parts.path,
            "QUERY_STRING": parts.query,
            "REQUEST_METHOD": self.command,
            "CONTENT_TYPE": self.headers.get("Content-Type", ""),
            "REMOTE_USER": server.user,  # http-backend lets an authenticated user push
            "REMOTE_ADDR": "127.0.0.1",
            "GIT_HTTP_MAX_REQUEST_BUFFER": "100M",
            "PATH": "/usr/local/bin:/usr/bin:/bin",
        }
        if self.headers.get("Content-Encoding"):
            env["HTTP_CONTENT_ENCODING"] = self.headers["Content-Encoding"]
        if self.headers.get("Git-Protocol"):
            env["GIT_PROTOCOL"] = self.headers["Git-Protocol"]
        body = self._body()
        env["CONTENT_LENGTH"] = str(len(body))
        done = subprocess.run(["git", "http-backend"], input=body, env=env, capture_output=True, check=False)
        head, _, payload = done.stdout.partition(b"\r\n\r\n")
        status = 200
        headers: list[tuple[str, str]] = []
        for line in head.decode("latin-1").split("\r\n"):
            name, _, value = line.partition(":")
            if name.lower() == "status":
                status = int(value.strip().split()[0])
            elif name:
                headers.append((name, value.strip()))
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def _body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks: list[bytes] = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip(), 16)
                if size == 0:
                    self.rfile.readline()
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        return self.rfile.read(int(self.headers.get("Content-Length", "0") or 0))
