"""StyleGAN3-style alias-free architecture plugin (Karras et al. 2021), written from the
paper, with Triton kernels tested against exact references."""

import logging

from gensemble.api.hooks import hookimpl

LOG = logging.getLogger(__name__)


@hookimpl
def gensemble_architectures() -> list[type]:
    from gensemble.plugins.architectures.stylegan3.plugin import StyleGAN3

    return [StyleGAN3]
