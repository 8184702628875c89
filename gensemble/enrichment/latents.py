"""Latent statistics: the prior W distribution, an ensemble's own latent covariance per
style row, and whitening with a floor.

The ensemble covariance is computed per style row r over the members, i.e. from the
(M, D) matrix ws[:, r, :] - one row of every member - never from a reshape that mixes
members and rows (the reference code's ``view`` bug).  It has rank at most M - 1, so it is
kept as M - 1 principal directions with their variances.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import torch

from gensemble.api.capabilities import LatentAccess
from gensemble.core.errors import UserError

LOG = logging.getLogger(__name__)


@dataclass
class RowCovariance:
    """Principal directions (S, K, D) and variances (S, K) of each style row, K <= M - 1."""

    directions: torch.Tensor
    variances: torch.Tensor

    def sample(self, n: int, generator: torch.Generator) -> torch.Tensor:
        """n draws (n, S, D) from N(0, C_r) for every row r."""
        s, k, _ = self.directions.shape
        xi = torch.randn(n, s, k, generator=generator, dtype=torch.float64)
        scaled = xi * self.variances.sqrt()[None]
        return torch.einsum("nsk,skd->nsd", scaled, self.directions)

    def matrix(self, row: int) -> torch.Tensor:
        """The (D, D) covariance of one row."""
        v = self.directions[row]
        return v.t() @ (self.variances[row][:, None] * v)


def ensemble_covariance(ws: torch.Tensor, floor: float = 0.0) -> RowCovariance:
    """Per-row covariance of M latent codes ws (M, S, D), truncated to M - 1 components.

    ``floor`` (relative to each row's largest variance) lifts tiny variances so no kept
    direction is numerically degenerate; 0 keeps the sample covariance exactly.
    """
    m = ws.shape[0]
    if m < 2:
        raise UserError("an ensemble covariance needs at least 2 members")
    x = ws.double().transpose(0, 1)  # (S, M, D): the members of one row together
    centred = x - x.mean(dim=1, keepdim=True)
    _, sing, vh = torch.linalg.svd(centred, full_matrices=False)  # vh (S, min(M, D), D)
    k = min(m - 1, vh.shape[1])
    variances = sing[:, :k].square() / (m - 1)
    if floor > 0:
        variances = torch.maximum(variances, floor * variances[:, :1])
    return RowCovariance(vh[:, :k], variances)


@dataclass
class Whitener:
    """x -> (x - mean) W with W = C^-1/2, eigenvalues floored at ``floor`` x the largest."""

    mean: torch.Tensor
    eigvecs: torch.Tensor
    eigvals: torch.Tensor

    @classmethod
    def fit(cls, samples: torch.Tensor, floor: float = 1e-6) -> Whitener:
        x = samples.double()
        mean = x.mean(0)
        cov = torch.cov((x - mean).t())
        vals, vecs = torch.linalg.eigh(cov)
        vals = torch.maximum(vals, floor * vals.max())
        return cls(mean, vecs, vals)

    def whiten(self, x: torch.Tensor) -> torch.Tensor:
        return ((x.double() - self.mean) @ self.eigvecs) / self.eigvals.sqrt()

    def colour(self, z: torch.Tensor) -> torch.Tensor:
        return (z.double() * self.eigvals.sqrt()) @ self.eigvecs.t() + self.mean


@dataclass
class Prior:
    """The generator's W distribution, from many latent draws."""

    mean: torch.Tensor  # (D,)
    std: float  # sqrt(E ||w - mean||^2): the scale of the latent noise during inversion
    samples: torch.Tensor  # (n, D)


def prior(model: LatentAccess, n_draws: int = 10_000, seed: int = 0) -> Prior:
    """w statistics over ``n_draws`` draws of z (seeded; not the reference's 16)."""
    w = model.draw_w(n_draws, torch.Generator().manual_seed(seed))
    mean = w.mean(0)
    return Prior(mean, float((w - mean).square().sum(1).mean().sqrt()), w)
