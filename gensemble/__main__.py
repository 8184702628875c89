"""``python -m gensemble`` (also what ``torchrun -m gensemble`` runs)."""

import logging

from gensemble.core.cli import main

LOG = logging.getLogger(__name__)

if __name__ == "__main__":
    main()
