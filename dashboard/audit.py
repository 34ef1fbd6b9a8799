"""The dashboard's audit trail: one JSON line per login decision and data page view.

Lines are appended with O_APPEND, so several dashboard processes can share the file without
interleaving a line. The file is created 0o640 (before the umask) before anything is written:
it names users and client addresses, which nobody outside the owner's group needs to read.
Every value is cut to ``MAX_VALUE`` characters, so whatever a client sends (a user name of a
megabyte), and one line never exceeds ``MAX_LINE`` bytes.
"""

from __future__ import annotations

import json
import os
import stat
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

MAX_VALUE = 200  # characters kept of any one value
MAX_FIELDS = 16
MAX_LINE = 4096  # bytes in one line, whatever the values hold
_MODE = 0o640


def bounded(value: object, limit: int = MAX_VALUE) -> object:
    """``value`` as the log stores it: numbers and booleans as they are, anything else as text cut short."""
    if value is None or isinstance(value, (bool, int, float)):
        return value
    text = str(value)
    if len(text) <= limit:
        return text
    return f"{text[:limit]}...({len(text) - limit} more characters)"


def _line(event: str, user: str, details: dict[str, object]) -> str:
    fields = {"event": event, "user": user,
              **{str(k)[:40]: v for k, v in list(details.items())[:MAX_FIELDS] if v is not None}}
    time = datetime.now(timezone.utc).isoformat(timespec="seconds")
    limit = MAX_VALUE
    while True:  # escaped control characters can make a value six times its length: cut harder
        line = json.dumps({"time": time, **{k: bounded(v, limit) for k, v in fields.items()}}, default=str) + "\n"
        if len(line) <= MAX_LINE or limit < 8:
            return line
        limit //= 2


@dataclass(frozen=True)
class AuditLog:
    path: Path

    def record(self, event: str, user: str, **details: object) -> None:
        """Append ``{"time", "event", "user", ...details}``; ``time`` is UTC, ISO 8601."""
        line = _line(event, user, details)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, _MODE)
        try:
            _withhold_from_others(handle)
            os.write(handle, line.encode("utf-8"))
        finally:
            os.close(handle)

    def entries(self) -> list[dict]:
        if not self.path.exists():
            return []
        return [json.loads(line) for line in self.path.read_text(encoding="utf-8").splitlines() if line.strip()]


def _withhold_from_others(handle: int) -> None:
    """A log created by an older version (0o644) loses its bits for others, when this user owns it."""
    info = os.fstat(handle)
    if info.st_mode & 0o007 and info.st_uid == os.geteuid():
        os.fchmod(handle, stat.S_IMODE(info.st_mode) & ~0o007)
