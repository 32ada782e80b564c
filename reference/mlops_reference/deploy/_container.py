"""The container's entry point: check the artefact given at run time, then serve it."""
from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .. import _utils

#: Exit status when the configuration is missing or malformed, and when the artefact is
#: missing or is not the trusted file.
EXIT_CONFIG, EXIT_ARTEFACT = 2, 3


class StartupError(RuntimeError):
    """The container refuses to start; ``status`` is its exit code."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


def check_environment(environ: Mapping[str, str]) -> dict[str, Any]:
    """Read and check the server's settings from the environment, before any unpickling.

    ``MODEL_ARTEFACT`` (path of the joblib artefact, usually on a read-only volume),
    ``MODEL_SHA256`` (its trusted digest, from the registry), optional ``MODEL_VERSION``,
    ``HOST`` (default ``127.0.0.1``; the image sets ``0.0.0.0``) and ``PORT`` (default 8000).

    Raises
    ------
    StartupError
        Naming the variable or the file, with exit status 2 (configuration) or 3 (artefact
        missing or not the trusted file).

    Examples
    --------
    >>> check_environment({"MODEL_ARTEFACT": "/nowhere/model.joblib", "MODEL_SHA256": "ab" * 32})
    Traceback (most recent call last):
    ...
    mlops_reference.deploy._container.StartupError: MODEL_ARTEFACT must name an existing artefact file; got '/nowhere/model.joblib', which does not exist. Mount the model volume and point MODEL_ARTEFACT at the file.
    """
    path, sha = environ.get("MODEL_ARTEFACT", ""), environ.get("MODEL_SHA256", "").strip().lower()
    if not path:
        raise StartupError("MODEL_ARTEFACT must be set to the artefact's path inside the container; it is unset.",
                           EXIT_CONFIG)
    if len(sha) != 64 or any(c not in "0123456789abcdef" for c in sha):
        raise StartupError(f"MODEL_SHA256 must be the artefact's trusted SHA-256 (64 hexadecimal characters); "
                           f"got {sha!r}. Take it from the registry, never from the file itself.", EXIT_CONFIG)
    port_text = environ.get("PORT", "8000")
    if not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise StartupError(f"PORT must be an integer between 1 and 65535; got {port_text!r}.", EXIT_CONFIG)
    artefact = Path(path)
    if not artefact.is_file():
        raise StartupError(f"MODEL_ARTEFACT must name an existing artefact file; got {path!r}, which does not "
                           "exist. Mount the model volume and point MODEL_ARTEFACT at the file.", EXIT_ARTEFACT)
    actual = _utils.sha256_file(artefact)
    if actual != sha:
        raise StartupError(f"the artefact {path!r} has SHA-256 {actual}, not the trusted {sha}: it was changed "
                           "or is the wrong file. Refusing to load it.", EXIT_ARTEFACT)
    return {"artefact": str(artefact), "expected_sha256": sha,
            "version": environ.get("MODEL_VERSION") or None,
            "host": environ.get("HOST", "127.0.0.1"), "port": int(port_text)}


def serve_from_environment(environ: Mapping[str, str] | None = None) -> None:
    """Check the environment (:func:`check_environment`), then serve until stopped.

    On a refused start it prints the reason to standard error and exits with status 2 or 3,
    so an orchestrator shows the reason and never routes traffic to the container.

    Examples
    --------
    Without an artefact the container exits with status 2 (the reason goes to standard error):

    >>> try:
    ...     serve_from_environment({})
    ... except SystemExit as exc:
    ...     print("exit status", exc.code)
    exit status 2
    """
    environ = os.environ if environ is None else environ
    try:
        settings = check_environment(environ)
    except StartupError as exc:
        print(f"refusing to start: {exc}", file=sys.stderr, flush=True)
        raise SystemExit(exc.status) from None
    import uvicorn

    from mlops_reference import serving

    host, port = settings.pop("host"), settings.pop("port")
    app = serving.create_app(**settings)
    print(f"serving {settings['artefact']} (sha256 {settings['expected_sha256'][:12]}...) on {host}:{port}",
          file=sys.stderr, flush=True)
    uvicorn.run(app, host=host, port=port, access_log=False, log_level="warning",
                timeout_graceful_shutdown=10)
