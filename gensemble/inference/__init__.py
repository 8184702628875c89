"""Using trained models without the training loop: checkpoint files and their typed,
versioned metadata, resolution of a checkpoint from a path, run id or ``models:/`` URI,
the loaded model in physical units, and writing generated members."""
