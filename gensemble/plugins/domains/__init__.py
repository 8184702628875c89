"""Built-in domain plugins: one module per family, each its own entry point."""
