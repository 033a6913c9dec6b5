"""A WSGI app served on 127.0.0.1 in a thread, for the partner simulators of the tests.

Port 0 picks a free port; ``stop()`` then ``start()`` serve again on the same port, and the
app keeps its data (a partner restarting with its data).
"""

from __future__ import annotations

import threading

from werkzeug.serving import make_server


class LoopbackServer:
    """Serves ``app`` on 127.0.0.1:``port`` (0: a free port) until ``stop()``."""

    def __init__(self, app, port: int = 0) -> None:
        self.app = app
        self.port = port
        self._server = None
        self._thread = None

    @property
    def running(self) -> bool:
        return self._server is not None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}{getattr(self.app, 'base', '')}"

    def start(self):
        self._server = make_server("127.0.0.1", self.port, self.app, threaded=True)
        self.port = self._server.server_port
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._thread.join(5)
            self._server = None
            self._thread = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def restart(self):
        self.stop()
        return self.start()
