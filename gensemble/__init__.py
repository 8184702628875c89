"""gensemble: generative emulators of kilometre-scale weather ensembles."""

# pyproj must be loaded before eccodes (pulled in by cfgrib, also through xarray's backend
# discovery): the two wheels bundle clashing native libraries and the reverse order aborts
# the interpreter at exit ("free(): invalid pointer"), turning exit codes into 134.
import pyproj as _pyproj  # noqa: F401

__version__ = "0.1.0"
