"""Therapist exports: Kubios-readable RR text, CSV, a PDF progress report and a FHIR R4 bundle.

Entry point: :func:`exports.run.export` with an :class:`exports.dataset.ExportRange`.
"""
