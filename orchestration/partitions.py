"""Partitions: patients (dynamic, added as cases arrive), rings (the settings' rings), tasks.

The ring dimension is built from the project settings, so the UI's patient x ring grid shows
exactly the rings a run computes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

import dagster as dg

VOI_T_KEY = "T"
TASKS = ["grade", "mgmt"]

patients_partitions = dg.DynamicPartitionsDefinition(name="patients")


def task_partitions(tasks: Iterable[str]) -> dg.StaticPartitionsDefinition:
    """The settings' tasks, in the order of TASKS."""
    unknown = set(tasks) - set(TASKS)
    if unknown:
        raise ValueError(f"unknown tasks {sorted(unknown)}; tasks are {', '.join(TASKS)}")
    return dg.StaticPartitionsDefinition([t for t in TASKS if t in set(tasks)])


def ring_mm(ring_key: str) -> float:
    """0 for VOI_T, otherwise the ring's distance in mm."""
    return 0.0 if ring_key == VOI_T_KEY else float(ring_key)


def ring_key(ring_mm_value: float) -> str:
    return VOI_T_KEY if ring_mm_value == 0 else f"{ring_mm_value:g}"


def ring_keys(rings_mm: Iterable[float]) -> list[str]:
    """VOI_T then the rings in increasing distance."""
    return [VOI_T_KEY] + [ring_key(d) for d in sorted(set(float(v) for v in rings_mm)) if d > 0]


@dataclass(frozen=True)
class RingPartitions:
    """The ring dimension and the patient x ring grid for one set of rings."""

    rings: dg.StaticPartitionsDefinition
    patient_rings: dg.MultiPartitionsDefinition

    @property
    def keys(self) -> list[str]:
        return self.rings.get_partition_keys()


def ring_partitions(rings_mm: Iterable[float]) -> RingPartitions:
    rings = dg.StaticPartitionsDefinition(ring_keys(rings_mm))
    return RingPartitions(rings, dg.MultiPartitionsDefinition({"patient": patients_partitions, "ring": rings}))
