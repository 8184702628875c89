"""A deliberately broken plugin module: its import fails (missing dependency)."""

import gensemble_dependency_that_does_not_exist  # noqa: F401
