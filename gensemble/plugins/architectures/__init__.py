"""Built-in architecture plugins, registered through the ``gensemble`` entry point."""

from gensemble.core.hookspecs import hookimpl


@hookimpl
def gensemble_architectures() -> list[type]:
    from gensemble.plugins.architectures.stylegan2.plugin import StyleGAN2

    return [StyleGAN2]
