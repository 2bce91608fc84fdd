"""Peak RSS of a process, sampled on a thread; shared by the benchmarks, which run as scripts
from this folder."""

from __future__ import annotations

import contextlib
import threading

import psutil


class RssSampler:
    """Peak RSS of one process, sampled every ``interval`` seconds on a thread (so that a
    busy event loop in this process does not skew the sampling)."""

    def __init__(self, pid: int, interval: float = 0.05) -> None:
        self.process = psutil.Process(pid)
        self.interval = interval
        self.peak = 0
        self.samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            with contextlib.suppress(psutil.Error):
                self.peak = max(self.peak, self.process.memory_info().rss)
                self.samples += 1
            self._stop.wait(self.interval)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join()
