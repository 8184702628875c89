"""Controlled studies of StyleGAN forecasts: does an enlarged ensemble add skill, against
controls that isolate the generator (``gensemble study``)."""
