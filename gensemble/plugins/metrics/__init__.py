"""Built-in metric plugins: one module per family, each its own entry point."""
