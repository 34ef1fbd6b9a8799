"""Patient identifiers that are safe as Dagster partition keys and as file names."""

from __future__ import annotations

import hashlib
import re

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def safe_partition_key(source_id: str) -> str:
    """Return a partition key for ``source_id`` that Dagster and file systems accept.

    Dagster multi-partition keys use ``|`` and ``,`` as separators, and ids also become file
    names, so anything outside ``[A-Za-z0-9._-]`` is replaced by ``_``. When the id had to
    change, a short hash of the original is appended so two ids that differ only in unsafe
    characters (``a b`` and ``a,b``) never collide.

    >>> safe_partition_key("UCSF-PDGM-0004")
    'UCSF-PDGM-0004'
    >>> safe_partition_key("../etc passwd")
    'etc_passwd-8ca82a35'
    """
    text = source_id.strip()
    cleaned = _UNSAFE.sub("_", text).strip("._-")
    if cleaned == text and cleaned:
        return cleaned
    digest = hashlib.sha1(source_id.encode("utf-8")).hexdigest()[:8]
    return f"{cleaned or 'patient'}-{digest}"
