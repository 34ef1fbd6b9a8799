"""Files written aside and renamed into place, with the mode a normal file would get.

Every file the pipeline or the warehouse writes goes through ``atomic_write``: readers never see
half a file, a killed run leaves at most a ``.partial`` file behind, and the final file has the
mode ``open()`` would give it (0o666 minus the umask, or the folder's default ACL), so a shared
data folder under ``umask 002`` is readable by the owner's group. ``tempfile.mkstemp`` would
create the temporary file 0o600, and the rename would keep that mode.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable
from pathlib import Path

_FILE_MODE = 0o666  # what open() asks for; the kernel removes the umask bits
_DIR_MODE = 0o777


def atomic_write(path: Path | str, write: Callable[[Path], object], *, temp_suffix: str = ".partial",
                 mode_mask: int = 0o7777) -> Path:
    """Call ``write(temp)`` on a new file beside ``path``, then rename it to ``path``.

    ``temp_suffix`` ends the temporary name: ``.partial`` keeps it out of globs such as
    ``*.parquet``; writers that choose a format by extension (SimpleITK) need the real suffix.
    ``mode_mask`` removes bits from the umask's mode (0o660: never readable by others), already
    when the temporary file is created, so its content is never readable with the bits masked off.
    On any failure the temporary file is removed and the exception propagates.
    """
    path = Path(path)
    temp, mode = _create_beside(path, temp_suffix, _FILE_MODE & mode_mask)
    try:
        write(temp)
        # The writer may have replaced the file instead of truncating it; set the mode again.
        os.chmod(temp, mode)
        os.replace(temp, path)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    return path


def atomic_write_bytes(path: Path | str, data: bytes) -> Path:
    return atomic_write(path, lambda temp: temp.write_bytes(data))


def atomic_write_text(path: Path | str, text: str, encoding: str = "utf-8", *, mode_mask: int = 0o7777) -> Path:
    return atomic_write(path, lambda temp: temp.write_text(text, encoding=encoding), mode_mask=mode_mask)


def make_temp_dir(parent: Path | str, prefix: str = ".partial-") -> Path:
    """A new uniquely named folder in ``parent`` with a normal folder's mode (``mkdtemp`` gives 0o700)."""
    parent = Path(parent)
    while True:
        folder = parent / f"{prefix}{secrets.token_hex(8)}"
        try:
            folder.mkdir(mode=_DIR_MODE)
        except FileExistsError:
            continue
        return folder


def _create_beside(path: Path, temp_suffix: str, file_mode: int = _FILE_MODE) -> tuple[Path, int]:
    """Create an empty, uniquely named file next to ``path`` asking for ``file_mode``; return it and
    the mode it was given."""
    while True:
        temp = path.with_name(f".{path.name}.{secrets.token_hex(8)}{temp_suffix}")
        try:
            # O_EXCL: never reuse a name another writer holds. The kernel applies the umask (and a
            # default ACL) to _FILE_MODE exactly as for any new file, without touching os.umask,
            # which is process-wide and would race with other threads.
            handle = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, file_mode)
        except FileExistsError:
            continue
        try:
            mode = os.fstat(handle).st_mode & 0o7777
        finally:
            os.close(handle)
        return temp, mode
