"""Where and when a benchmark ran, recorded beside its results (the chapters show it).

A committed benchmark figure is a measurement from one moment on one machine. The chapters
that read ``bench_*.json`` print this record next to the figure and decline to quote a
timing ratio measured while other work held the cores (``load_average`` at or above one:
at least a whole core busy with something else).
"""
from __future__ import annotations

import datetime
import os
import platform
from pathlib import Path


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def provenance() -> dict:
    """Date (UTC), machine and load average at the moment of the call."""
    return {
        "measured_at": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "machine": {"system": platform.platform(terse=True), "cpu": _cpu_model(),
                    "cpu_count": os.cpu_count(), "python": platform.python_version()},
        "load_average": list(os.getloadavg()),
    }
