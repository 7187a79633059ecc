"""Reading the text files users give the commands: manifests, mix files, traces, catalogs."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

UTF8_HINT = "save it as UTF-8 (PowerShell 5's `>` writes UTF-16)"


def read_text(path: str | Path, error: Callable[[str], Exception], hint: str = UTF8_HINT) -> str:
    """The UTF-8 text of a file (`-`: standard input); `error` with the file's name where it
    cannot be read or is not UTF-8 text, so that no command ends in a traceback."""
    try:
        if str(path) == "-":
            return sys.stdin.read()
        return Path(path).read_text(encoding="utf-8")
    except OSError as err:
        raise error(f"{path}: cannot read: {err.strerror}") from None
    except UnicodeDecodeError:
        raise error(f"{path}: not UTF-8 text; {hint}") from None
