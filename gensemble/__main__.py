"""``python -m gensemble`` (also what ``torchrun -m gensemble`` runs)."""

from gensemble.core.cli import main

if __name__ == "__main__":
    main()
