"""Running the app in the background, for chapters and tests: :func:`run_server`.

In a container the server runs in the foreground instead, through the deployment's entry
point (``python -m mlops_reference.deploy serve``).
"""
from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Callable, Iterator

from fastapi import FastAPI

from mlops_reference._utils import check_int


def _wait_ready(url: str, deadline: float, alive: Callable[[], bool]) -> None:
    import httpx

    last = "no answer yet"
    with httpx.Client(timeout=2.0) as client:
        while time.monotonic() < deadline:
            if not alive():
                raise RuntimeError(f"the server stopped before it became ready ({last}).")
            try:
                r = client.get(url + "/readyz")
                if r.status_code == 200:
                    return
                last = f"/readyz answered {r.status_code}: {r.text[:200]}"
            except httpx.TransportError as exc:
                last = f"{type(exc).__name__}"
            time.sleep(0.02)
    raise TimeoutError(f"the server did not become ready in time ({last}).")


def _listening_socket(host: str, port: int | None) -> socket.socket:
    """A bound TCP socket, created the way ``loop.create_server(host=..., port=...)`` creates it.

    The protocol is given explicitly (``IPPROTO_TCP``, not 0): asyncio sets ``TCP_NODELAY``
    on each accepted connection only when the listening socket says it is TCP, as stock
    uvicorn's own sockets do. The first edition created it with protocol 0, so Nagle's
    algorithm held back the second segment of each response until the client's delayed ACK,
    about 40 ms per request on loopback.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port or 0))
    return sock


@contextlib.contextmanager
def run_server(app: FastAPI, *, host: str = "127.0.0.1", port: int | None = None, timeout: float = 60.0,
               log_level: str = "warning") -> Iterator[str]:
    """Start the server in a background thread, yield its base URL once ready, then stop it.

    Parameters
    ----------
    app : FastAPI
        An app from :func:`create_app`.
    host : str, default="127.0.0.1"
        Loopback by default; nothing else is reachable from outside the machine.
    port : int, default=None
        None picks a free port.
    timeout : float, default=60
        Seconds to wait for ``/readyz``.
    log_level : str, default="warning"
        uvicorn's log level.

    Yields
    ------
    str
        The base URL, e.g. ``"http://127.0.0.1:54321"``.

    Examples
    --------
    Does a running server answer its liveness probe?

    >>> import tempfile, pathlib, httpx
    >>> from mlops_companion import data
    >>> from mlops_reference import artefacts, serving
    >>> s = data.make_scenario()
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "model.joblib"
    >>> m = artefacts.save_artefact(s.pipeline, path, example_input=s.X_test.head(3))
    >>> with serving.run_server(serving.create_app(artefact=path, expected_sha256=m.sha256)) as url:
    ...     httpx.get(url + "/healthz").json()
    {'status': 'alive'}
    """
    import uvicorn

    if not isinstance(app, FastAPI):
        raise TypeError(f"`app` must be a FastAPI app from `serving.create_app`; got {type(app).__name__}.")
    if not isinstance(host, str) or not host:
        raise ValueError(f"`host` must be a host name or address; got {host!r}.")
    port = None if port is None else check_int(port, "port", low=0, high=65535)
    sock = _listening_socket(host, port)
    url = f"http://{f'[{host}]' if ':' in host else host}:{sock.getsockname()[1]}"
    server = uvicorn.Server(uvicorn.Config(app, log_level=log_level, access_log=False, lifespan="on",
                                           timeout_graceful_shutdown=5))

    def serve() -> None:
        try:
            server.run(sockets=[sock])
        except SystemExit:  # uvicorn exits when startup fails; the error is in the app's state
            pass

    thread = threading.Thread(target=serve, daemon=True, name=f"uvicorn-{url}")
    thread.start()
    try:
        try:
            _wait_ready(url, time.monotonic() + timeout, thread.is_alive)
        except RuntimeError:
            error = getattr(getattr(app.state, "serving", None), "startup_error", None)
            if error is not None:
                raise error from None
            raise
        yield url
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()
