"""A preset or a file: how params and task settings name what they load.

A setting such as ``params: default`` names a YAML file shipped in a package; ``params:
my/params.yaml`` names a user's file. This module alone tells them apart and reads either.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterable


def is_file_source(source: str | Path) -> bool:
    """Whether a params or task setting names a YAML file (else: a shipped preset's name)."""
    return isinstance(source, Path) or str(source).endswith((".yaml", ".yml"))


def read_source(source: str | Path, package: str, kind: str, names: Iterable[str]) -> tuple[str, str]:
    """(text, where) of a shipped preset of ``package`` by name, or of a user's YAML file."""
    from importlib import resources

    if not is_file_source(source):
        try:
            return resources.files(package).joinpath(f"{source}.yaml").read_text(encoding="utf-8"), f"{kind} {source}"
        except FileNotFoundError:
            raise ValueError(f"no {kind} {source!r}; the shipped ones are {', '.join(names)}, "
                                "or give a path to a .yaml file") from None
    path = Path(source)
    if not path.is_file():
        raise ValueError(f"{path}: {kind} file does not exist")
    return path.read_text(encoding="utf-8"), str(path)
