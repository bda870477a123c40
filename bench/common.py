"""Shared benchmark helpers: timing, peak memory in a child process, machine info, paths.

Figures are indicative: the benchmark machine is shared (2 cores), so every JSON document
records the load average next to the numbers.
"""

from __future__ import annotations

import json
import multiprocessing as mp
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
MARKET_DIR = REPO.parent / "shared/data/market"
PACKAGES = ("pandas", "numpy", "pyarrow", "catboost", "shap")


def market_dir() -> Path:
    """The real market CSV folder: $VOLCAST_MARKET_DIR, else ../shared/data/market beside the
    repo; exits with a clear message if absent."""
    folder = Path(os.environ.get("VOLCAST_MARKET_DIR") or MARKET_DIR)
    if not (folder / "SPY.csv").is_file():
        sys.exit(
            f"bench: real market data not found at {folder} (set VOLCAST_MARKET_DIR, or put "
            "../shared/data/market beside the repo, with SPY.csv etc.)"
        )
    return folder


@dataclass(frozen=True)
class Timing:
    """Wall-clock seconds over ``n`` runs."""

    n: int
    median_s: float
    p95_s: float
    min_s: float
    max_s: float

    @classmethod
    def of(cls, samples: list[float]) -> Timing:
        if not samples:
            raise ValueError("no samples")
        return cls(
            n=len(samples),
            median_s=round(statistics.median(samples), 6),
            p95_s=round(float(np.percentile(samples, 95)), 6),
            min_s=round(min(samples), 6),
            max_s=round(max(samples), 6),
        )

    def to_dict(self, unit: str = "s") -> dict[str, float | int]:
        """As a dict, in seconds (``unit="s"``) or milliseconds (``unit="ms"``)."""
        if unit == "s":
            return asdict(self)
        scale = 1000.0
        return {
            "n": self.n,
            **{
                k.replace("_s", "_ms"): round(v * scale, 3)
                for k, v in asdict(self).items()
                if k != "n"
            },
        }


def time_calls(fn: Callable[[], object], reps: int, warmup: int = 1) -> Timing:
    """Run ``fn`` ``warmup`` times untimed, then ``reps`` times timed."""
    for _ in range(warmup):
        fn()
    samples = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - t0)
    return Timing.of(samples)


def peak_rss_mb() -> float:
    """Peak resident set size of this process so far, in MiB.

    Linux: ``VmHWM`` of /proc/self/status, the high-water mark of this process's own memory
    map. ``ru_maxrss`` is not used there: it survives fork+exec, so a spawned child would
    report its parent's RSS at fork time whenever that is larger than its own peak.
    Elsewhere: ``ru_maxrss`` (KiB on Linux, bytes on macOS).
    """
    status = Path("/proc/self/status")
    if status.is_file():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024, 1)
    maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return round(maxrss / (2**20 if sys.platform == "darwin" else 1024), 1)


def _child(fn: Callable[..., Any], args: tuple[Any, ...]) -> dict[str, Any]:
    before = peak_rss_mb()  # interpreter + imports of fn's module
    t0 = time.perf_counter()
    value = fn(*args)
    seconds = time.perf_counter() - t0
    return {
        "value": value,
        "seconds": round(seconds, 3),
        "peak_rss_mb": peak_rss_mb(),
        "rss_before_mb": before,
    }


def run_in_child(fn: Callable[..., Any], *args: Any) -> dict[str, Any]:
    """Run ``fn(*args)`` in a fresh spawned process: its wall time and its own peak RSS.

    ``fn`` must be a module-level function and its result picklable. The time excludes the
    child's start-up and imports; ``rss_before_mb`` is the child's peak RSS just before the
    call (interpreter and imports), so ``peak_rss_mb - rss_before_mb`` is roughly the step's.
    """
    with mp.get_context("spawn").Pool(1) as pool:
        return pool.apply(_child, (fn, args))


def _process_tree(pid: int) -> list[int]:
    """``pid`` and all its descendants (from /proc; processes that exit meanwhile are skipped)."""
    found, stack = [], [pid]
    while stack:
        current = stack.pop()
        try:
            children = Path(f"/proc/{current}/task/{current}/children").read_text().split()
        except OSError:
            continue
        found.append(current)
        stack.extend(int(c) for c in children)
    return found


def process_tree_cpu_s(pid: int) -> float:
    """CPU seconds (user + system) of a process and all its descendants, from /proc."""
    total, tick = 0.0, os.sysconf("SC_CLK_TCK")
    for current in _process_tree(pid):
        try:
            fields = Path(f"/proc/{current}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / tick
    return total


def process_tree_rss_mb(pid: int) -> float:
    """Resident memory (MiB) of a process and all its descendants, from /proc."""
    total = 0.0
    for current in _process_tree(pid):
        try:
            status = Path(f"/proc/{current}/status").read_text()
        except OSError:
            continue
        total += sum(
            int(x.split()[1]) / 1024 for x in status.splitlines() if x.startswith("VmRSS:")
        )
    return total


def nproc() -> int:
    """What `nproc` prints (CPUs this process may use)."""
    try:
        return int(subprocess.run(["nproc"], capture_output=True, text=True, check=True).stdout)
    except (OSError, ValueError, subprocess.CalledProcessError):
        return len(os.sched_getaffinity(0))


def loadavg() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def machine() -> dict[str, Any]:
    """Where the figures come from; the load average matters on a shared machine."""
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return {
        "platform": platform.platform(),
        "python": platform.python_version(),
        "cpu_count": os.cpu_count(),
        "nproc": nproc(),
        "loadavg_1_5_15": loadavg(),
        "packages": versions,
        "note": "shared machine: other jobs were running; figures are indicative",
    }


def emit(document: dict[str, Any]) -> None:
    """Print one JSON document to stdout."""
    print(json.dumps(document, indent=2, default=str))
