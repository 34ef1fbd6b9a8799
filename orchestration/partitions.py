"""Partitions: patients (dynamic, added as cases arrive), rings (the settings' rings), tasks.

The ring dimension is built from the project settings, so the UI's patient x ring grid shows
exactly the rings a run computes. Its keys are ``Ring.key`` (radiomics_core.settings).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

import dagster as dg

from radiomics_core.settings import Ring
from radiomics_core.tasks.config import TASK_PRESETS

patients_partitions = dg.DynamicPartitionsDefinition(name="patients")


def task_partitions(tasks: Iterable[str]) -> dg.StaticPartitionsDefinition:
    """The settings' tasks (already validated), in the presets' order."""
    return dg.StaticPartitionsDefinition([t for t in TASK_PRESETS if t in set(tasks)])


@dataclass(frozen=True)
class RingPartitions:
    """The ring dimension and the patient x ring grid for one set of rings."""

    rings: dg.StaticPartitionsDefinition
    patient_rings: dg.MultiPartitionsDefinition

    @property
    def keys(self) -> list[str]:
        return self.rings.get_partition_keys()


def ring_partitions(rings: Iterable[Ring]) -> RingPartitions:
    dimension = dg.StaticPartitionsDefinition([ring.key for ring in rings])
    return RingPartitions(dimension, dg.MultiPartitionsDefinition({"patient": patients_partitions, "ring": dimension}))


def patient_and_ring(key: str | dg.MultiPartitionKey) -> tuple[str, Ring]:
    """The patient and the ring of a patient x ring partition key."""
    dimensions = key.keys_by_dimension if isinstance(key, dg.MultiPartitionKey) else dict(
        zip(("patient", "ring"), str(key).split("|")))  # Dagster joins the dimensions in name order
    return dimensions["patient"], Ring.from_key(dimensions["ring"])


def patient_ring_key(patient_id: str, ring: Ring) -> dg.MultiPartitionKey:
    return dg.MultiPartitionKey({"patient": patient_id, "ring": ring.key})
