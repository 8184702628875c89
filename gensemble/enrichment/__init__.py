"""StyleGAN forecasts: a real ensemble enlarged by latent inversion and perturbation.

Each of the M members of a forecast is inverted into the generator's W+ space
(:mod:`.invert`), then N members are drawn around them (:mod:`.perturb`), with mixing and
perturbation weights that :mod:`.calibrate` learns over past dates.  Everything goes
through the :class:`~gensemble.api.capabilities.LatentAccess` capability: no plugin is
imported here.
"""
