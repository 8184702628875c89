"""Optional capabilities of a model, declared by inheritance and asked for with :func:`require`.

* :class:`Transferable`: the model describes its layers so a checkpoint trained on one
  domain can start a run on another (variables mapped by name, grid-size-dependent
  layers re-created, named layer groups for freezing strategies).
* :class:`LatentAccess`: the generator's latent spaces are reachable, which GAN
  inversion and ensemble enrichment need (map z to W+, the mean w, one style row per
  layer with its resolution, synthesis from W+ with given noise).
* :class:`Truncatable`: sampling can be pulled towards the centre of the latent space
  (the truncation trick of style-based GANs).
* :class:`InputTransform`: the generator's input can be translated (equivariance metric).
* :class:`StaticConditioned`: the model takes the domain's static fields.
* :class:`ConditionalSampling`: the model draws members of one forecast given K seed
  members of it (:mod:`gensemble.api.conditional` holds the contract and its batches).

Code that needs a capability calls ``require(model, LatentAccess, "enrichment")`` and a
model without it is refused in one line naming the architecture and the purpose.
"""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, TypeVar

import torch

from gensemble.core.errors import UserError

LOG = logging.getLogger(__name__)

T = TypeVar("T")

#: how ``LatentAccess.synthesize`` gets its noise inputs when no tensors are given
#: (``const``: noise maps stored with the weights, where the architecture keeps them)
NoiseMode = Literal["random", "zero", "const"]


@dataclass(frozen=True)
class ChannelLayer:
    """A parameter whose dimension ``dim`` runs over the domain's variables.

    ``fan_in`` is set when that dimension is the layer's fan-in under an equalised
    learning rate (weights scaled by 1/sqrt(fan_in) at run time): transferred weights
    are then rescaled so each kept variable contributes exactly as before.
    """

    dim: int
    fan_in: bool = False


class Transferable(ABC):
    """A model whose checkpoint can initialise the same architecture on another domain."""

    @abstractmethod
    def channel_layers(self) -> dict[str, ChannelLayer]:
        """Parameters with one slice per domain variable (name -> :class:`ChannelLayer`)."""

    @abstractmethod
    def size_dependent(self) -> list[str]:
        """Parameter-name prefixes whose shape depends on the grid size (re-created on
        transfer when the target grid differs)."""

    @abstractmethod
    def layer_groups(self) -> dict[str, list[str]]:
        """Named groups of parameter-name prefixes for freezing strategies.

        Group names are what ``init.freeze`` lists; numbered groups (``g_block0``,
        ``g_block1``...) can be asked for by count (``g_block:2``).
        """

    def transfer_key(self, name: str) -> str:
        """A grid-size-independent name for parameter ``name`` (default: the name).

        Layers indexed from the fine end of a network change index when the number of
        resolution levels changes; a key such as ``D.level3.conv0.weight`` lets a
        256x256 checkpoint feed a 128x192 model level by level.
        """
        return name


class LatentAccess(ABC):
    """A style-based generator whose W+ space can be used directly (inversion)."""

    z_dim: int
    w_dim: int

    @abstractmethod
    def num_styles(self) -> int:
        """Rows of a W+ code: one per layer that takes a style."""

    @abstractmethod
    def style_levels(self) -> list[tuple[int, int]]:
        """(height, width) of the feature map each W+ row modulates, coarsest first."""

    @abstractmethod
    def map_z(self, z: torch.Tensor, truncation: float = 1.0) -> torch.Tensor:
        """W+ codes (n, num_styles, w_dim) of latent draws z (n, z_dim)."""

    @abstractmethod
    def noise_shapes(self) -> list[tuple[int, int]]:
        """(height, width) of each per-layer noise input, in synthesis order."""

    @abstractmethod
    def synthesize(
        self,
        ws: torch.Tensor,
        noise: Sequence[torch.Tensor] | NoiseMode = "zero",
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """Normalised fields (n, C, H, W) from W+ codes with given or drawn noise maps."""

    @torch.no_grad()
    def draw_w(self, n_draws: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """w (n_draws, w_dim) of seeded latent draws, 1000 at a time, float64 on the CPU."""
        gen = generator or torch.Generator().manual_seed(0)
        device = next(iter(self.parameters())).device  # type: ignore[attr-defined]
        parts = []
        for start in range(0, n_draws, 1000):
            z = torch.randn(min(1000, n_draws - start), self.z_dim, generator=gen).to(device)
            parts.append(self.map_z(z)[:, 0].double().cpu())
        return torch.cat(parts)

    def mean_w(
        self, n_draws: int = 10_000, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        """The mean of w over many latent draws (the start of an inversion), (w_dim,)."""
        return self.draw_w(n_draws, generator).mean(0).float()

    def w_center(self) -> torch.Tensor:
        """The centre truncation pulls W+ codes towards, (w_dim,); default the mean w."""
        return self.mean_w()

    def set_w_center(self, w: torch.Tensor) -> None:
        """Make ``w`` (w_dim,) the truncation centre, where the model keeps one."""
        raise NotImplementedError(f"{type(self).__name__} keeps no truncation centre")


class Truncatable(ABC):
    """A generator whose samples can be truncated: latents pulled towards their centre by
    a factor psi (1: plain sampling), trading diversity for typicality."""

    @abstractmethod
    def sample_truncated(
        self,
        n: int,
        generator: torch.Generator,
        device: torch.device | str = "cpu",
        truncation: float = 1.0,
    ) -> torch.Tensor:
        """n normalised fields (n, C, H, W) drawn with truncation psi; psi = 1 draws what
        ``sample`` draws."""


class InputTransform(ABC):
    """A generator whose input can be translated, so that translating the input can be
    compared with translating the output (the equivariance metric EQ-T)."""

    @abstractmethod
    def synthesize_shifted(self, ws: torch.Tensor, dx_px: float, dy_px: float) -> torch.Tensor:
        """Normalised fields from W+ codes with the input translated by (dx, dy) output
        pixels (content moves towards +x, +y)."""


class StaticConditioned(ABC):
    """A model that takes the domain's static fields (orography, land-sea mask) as input.
    The training setup hands them over from the store; they are kept with the weights."""

    @abstractmethod
    def static_fields_used(self) -> tuple[str, ...]:
        """Names of the static fields it needs (empty: conditioning off)."""

    @abstractmethod
    def set_static_fields(self, fields: dict) -> None:
        """The store's static fields (name -> (H, W) array)."""


from gensemble.api.conditional import ConditionalSampling  # noqa: E402

_NAMES: dict[type, str] = {
    Transferable: "transfer",
    LatentAccess: "latent access",
    Truncatable: "truncation",
    InputTransform: "input transform",
    StaticConditioned: "static conditioning",
    ConditionalSampling: "conditional sampling",
}


def capabilities_of(model: object) -> list[str]:
    """Names of the capabilities a model declares (for listings and refusals)."""
    return [name for cls, name in _NAMES.items() if isinstance(model, cls)]


def require(model: object, capability: type[T], purpose: str) -> T:
    """``model`` as a ``capability``, or a one-line refusal naming what is missing."""
    if isinstance(model, capability):
        return model
    arch = getattr(model, "architecture", type(model).__name__)
    have = ", ".join(capabilities_of(model)) or "none"
    raise UserError(
        f"architecture {arch!r} does not support {_NAMES.get(capability, capability.__name__)}, "
        f"which {purpose} needs (its capabilities: {have})"
    )
