"""Running the app: :func:`run_server` (background, for chapters and tests) and :func:`main` (CLI)."""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Mapping
from typing import Any

from fastapi import FastAPI

from mlops_reference._utils import check_int, check_positive_int

from ._app import _ENV_KWARGS, _FACTORY, MODES, create_app

_THREAD_POOL_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def _wait_ready(url: str, deadline: float, alive) -> None:
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


def _listening_socket(host: str, port: int | None, *, reuse_port: bool = False) -> socket.socket:
    """A bound TCP socket, created the way ``loop.create_server(host=..., port=...)`` creates it.

    The protocol is given explicitly (``IPPROTO_TCP``, not 0): asyncio sets ``TCP_NODELAY``
    on each accepted connection only when the listening socket says it is TCP, as stock
    uvicorn's own sockets do. The first edition created it with protocol 0, so Nagle's
    algorithm held back the second segment of each response until the client's delayed ACK,
    about 40 ms per request on loopback.

    Sockets for worker *processes* additionally carry ``TCP_NODELAY`` themselves: uvicorn
    re-opens an inherited descriptor (``--fd``) without its family, so asyncio cannot tell it
    is TCP, and Linux copies the option from the listening socket to accepted ones.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if reuse_port:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.bind((host, port or 0))
    return sock


def _one_thread_per_worker(environ: Mapping[str, str]) -> dict[str, str]:
    """The environment for worker processes: one BLAS/OpenMP thread each, unless set.

    Scaling out with processes and letting every process also start a thread pool the size
    of the machine oversubscribes the cores: the pools spin against each other
    (``benchmarks/bench_serving.py`` measures it).
    """
    env = dict(environ)
    for name in _THREAD_POOL_VARIABLES:
        env.setdefault(name, "1")
    return env


@contextlib.contextmanager
def run_server(app_or_kwargs: FastAPI | Mapping[str, Any], *, host: str = "127.0.0.1",
               port: int | None = None, workers: int = 1, isolated: bool = False,
               timeout: float = 60.0, log_level: str = "warning") -> Iterator[str]:
    """Start the server in the background, yield its base URL once ready, then stop it.

    Parameters
    ----------
    app_or_kwargs : FastAPI or mapping
        An app from :func:`create_app`, or the keyword arguments for it (required when
        ``workers > 1``: each worker process builds its own app from them).
    host : str, default="127.0.0.1"
        Loopback by default; nothing else is reachable from outside the machine.
    port : int, default=None
        None picks a free port.
    workers : int, default=1
        1 runs uvicorn in a thread of this process; more starts one uvicorn process per
        worker, all listening on the port with ``SO_REUSEPORT`` so that the kernel spreads
        connections across them (each has its own metrics; nothing restarts a worker that
        dies, which is the job of a process manager or an orchestrator).
    isolated : bool, default=False
        Run even a single worker as a subprocess, so that a client in this process does
        not compete with the server for the GIL (what a benchmark wants).
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
    Does a server started from keyword arguments answer its liveness probe?

    >>> import tempfile, pathlib, httpx
    >>> from mlops_companion import data
    >>> from mlops_reference import artefacts, serving
    >>> s = data.make_scenario()
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "model.joblib"
    >>> m = artefacts.save_artefact(s.pipeline, path, example_input=s.X_test.head(3))
    >>> with serving.run_server({"artefact": path, "expected_sha256": m.sha256}) as url:
    ...     httpx.get(url + "/healthz").json()
    {'status': 'alive'}
    """
    import uvicorn

    workers = check_positive_int(workers, "workers")
    if not isinstance(host, str) or not host:
        raise ValueError(f"`host` must be a host name or address; got {host!r}.")
    if port is not None:
        port = check_int(port, "port", low=0, high=65535)
    shown = f"[{host}]" if ":" in host else host
    if workers == 1 and not isolated:
        app = app_or_kwargs if isinstance(app_or_kwargs, FastAPI) else create_app(**dict(app_or_kwargs))
        sock = _listening_socket(host, port)
        url = f"http://{shown}:{sock.getsockname()[1]}"
        config = uvicorn.Config(app, log_level=log_level, access_log=False, lifespan="on",
                                timeout_graceful_shutdown=5)
        server = uvicorn.Server(config)

        def serve() -> None:
            try:
                server.run(sockets=[sock])
            except SystemExit:  # uvicorn exits when startup fails; the error is in app.state
                pass

        thread = threading.Thread(target=serve, daemon=True, name=f"uvicorn-{url}")
        thread.start()
        try:
            try:
                _wait_ready(url, time.monotonic() + timeout, thread.is_alive)
            except RuntimeError:
                error = getattr(getattr(app, "state", None), "serving", {}).get("startup_error")
                if error is not None:
                    raise error
                raise
            yield url
        finally:
            server.should_exit = True
            thread.join(timeout=10)
            sock.close()
        return
    if isinstance(app_or_kwargs, FastAPI):
        raise TypeError("`app_or_kwargs` must be the create_app keyword arguments (a mapping) when "
                        "`workers` > 1 or `isolated`; got a FastAPI app. Each worker process builds its own app.")
    kwargs = {k: (str(v) if isinstance(v, os.PathLike) else v) for k, v in dict(app_or_kwargs).items()}
    create_app(**kwargs)  # validate the arguments here, where the error is readable
    # One single-process uvicorn per worker, each on its own listening socket bound to the
    # same port with SO_REUSEPORT, so the kernel spreads connections across the workers.
    # (Workers sharing one socket, as `uvicorn --workers` does, let whichever process wakes
    # first accept a burst of connections: with keep-alive clients one worker can end up
    # with most of them.)
    socks = [_listening_socket(host, port, reuse_port=True)]
    port = socks[0].getsockname()[1]
    socks += [_listening_socket(host, port, reuse_port=True) for _ in range(workers - 1)]
    url = f"http://{shown}:{port}"
    env = {**_one_thread_per_worker(os.environ), _ENV_KWARGS: json.dumps(kwargs)}
    procs = []
    for sock in socks:
        sock.set_inheritable(True)
        cmd = [sys.executable, "-m", "uvicorn", "--factory", _FACTORY, "--fd", str(sock.fileno()),
               "--no-access-log", "--log-level", log_level, "--timeout-graceful-shutdown", "5"]
        procs.append(subprocess.Popen(cmd, env=env, stdin=subprocess.DEVNULL, pass_fds=(sock.fileno(),),
                                      start_new_session=True))
    try:
        _wait_all_workers(url, procs, time.monotonic() + timeout)
        yield url
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=5)
        for sock in socks:
            sock.close()


def _wait_all_workers(url: str, procs: list[subprocess.Popen], deadline: float) -> None:
    """Wait until every worker process has answered ``/readyz`` (it reports its pid).

    Each probe opens a new connection, which the kernel hashes to one of the listening
    sockets, so a handful of probes reaches every worker."""
    import httpx

    def alive() -> bool:
        return all(p.poll() is None for p in procs)

    _wait_ready(url, deadline, alive)
    waiting = {p.pid for p in procs}
    with httpx.Client(timeout=2.0, headers={"Connection": "close"}) as client:
        while waiting:
            if not alive():
                raise RuntimeError("a worker process exited during startup.")
            if time.monotonic() > deadline:
                raise TimeoutError(f"worker processes {sorted(waiting)} did not become ready in time.")
            try:
                r = client.get(url + "/readyz")
                if r.status_code == 200:
                    waiting.discard(r.json().get("pid"))
            except httpx.TransportError:
                time.sleep(0.02)


def main(argv: list[str] | None = None) -> None:
    """Command line: serve an artefact in the foreground until Ctrl-C.

    ``python -m mlops_reference.serving --artefact model.joblib --sha256 HEX --port 8000``;
    the SHA-256 comes from the registry or the deployment config, not from the manifest.

    Parameters
    ----------
    argv : list of str, default=None
        Arguments (``sys.argv[1:]`` when None).

    Examples
    --------
    Is a digest that is not 64 hexadecimal characters refused before anything starts?

    >>> from mlops_reference import serving
    >>> serving.main(["--artefact", "x.joblib", "--sha256", "abc"])  # doctest: +IGNORE_EXCEPTION_DETAIL
    Traceback (most recent call last):
    ValueError: `expected_sha256` must be a SHA-256 digest ...
    """
    import uvicorn

    from .. import _utils

    parser = argparse.ArgumentParser(prog="python -m mlops_reference.serving", description=main.__doc__)
    parser.add_argument("--artefact", required=True, help="path of the joblib artefact")
    parser.add_argument("--sha256", required=True, help="its SHA-256, from a record you control")
    parser.add_argument("--version", default=None, help="label returned with each prediction")
    parser.add_argument("--candidate", default=None)
    parser.add_argument("--candidate-sha256", default=None)
    parser.add_argument("--mode", choices=MODES, default="single")
    parser.add_argument("--candidate-share", type=float, default=0.1)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args(argv)
    _utils.check_sha256(args.sha256, "expected_sha256")
    kwargs = {"artefact": args.artefact, "expected_sha256": args.sha256, "version": args.version,
              "mode": args.mode, "candidate_share": args.candidate_share}
    if args.candidate:
        kwargs.update(candidate=args.candidate, candidate_sha256=args.candidate_sha256)
    if args.workers == 1:
        uvicorn.run(create_app(**kwargs), host=args.host, port=args.port, access_log=False)
    else:
        create_app(**kwargs)
        os.environ.update(_one_thread_per_worker(os.environ))
        os.environ[_ENV_KWARGS] = json.dumps(kwargs)
        uvicorn.run(_FACTORY, factory=True, host=args.host, port=args.port,
                    workers=args.workers, access_log=False)
