"""The local users file: ``name:argon2-hash`` per line, for a lab without an identity provider.

Passwords are hashed with Argon2id (argon2-cffi's defaults, RFC 9106's recommended profile);
the clear password is never stored. Argon2 hashes hold no ``:``, so the format is as simple as
an htpasswd file and can be reviewed with ``cut -d: -f1``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from radiomics_core.files.atomic import atomic_write_text

MAX_NAME = 128  # characters of a user name
MAX_PASSWORD = 1024  # characters of a password: longer ones are refused before any hash
MIN_PASSWORD = 8
_NAME = re.compile(r"[A-Za-z0-9._@+-]{1,%d}" % MAX_NAME)
# The owner's group may run the dashboard; nobody else should get the hashes to crack offline.
_MODE_MASK = 0o660


def valid_name(name: str) -> bool:
    """Whether ``name`` can be a user name (checked before it reaches a hash, a log line or a page)."""
    return len(name) <= MAX_NAME and _NAME.fullmatch(name) is not None


def valid_password(password: str) -> bool:
    return 0 < len(password) <= MAX_PASSWORD


@dataclass(frozen=True)
class UsersFile:
    path: Path

    def exists(self) -> bool:
        """Whether local login is configured: the file exists, even empty (then nobody may log in)."""
        return self.path.is_file()

    def digest(self, name: str) -> str | None:
        """``name``'s stored hash (None when the name is not in the file): a session remembers it, so
        a new password or a removed user ends the sessions opened with the old one."""
        return self.hashes().get(name)

    def hashes(self) -> dict[str, str]:
        if not self.path.is_file():
            return {}
        entries = {}
        for line in self.path.read_text(encoding="utf-8").splitlines():
            name, sep, digest = line.strip().partition(":")
            if sep and name and not name.startswith("#"):
                entries[name] = digest
        return entries

    def names(self) -> list[str]:
        return sorted(self.hashes())

    def set_password(self, name: str, password: str) -> None:
        """Add ``name`` or replace its password; the file is rewritten atomically."""
        if not valid_name(name):
            raise ValueError(f"user name {name[:MAX_NAME]!r}: use up to {MAX_NAME} letters, digits and . _ @ + - only")
        if len(password) < MIN_PASSWORD:
            raise ValueError(f"the password needs at least {MIN_PASSWORD} characters")
        if len(password) > MAX_PASSWORD:
            raise ValueError(f"the password may have at most {MAX_PASSWORD} characters")
        entries = self.hashes()
        entries[name] = PasswordHasher().hash(password)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(self.path, "".join(f"{n}:{h}\n" for n, h in sorted(entries.items())), mode_mask=_MODE_MASK)

    def remove(self, name: str) -> bool:
        entries = self.hashes()
        if entries.pop(name, None) is None:
            return False
        atomic_write_text(self.path, "".join(f"{n}:{h}\n" for n, h in sorted(entries.items())), mode_mask=_MODE_MASK)
        return True  # the file stays, empty when this was the last user: login stays on, nobody gets in

    def verify(self, name: str, password: str) -> bool:
        """Whether ``password`` is ``name``'s; an unknown name costs a hash too (no timing hint).

        Each call is an Argon2 computation of 64 MiB: the dashboard runs at most a few at once
        (``dashboard/throttle.py``) and checks the lengths first (``valid_name``, ``valid_password``).
        """
        if not valid_name(name) or not valid_password(password):
            return False
        digest = self.hashes().get(name)
        hasher = PasswordHasher()
        if digest is None:
            hasher.hash(password)
            return False
        try:
            return hasher.verify(digest, password)
        except (VerificationError, InvalidHashError):
            return False
