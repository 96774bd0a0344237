"""The export formats, apart from their writers (so the CLI can list them without importing matplotlib)."""

from __future__ import annotations

from enum import StrEnum


class Format(StrEnum):
    KUBIOS = "kubios"
    CSV = "csv"
    PDF = "pdf"
    FHIR = "fhir"
