"""The vectorised exp, tanh, sigmoid and 1/sqrt of fastrnn.vecmath against NumPy's, in ulps."""
from __future__ import annotations

import numpy as np
import pytest

from fastrnn.vecmath import rsqrt, vexp, vsigmoid, vtanh


def inputs(dtype, lo, hi):
    rng = np.random.default_rng(0)
    tiny = 10.0 ** rng.uniform(-12, 0, 5000) * rng.choice([-1, 1], 5000)
    return np.concatenate([rng.uniform(lo, hi, 50000), rng.uniform(-1, 1, 20000), tiny,
                           [0.0, 0.17328, 0.17329, 0.34657, 0.34658]]).astype(dtype)


def ulps(got, want, dtype):
    """|got - want| in units of dtype's epsilon relative to |want| (want nonzero)."""
    return np.abs(got - want) / (np.abs(want) * np.finfo(dtype).eps)


# exp's clamp: beyond it 2^k would not be a normal number (vecmath._constants)
CLAMP = {np.float64: 708.0, np.float32: 87.0}


@pytest.mark.parametrize("dtype,max_ulps", [(np.float64, 2.0), (np.float32, 2.0)])
def test_exp_within_ulps(dtype, max_ulps):
    lim = CLAMP[dtype]
    x = np.concatenate([inputs(dtype, -80, 10), inputs(dtype, -lim, lim)[:50000],
                        np.array([-lim, lim], dtype)])
    out = np.empty_like(x)
    vexp(x, out)
    err = ulps(out, np.exp(x.astype(np.float64)), dtype)
    assert err.max() <= max_ulps, err.max()


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_exp_saturates_beyond_its_clamp(dtype):
    """Past +-clamp exp returns exp(+-clamp): finite and normal, never inf, 0 or a denormal
    (the softmax only feeds it x <= 0, where exp(-clamp) instead of ~0 changes nothing)."""
    lim = CLAMP[dtype]
    x = np.array([-lim, -lim - 0.5, -lim - 30, -1e30, -np.inf,
                  lim, lim + 0.5, lim + 30, 1e30, np.inf], dtype)
    out = np.empty_like(x)
    vexp(x, out)
    assert np.all(out[:5] == out[0]) and np.all(out[5:] == out[5])
    assert np.all(np.isfinite(out)) and out[0] >= np.finfo(dtype).tiny


@pytest.mark.parametrize("dtype,max_ulps", [(np.float64, 3.0), (np.float32, 2.0)])
def test_tanh_within_ulps_including_small_arguments(dtype, max_ulps):
    x = inputs(dtype, -25, 25)
    out = np.empty_like(x)
    vtanh(x, out)
    want = np.tanh(x.astype(np.float64))
    nz = want != 0
    err = ulps(out[nz], want[nz], dtype)
    assert err.max() <= max_ulps, err.max()
    assert np.all(np.sign(out[nz]) == np.sign(want[nz]))
    assert np.all(np.abs(out) <= 1)


@pytest.mark.parametrize("dtype,max_ulps", [(np.float64, 3.0), (np.float32, 3.0)])
def test_sigmoid_within_ulps_where_it_is_small_too(dtype, max_ulps):
    """sigmoid relative to its own value over the range the gates see, down to exp's clamp:
    1/2 + 1/2 tanh(x/2), the form the cells used before, is 0 in float32 below x ~ -17."""
    lim = CLAMP[dtype]
    x = np.concatenate([inputs(dtype, -lim, 40), inputs(dtype, -30, 30)])
    out = np.empty_like(x)
    vsigmoid(x, out)
    xd = x.astype(np.float64)
    want = 1.0 / (1.0 + np.exp(-xd))
    err = ulps(out, want, dtype)
    assert err.max() <= max_ulps, (err.max(), x[np.argmax(err)])
    assert np.all(out > 0) and np.all(out <= 1)
    assert np.all(out[x >= 0] >= 0.5) and np.all(out[x < 0] <= 0.5)


def test_rsqrt_within_ulps_over_adagrads_range():
    """The AdaGrad step's 1/sqrt(G + eps): G + eps runs from eps = 1e-8 up to 25 per update."""
    rng = np.random.default_rng(0)
    x = np.concatenate([10.0 ** rng.uniform(-8, 8, 100000), [1e-8, 0.5, 1.0, 2.0, 4.0, 2.5e7]])
    for dtype, max_ulps in ((np.float64, 1.5), (np.float32, 1.0)):
        xd = x.astype(dtype)
        out = np.empty_like(xd)
        rsqrt(xd, out)
        err = ulps(out, 1 / np.sqrt(xd.astype(np.longdouble)), dtype)
        assert err.max() <= max_ulps, (dtype, err.max())
