"""Built-in raw-file readers (netCDF, GRIB, the prototype's npy index): one module per format,
each its own entry point, so a partner adds a format the same way."""
