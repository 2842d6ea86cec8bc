"""The image model, study readers/writers and the VTK pipelines that draw them (no Qt here)."""
