"""Peak RSS of a process, sampled on a thread; shared by the benchmarks, which run as scripts
from this folder."""

from __future__ import annotations

import contextlib
import threading

import psutil


class RssSampler:
    """Peak RSS of one process, sampled every ``interval`` seconds on a thread (so that a
    busy event loop in this process does not skew the sampling); ``with_children``: of the
    process and its children together (the servers of ``gateway serve --processes N``)."""

    def __init__(self, pid: int, interval: float = 0.05, *, with_children: bool = False) -> None:
        self.process = psutil.Process(pid)
        self.members = [self.process]
        if with_children:
            self.members.extend(self.process.children(recursive=True))
        self.interval = interval
        self.peak = 0
        #: Peak proportional set size (Linux; 0 elsewhere): a page shared by k processes
        #: counts 1/k in each, so the sum over forked servers is what they really take.
        self.peak_pss = 0
        self.samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            with contextlib.suppress(psutil.Error):
                rss = sum(member.memory_info().rss for member in self.members)
                self.peak = max(self.peak, rss)
                self.peak_pss = max(self.peak_pss, sum(pss(m.pid) for m in self.members))
                self.samples += 1
            self._stop.wait(self.interval)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join()


def pss(pid: int) -> int:
    """Proportional set size of ``pid`` in bytes, from /proc (0 where there is none)."""
    try:
        with open(f"/proc/{pid}/smaps_rollup", encoding="ascii") as rollup:
            for line in rollup:
                if line.startswith("Pss:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0
