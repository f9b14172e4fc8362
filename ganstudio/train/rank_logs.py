"""``train --nproc``: the ranks' stderr relayed as it comes, their error lines held back; then ONE line on a failure.

torchrun writes each rank's stderr to ``<log dir>/<run>/attempt_<n>/<local rank>/stderr.log`` (``--redirects 2``);
the ranks' stdout (progress, the live view) still goes straight to the terminal. torchrun's own stderr (its
ChildFailedError block) is kept, not shown: its summary says which rank died of which signal.
"""

from __future__ import annotations

import collections
import re
import signal
import sys
import threading
from pathlib import Path
from typing import Optional

from ganstudio.limits import LINE_CHARS, STDERR_TAIL_BYTES, clean_text

ERROR_LINE = re.compile(r"^(?:rank (\d+): )?error: (.*)$")  # what cli.py and train/entry.py print (rank_prefix)
STOPPED_BECAUSE = re.compile(r"^stopped because rank (\d+): (.*)$")  # train/loop.py: the rank that failed first
FAILURE = re.compile(r"rank\s*:\s*(\d+)\s*\(local_rank[^\n]*\n\s*exitcode\s*:\s*(-?\d+)")  # torchrun's summary
SIGNALLED_BY_US = (signal.SIGINT, signal.SIGTERM)  # sent by this launcher or by torchrun to the survivors


class RankLogs:
    """Follows the ranks' stderr files from a thread; ``verbatim`` (--debug) relays everything, tracebacks too."""

    def __init__(self, folder: Path, nproc: int, verbatim: bool = False, out=None):
        self.folder, self.nproc, self.verbatim = Path(folder), nproc, verbatim
        self.out = out or sys.stderr
        self.quiet = False  # set once a signal came: what the ranks say while they stop is not news
        self.errors: dict[int, str] = {}  # rank -> the first error line it printed
        self.last: dict[int, str] = {}  # rank -> its last non-empty line
        self._read: dict[Path, int] = {}
        self._partial: dict[Path, bytes] = {}
        self._dying: set[Path] = set()  # a traceback began (a rank dying before cli.main): held back to the end
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._follow, name="ganstudio-rank-logs", daemon=True)

    def __enter__(self) -> "RankLogs":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self.poll(final=True)  # every rank has exited: the files are complete

    def _follow(self) -> None:
        while not self._stop.wait(0.1):
            self.poll()

    def poll(self, final: bool = False) -> None:
        for path in sorted(self.folder.glob("*/attempt_*/*/stderr.log")):
            try:
                with open(path, "rb") as f:
                    f.seek(self._read.get(path, 0))
                    data = f.read(STDERR_TAIL_BYTES)
            except OSError:
                continue
            self._read[path] = self._read.get(path, 0) + len(data)
            *lines, rest = (self._partial.get(path, b"") + data).split(b"\n")
            self._partial[path] = rest[-STDERR_TAIL_BYTES:]
            if final and rest:
                lines.append(rest)
            for line in lines:
                self._line(path, line.decode("utf-8", "replace").rstrip("\r"))

    def _line(self, path: Path, text: str) -> None:
        local = int(path.parent.name) if path.parent.name.isdigit() else 0
        if text.strip():
            self.last[local] = text
        said = ERROR_LINE.match(text)
        if said:
            self.errors.setdefault(int(said.group(1) or local), said.group(2))
        if text.startswith("Traceback (most recent call last)"):
            self._dying.add(path)
        if self.verbatim or not (said or self.quiet or path in self._dying):
            print(text, file=self.out, flush=True)

    def why_failed(self, torchrun_stderr: str, status: int) -> str:
        """One line: the rank that failed first and why, from what the ranks said and torchrun's summary."""
        codes = exit_codes(torchrun_stderr)
        for rank, code in codes.items():
            if code < 0 and -code not in SIGNALLED_BY_US:
                return (
                    f"rank {rank} was killed by {signal_name(-code)} (out of memory, or a kill) and every rank "
                    f"stopped; a checkpoint already saved is intact: --resume continues from it"
                )
        primary, named = {}, {}
        for rank, message in sorted(self.errors.items()):
            other = STOPPED_BECAUSE.match(message)
            if other:
                named.setdefault(int(other.group(1)), other.group(2))
            else:
                primary[rank] = message
        if primary:
            if 0 in primary and len(set(primary.values())) == 1:
                return _shown(primary[0])  # the same on every rank, or one only rank 0 checks: about the command
            rank = next((r for r in codes if r in primary), min(primary))
            return f"rank {rank}: {_shown(primary[rank])}"
        if named:
            rank = min(named)
            return f"rank {rank}: {_shown(named[rank])}"
        for rank, code in codes.items():
            if code > 0:
                last = self.last.get(rank)
                return f"rank {rank} exited with status {code}" + (f": {_shown(last)}" if last else "")
        tail = next((line for line in reversed(torchrun_stderr.splitlines()) if line.strip()), "")
        return f"the distributed run failed (torchrun exit status {status})" + (f": {_shown(tail)}" if tail else "")


def exit_codes(torchrun_stderr: str) -> dict[int, int]:
    """rank -> exit status (negative: killed by that signal) from torchrun's failure summary, its root cause first."""
    found = collections.OrderedDict()
    _, _, root = torchrun_stderr.rpartition("Root Cause")
    for text in (root, torchrun_stderr):
        for rank, code in FAILURE.findall(text):
            found.setdefault(int(rank), int(code))
    return dict(found)


def signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


def _shown(text: Optional[str]) -> str:
    return clean_text(text or "", LINE_CHARS)
