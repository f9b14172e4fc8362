"""Paths the user typed, made safe to test and to quote: a name the operating system refuses (too long, a NUL byte)
is simply not a file, and a message quotes at most the start of it."""

from __future__ import annotations

from pathlib import Path

QUOTED = 160  # characters of a user's path or name a one-line message quotes (real paths are shorter)


def is_file(path) -> bool:
    """Path(path).is_file(), but False where the operating system refuses the name (ENAMETOOLONG, a NUL byte)."""
    try:
        return Path(path).is_file()
    except (OSError, ValueError):
        return False


def shown(text) -> str:
    """``text`` as a message quotes it: its first QUOTED characters, then how many more there are."""
    text = str(text)
    return text if len(text) <= QUOTED else f"{text[:QUOTED]}... ({len(text):,} characters)"
