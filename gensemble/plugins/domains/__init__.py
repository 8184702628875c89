"""Built-in domain plugins, registered through the ``gensemble`` entry point."""

from gensemble.core.hookspecs import hookimpl


@hookimpl
def gensemble_domains() -> list[type]:
    from gensemble.plugins.domains.eurw1s40 import FranceExtended, SEFrance
    from gensemble.plugins.domains.nordic import Nordic

    return [SEFrance, FranceExtended, Nordic]
