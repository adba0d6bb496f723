"""Read an appointment file safely: a regular file, bounded in size and line length, UTF-8.

The limits are far above a clinic's real export (a year of a busy clinic is a few MB) and keep
a wrong path (`/dev/zero`, a FIFO, a disk image) from filling memory or hanging the command.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from scheduler.import_rows import ImportFileError

__all__ = ["MAX_FILE_BYTES", "MAX_LINE_CHARS", "read_text"]

MAX_FILE_BYTES = 32 * 1024 * 1024
MAX_LINE_CHARS = 64 * 1024


def _read_bytes(path: Path) -> bytes:
    try:
        # O_NONBLOCK: opening a FIFO must not wait for a writer before we can refuse it.
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except OSError as exc:
        raise ImportFileError(f"cannot read {path}: {exc.strerror or exc}") from None
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise ImportFileError(f"cannot import {path}: not a regular file")
    with open(fd, "rb", closefd=True) as file:
        try:
            # At most one byte past the limit, whatever the file claims its size is.
            data = file.read(MAX_FILE_BYTES + 1)
        except OSError as exc:
            raise ImportFileError(f"cannot read {path}: {exc.strerror or exc}") from None
    if len(data) > MAX_FILE_BYTES:
        limit = MAX_FILE_BYTES // (1024 * 1024)
        raise ImportFileError(f"cannot import {path}: larger than the {limit} MiB limit")
    return data


def read_text(path: Path) -> str:
    """Return the file's text; ImportFileError (one line, exit 2) for anything else.

    Refused: a path that is not a regular file, more than MAX_FILE_BYTES, bytes that are not
    UTF-8, a NUL character (a binary file), a line longer than MAX_LINE_CHARS.
    """
    data = _read_bytes(path)
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        where = data.count(b"\n", 0, exc.start) + 1
        raise ImportFileError(f"cannot import {path}: not UTF-8 text (line {where})") from None
    nul = text.find("\x00")
    if nul >= 0:
        where = text.count("\n", 0, nul) + 1
        raise ImportFileError(f"cannot import {path}: a NUL character on line {where}") from None
    if len(text) > MAX_LINE_CHARS:
        for number, line in enumerate(text.splitlines(), start=1):
            if len(line) > MAX_LINE_CHARS:
                raise ImportFileError(
                    f"cannot import {path}: line {number} is longer than "
                    f"{MAX_LINE_CHARS:,} characters"
                )
    return text
