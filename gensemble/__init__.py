"""gensemble: generative emulators of kilometre-scale weather ensembles."""

# pyproj must be loaded before eccodes (pulled in by cfgrib, also through xarray's backend
# discovery): the two wheels bundle clashing native libraries and the reverse order aborts
# the interpreter at exit ("free(): invalid pointer"), turning exit codes into 134.
# sqlite3 must be bound before eccodes too: eckitlib bundles SQLite 3.26 and exports its
# symbols globally, so a later sqlite3 import would report 3.26 and MLflow (>= 3.31) refuses.
import sqlite3 as _sqlite3  # noqa: F401, E402

import pyproj as _pyproj  # noqa: F401

__version__ = "0.1.0"
