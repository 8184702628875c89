"""Data layer: grids, readers, regridding, stores, synthetic ensembles, loaders."""
