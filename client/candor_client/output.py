"""What the client prints: text from elsewhere made safe, sizes and counts in words, the progress bar.

Nothing here talks to a server or touches a file; commands hand it figures and strings.
"""

from __future__ import annotations

import math
import shutil
import sys
import time
from typing import TextIO


def shown(text: object, limit: int = 300) -> str:
    """Text from the server or the disk, made safe to print: no control characters, one line, bounded.

    A server could otherwise send escape sequences that rewrite the user's terminal.
    """
    value = str(text)
    cleaned = "".join(c if c.isprintable() else repr(c)[1:-1] for c in value)
    return cleaned if len(cleaned) <= limit else cleaned[: limit - 1] + "…"


def human(size: float) -> str:
    """Sizes in SI units, as a file manager shows them: 12.4 MB."""
    if size < 1000:
        return f"{int(size)} B"
    for unit in ("kB", "MB", "GB", "TB"):
        size /= 1000
        if size < 1000 or unit == "TB":
            return f"{size:.1f} {unit}"
    raise AssertionError("unreachable")


def plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def number(value: object) -> float:
    """A figure from the server's JSON, or 0 if it is not one (an odd server must not crash the client)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return 0.0
    return float(value) if math.isfinite(value) else 0.0


def note(message: str) -> None:
    """A remark beside the result (a warning, a hint): on stderr, so piped output stays clean."""
    print(f"candor: {message}", file=sys.stderr)


class Progress:
    """A one-line progress bar on stderr; silent when stderr is not a terminal (logs, CI, pipes)."""

    def __init__(self, total: int, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stderr
        self.enabled = total > 0 and self.stream.isatty()
        self.total = total
        self.done = 0
        self.label = ""
        self.started = time.monotonic()
        self.drawn_at = 0.0
        self.drawn = False

    def describe(self, label: str) -> None:
        self.label = shown(label)
        self._draw(force=True)

    def advance(self, count: int) -> None:
        self.done += count
        self._draw()

    def _draw(self, force: bool = False) -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        if not force and now - self.drawn_at < 0.1 and self.done < self.total:
            return
        self.drawn_at = now
        width = max(shutil.get_terminal_size((80, 24)).columns - 1, 40)
        fraction = min(1.0, self.done / self.total)
        rate = self.done / max(now - self.started, 1e-3)
        filled = int(20 * fraction)
        bar = "[" + "#" * filled + "." * (20 - filled) + "]"
        stats = f" {fraction:4.0%} {human(self.done)}/{human(self.total)} {human(rate)}/s"
        room = width - len(bar) - len(stats) - 1
        label = self.label if len(self.label) <= room else "…" + self.label[-(room - 1) :]
        self.stream.write(f"\r{label:<{room}} {bar}{stats}")
        self.stream.flush()
        self.drawn = True

    def close(self) -> None:
        if self.drawn:
            self.stream.write("\n")
            self.stream.flush()
            self.drawn = False
