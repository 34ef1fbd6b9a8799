"""Partitions: patients (dynamic, added as cases arrive), rings (static), tasks (static)."""

import dagster as dg

from radiomics_core.rings import DEFAULT_RINGS_MM

VOI_T_KEY = "T"
RING_KEYS = [VOI_T_KEY] + [f"{d:g}" for d in DEFAULT_RINGS_MM]

patients_partitions = dg.DynamicPartitionsDefinition(name="patients")
rings_partitions = dg.StaticPartitionsDefinition(RING_KEYS)
patient_ring_partitions = dg.MultiPartitionsDefinition({"patient": patients_partitions, "ring": rings_partitions})
tasks_partitions = dg.StaticPartitionsDefinition(["grade", "mgmt"])


def ring_mm(ring_key: str) -> float:
    """0 for VOI_T, otherwise the ring's distance in mm."""
    return 0.0 if ring_key == VOI_T_KEY else float(ring_key)


def ring_key(ring_mm_value: float) -> str:
    return VOI_T_KEY if ring_mm_value == 0 else f"{ring_mm_value:g}"
