"""Built-in architecture plugins: one package per architecture, each its own entry point."""
