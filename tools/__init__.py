"""Repository tools run with `python -m tools.<name>` (not shipped in the images)."""
