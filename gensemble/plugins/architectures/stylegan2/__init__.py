"""StyleGAN2 architecture plugin (Karras et al. 2020), written from the papers."""

import logging

from gensemble.api.hooks import hookimpl

LOG = logging.getLogger(__name__)


@hookimpl
def gensemble_architectures() -> list[type]:
    from gensemble.plugins.architectures.stylegan2.conditional import ConditionalStyleGAN2
    from gensemble.plugins.architectures.stylegan2.plugin import StyleGAN2

    return [StyleGAN2, ConditionalStyleGAN2]
