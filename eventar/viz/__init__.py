"""Pictures of recordings, representations and training runs (matplotlib, headless)."""
