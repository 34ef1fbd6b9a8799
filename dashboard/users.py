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

_NAME = re.compile(r"^[A-Za-z0-9._@+-]{1,128}$")
# The owner's group may run the dashboard; nobody else should get the hashes to crack offline.
_MODE_MASK = 0o660


@dataclass(frozen=True)
class UsersFile:
    path: Path

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
        if not _NAME.match(name):
            raise ValueError(f"user name {name!r}: use letters, digits and . _ @ + - only")
        if len(password) < 8:
            raise ValueError("the password needs at least 8 characters")
        entries = self.hashes()
        entries[name] = PasswordHasher().hash(password)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(self.path, "".join(f"{n}:{h}\n" for n, h in sorted(entries.items())), mode_mask=_MODE_MASK)

    def remove(self, name: str) -> bool:
        entries = self.hashes()
        if entries.pop(name, None) is None:
            return False
        atomic_write_text(self.path, "".join(f"{n}:{h}\n" for n, h in sorted(entries.items())), mode_mask=_MODE_MASK)
        return True

    def verify(self, name: str, password: str) -> bool:
        """Whether ``password`` is ``name``'s; an unknown name costs a hash too (no timing hint)."""
        digest = self.hashes().get(name)
        hasher = PasswordHasher()
        if digest is None:
            hasher.hash(password)
            return False
        try:
            return hasher.verify(digest, password)
        except (VerificationError, InvalidHashError):
            return False
