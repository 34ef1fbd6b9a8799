"""A preset or a file: how params and task settings name what they load.

A setting such as ``params: default`` names a YAML file shipped in a package; ``params:
my/params.yaml`` names a user's file. A shipped preset may also be named by its file name
(``grade-who2021.yaml``) when no file of that name is in the working folder. This module alone
tells them apart and reads either.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterable


def is_file_source(source: str | Path) -> bool:
    """Whether a params or task setting names a YAML file (else: a shipped preset's name)."""
    return isinstance(source, Path) or str(source).endswith((".yaml", ".yml"))


def shipped_names(package: str) -> tuple[str, ...]:
    """The presets ``package`` ships, by name (their YAML files' stems), sorted."""
    from importlib import resources

    return tuple(sorted(entry.name.removesuffix(".yaml") for entry in resources.files(package).iterdir()
                        if entry.name.endswith(".yaml")))


def shipped_name(source: str | Path, package: str) -> str | None:
    """The shipped preset of ``package`` that ``source`` names (by name, or by a bare file name
    that is no file in the working folder), else None: a path to a user's file."""
    text = str(source)
    if not is_file_source(source):
        return text if text in shipped_names(package) else None
    path = Path(text)
    if path.name != text or path.exists():  # a path with a folder, or a file that is there
        return None
    stem = path.name.removesuffix(".yaml")
    return stem if stem in shipped_names(package) else None


def read_source(source: str | Path, package: str, kind: str, names: Iterable[str]) -> tuple[str, str]:
    """(text, where) of a shipped preset of ``package`` by name, or of a user's YAML file."""
    from importlib import resources

    name = shipped_name(source, package)
    if name is not None:
        return resources.files(package).joinpath(f"{name}.yaml").read_text(encoding="utf-8"), f"{kind} {name}"
    if not is_file_source(source):
        raise ValueError(f"no {kind} {source!r}; the shipped ones are {', '.join(names)}, "
                         "or give a path to a .yaml file")
    path = Path(source)
    if not path.is_file():
        raise ValueError(f"{path}: {kind} file does not exist")
    return path.read_text(encoding="utf-8"), str(path)
