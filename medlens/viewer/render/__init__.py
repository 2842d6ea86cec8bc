"""MedLens."""
