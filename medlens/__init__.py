"""MedLens: a desktop viewer for medical studies with local AI assist. Not for clinical use."""

__version__ = "0.1.0"
