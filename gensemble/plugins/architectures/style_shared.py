"""What the style-based GAN models (stylegan2, stylegan3) do the same way, given a
generator ``G`` with its EMA copy ``G_ema`` (each with ``mapping.w_avg`` and
``ws_from_z``) and stylegan2's residual discriminator ``D``: the EMA step, the level
keys of D's blocks for transfer, and the W-space accessors of ``LatentAccess``."""

from __future__ import annotations

import torch

from gensemble.plugins.architectures.gan_losses import ema_beta, update_ema


class StyleGANShared:
    G: torch.nn.Module
    G_ema: torch.nn.Module
    D: torch.nn.Module
    options: object

    @torch.no_grad()
    def _update_ema(self, global_batch: int, step: int, w_mean: torch.Tensor) -> None:
        # the half-life ramps up with the images seen in this run (Karras et al. 2020a):
        # early on, and right after a transfer, G_ema follows G instead of its start
        o = self.options
        update_ema(self.G_ema, self.G, ema_beta(o.ema_kimg, o.ema_rampup, global_batch, step),
                   w_mean)  # fmt: skip

    def transfer_key(self, name: str) -> str:
        # D.blocks are numbered from the finest level; key them by the level they read
        # (generator layers are already numbered from the coarse end)
        prefix = "D.blocks."
        if name.startswith(prefix):
            index, rest = name[len(prefix) :].split(".", 1)
            return f"D.level{self.D.levels - int(index)}.{rest}"
        return name

    @property
    def z_dim(self) -> int:
        return self.G.z_dim

    @property
    def w_dim(self) -> int:
        return self.G.w_dim

    def map_z(self, z: torch.Tensor, truncation: float = 1.0) -> torch.Tensor:
        return self.G_ema.ws_from_z(z, truncation)

    def w_center(self) -> torch.Tensor:
        return self.G_ema.mapping.w_avg.detach().clone()  # what map_z truncates towards

    @torch.no_grad()
    def set_w_center(self, w: torch.Tensor) -> None:
        for g in (self.G, self.G_ema):
            g.mapping.w_avg.copy_(w.to(g.mapping.w_avg))
