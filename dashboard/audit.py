"""The dashboard's audit trail: one JSON line per login decision and data page view.

Lines are appended with O_APPEND, so several dashboard processes can share the file without
interleaving a line; the file gets the umask's mode like every other file in the data folder.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path


@dataclass(frozen=True)
class AuditLog:
    path: Path

    def record(self, event: str, user: str, **details: object) -> None:
        """Append ``{"time", "event", "user", ...details}``; ``time`` is UTC, ISO 8601."""
        entry = {"time": datetime.now(timezone.utc).isoformat(timespec="seconds"), "event": event, "user": user,
                 **{key: value for key, value in details.items() if value is not None}}
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a", encoding="utf-8") as handle:
            handle.write(json.dumps(entry, default=str) + "\n")

    def entries(self) -> list[dict]:
        if not self.path.exists():
            return []
        return [json.loads(line) for line in self.path.read_text(encoding="utf-8").splitlines() if line.strip()]
