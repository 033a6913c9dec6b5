"""The WSGI servers of ``hub serve``: granian (the default) and waitress.

granian (Rust: HTTP parsing, connections and keep-alive off the interpreter lock; the WSGI
app on a pool of Python threads) spends less of the one process's interpreter on each
request than waitress (pure Python): measured in bench/README.md. Both serve the same app
with the same body limits:

* The app refuses a body over HUB_MAX_BODY_BYTES itself, with an OperationOutcome or a
  JSON problem (``hub.routes.limits``), on the declared Content-Length before reading it.
* A chunked body (no Content-Length) is read by the server side first, as waitress does,
  up to a backstop twice the limit (at least 1 MiB more): within it the body is handed to
  the app with its length declared (and the app answers its own 413 past the limit); past
  it the reading stops while the body arrives and the answer is a plain-text 413 with
  ``Connection: close``; the rest is never read.

granian runs the app in a worker process that it forks (one here): the app, its database
connections and the embedded sync worker are built in that process (``build``), so that
the sync worker is woken in-process after the commits that queue its work. granian copies
the process environment into each request's environ: ``WithoutProcessEnv`` takes it out.
"""

from __future__ import annotations

import functools
import io
import multiprocessing.util
import os
from collections.abc import Callable, Iterable
from typing import Any

WSGIApp = Callable[..., Iterable[bytes]]

_READ = 64 * 1024
_TOO_LARGE = b"the request body is too large\n"


def body_backstop(max_body_bytes: int) -> int:
    """The most a server reads of a body: twice the app's limit (at least 1 MiB more)."""
    return max_body_bytes + max(max_body_bytes, 1024 * 1024)


class ChunkedBody:
    """WSGI middleware for a server that streams a chunked body to the app (granian): the
    body is read here, up to ``backstop`` bytes, and declared by its length as waitress
    declares it (``CONTENT_LENGTH``, no ``Transfer-Encoding``); past ``backstop`` the
    request is answered 413 without reading further."""

    def __init__(self, app: WSGIApp, backstop: int) -> None:
        self.app = app
        self.backstop = backstop

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        if environ.get("CONTENT_LENGTH") or \
                "chunked" not in environ.get("HTTP_TRANSFER_ENCODING", "").lower():
            return self.app(environ, start_response)
        stream, parts, size = environ["wsgi.input"], [], 0
        while chunk := stream.read(_READ):
            size += len(chunk)
            if size > self.backstop:
                start_response("413 Request Entity Too Large", [
                    ("Content-Type", "text/plain; charset=utf-8"),
                    ("Content-Length", str(len(_TOO_LARGE))), ("Connection", "close")])
                return [_TOO_LARGE]
            parts.append(chunk)
        body = b"".join(parts)
        environ.pop("HTTP_TRANSFER_ENCODING", None)
        environ["CONTENT_LENGTH"] = str(len(body))
        environ["wsgi.input"] = io.BytesIO(body)
        return self.app(environ, start_response)


#: The CGI variables a server sets from the request (PEP 3333), never taken from the process
CGI_NAMES = frozenset({"REQUEST_METHOD", "SCRIPT_NAME", "PATH_INFO", "QUERY_STRING",
                       "CONTENT_TYPE", "CONTENT_LENGTH", "SERVER_NAME", "SERVER_PORT",
                       "SERVER_PROTOCOL", "REMOTE_ADDR", "REMOTE_PORT", "REQUEST_URI",
                       "RAW_URI", "GATEWAY_INTERFACE", "SERVER_SOFTWARE"})


class WithoutProcessEnv:
    """WSGI middleware removing the process environment from each request's environ:
    granian starts every environ from a copy of ``os.environ`` (as CGI does), which would
    put HUB_SECRET_KEY, the database URL and the partners' secrets (``client_secret_env``)
    in every request. The names of ``os.environ`` when the app is loaded are dropped, but
    never a request's own (``HTTP_*``, ``wsgi.*``, the CGI variables)."""

    def __init__(self, app: WSGIApp, names: Iterable[str]) -> None:
        self.app = app
        self.names = tuple(n for n in names if n not in CGI_NAMES
                           and not n.startswith(("HTTP_", "wsgi.")))

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        for name in self.names:
            environ.pop(name, None)
        return self.app(environ, start_response)


def _load(build: Callable[[], tuple[WSGIApp, Callable[[], Any] | None]], backstop: int):
    """In granian's worker process: the app (and a finalizer stopping what it started)."""
    app, stop = build()
    if stop is not None:  # run as the worker process ends (multiprocessing's exit hooks)
        multiprocessing.util.Finalize(app, stop, exitpriority=100)
    return WithoutProcessEnv(ChunkedBody(app, backstop), list(os.environ))


def serve_granian(build: Callable[[], tuple[WSGIApp, Callable[[], Any] | None]], *,
                  host: str, port: int, threads: int, max_body_bytes: int,
                  log_level: str = "info") -> None:
    """Serve ``build()``'s app with granian until SIGINT/SIGTERM: one worker process,
    ``threads`` Python threads running the app. ``build`` runs in the worker process and
    returns (app, stop or None); it must be picklable when the start method is spawn."""
    from granian.constants import Interfaces
    from granian.log import LogLevels
    from granian.server import Server

    server = Server("hub.wsgi:app", address=host, port=port, interface=Interfaces.WSGI,
                    workers=1, blocking_threads=threads, backpressure=threads,
                    log_level=LogLevels(log_level), websockets=False)
    server.serve(target_loader=functools.partial(_load, build, body_backstop(max_body_bytes)),
                 wrap_loader=False)
