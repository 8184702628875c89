"""Generic training machinery: loop, checkpoints, distributed helpers (no plugin imports)."""
