"""Conventions of the Météo-France prototype's data, shared by its readers and importers.

The prototype's samples and statistics files hold variables in one fixed order (its
``var_dict``); gensemble's names are given here, with the prototype's own spellings as
aliases.
"""

from __future__ import annotations

import logging

from gensemble.core.errors import UserError

LOG = logging.getLogger(__name__)

#: channel order of the prototype's .npy samples and stat arrays, in gensemble's names
PROTOTYPE_CHANNELS = ("rr", "u10", "v10", "t2m", "orog", "z500", "t850", "tpw850")
#: the prototype's spellings of gensemble names
PROTOTYPE_ALIASES = {"u": "u10", "v": "v10"}


def prototype_index(name: str) -> int:
    """Position of variable ``name`` in the prototype's arrays."""
    name = PROTOTYPE_ALIASES.get(name, name)
    if name not in PROTOTYPE_CHANNELS:
        known = ", ".join(PROTOTYPE_CHANNELS)
        raise UserError(f"variable {name!r} has no place in the prototype's arrays ({known})")
    return PROTOTYPE_CHANNELS.index(name)
