"""The study's case sums accumulated over member chunks equal the sums of the whole
ensemble, and no read asks for more than one chunk."""

from __future__ import annotations

import numpy as np
import pytest

from gensemble.evaluation.member_sums import chunked_case_sums
from gensemble.study.scores import case_sums

VARIABLES = ["rr", "t2m"]
THRESHOLDS = {"rr": {"q90": 2.0, "q99": 5.0}, "t2m": {"q90": 1.5, "q99": 3.0}}
BASE = {v: {"q90": 0.1, "q99": 0.01} for v in VARIABLES}


def ensemble(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    ens = rng.gamma(0.5, 2.0, (n, 2, 12, 18)).astype(np.float32)
    truth = rng.gamma(0.5, 2.0, (2, 12, 18)).astype(np.float32)
    ens[:, 0][ens[:, 0] < 0.6] = 0  # dry points: ties with a dry truth
    truth[0][truth[0] < 0.6] = 0
    ens[:, 1] = rng.normal(0, 1, (n, 12, 18))
    return ens, truth


@pytest.mark.parametrize("chunk", [13, 5, 4, 1])
def test_chunked_sums_equal_the_whole_ensemble_sums(chunk: int) -> None:
    n = 13
    ens, truth = ensemble(n)
    asked = []

    def read(a: int, b: int) -> np.ndarray:
        asked.append(b - a)
        return ens[a:b]

    got = chunked_case_sums(read, n, chunk, truth, VARIABLES, THRESHOLDS, BASE, 3, 11)
    assert max(asked) <= chunk
    chunks = -(-n // chunk)
    assert len(asked) == chunks + chunks * (chunks - 1) // 2  # once, then once per pair
    for c, var in enumerate(VARIABLES):
        want = case_sums(ens[:, c], truth[c], THRESHOLDS[var], BASE[var], 3, 11)
        assert set(got[var]) == set(want)
        for key, value in want.items():
            np.testing.assert_allclose(np.asarray(got[var][key], float),
                                       np.asarray(value, float), rtol=1e-6, atol=1e-9,
                                       err_msg=f"{var} {key}")  # fmt: skip
        # the same random split of ties: the rank histogram is exactly the same
        np.testing.assert_array_equal(got[var]["rank"], want["rank"])


def test_one_member_has_no_fair_crps() -> None:
    ens, truth = ensemble(1)
    got = chunked_case_sums(lambda a, b: ens[a:b], 1, 4, truth, VARIABLES, THRESHOLDS, BASE, 3, 0)
    assert np.isnan(got["rr"]["crps_fair"]) and np.isfinite(got["rr"]["crps"])
    with pytest.raises(ValueError):
        chunked_case_sums(lambda a, b: ens[a:b], 0, 4, truth, VARIABLES, THRESHOLDS, BASE, 3, 0)
