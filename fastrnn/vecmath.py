"""Branch-free exp and tanh over arrays, for float64 and float32, that LLVM can vectorise.

Why: this machine has no SVML, so Numba's np.exp / np.tanh become one libm call per element,
which blocks SIMD; tanh over the hidden state and exp over the softmax are then a large part
of an update. These loops use only +, *, floor, min/max, selects and integer shifts, so they
vectorise, and they are accurate to ~2 ulp (tests compare them with NumPy's exp and tanh):

- exp(x) = 2^k * exp(r), k = round(x / ln 2), r = x - k ln 2 (Cody-Waite split of ln 2), exp(r)
  a Taylor polynomial on |r| <= ln2/2 (degree 12 in float64, 7 in float32), 2^k built from its
  exponent bits in the caller-supplied integer array `bits` (nothing is allocated).
- tanh(x) = sign(x) (1 - t) / (1 + t), t = exp(-2|x|); for |x| < ln2/4 the cancellation in 1 - t
  is avoided with expm1's Taylor series, so small arguments keep full relative precision.

The public names _vexp and _vtanh are dispatched on the dtype at compile time (overload).
The range reduction must not be reassociated, so these use only FMA contraction.
"""
from __future__ import annotations

import math

import numpy as np
from numba import njit, types
from numba.extending import overload

_OPTS = {"fastmath": {"contract"}, "error_model": "numpy"}

# float64 constants
_LOG2E = 1.4426950408889634
_LN2_HI = 6.93147180369123816490e-01
_LN2_LO = 1.90821492927058770002e-10
_E = tuple(1.0 / math.factorial(k) for k in range(14))
E0, E1, E2, E3, E4, E5, E6, E7, E8, E9, E10, E11, E12, E13 = _E
# float32 constants (Cephes' split of ln 2); np.float32 globals stay float32 in Numba
F = np.float32
_F_LOG2E, _F_LN2_HI, _F_LN2_LO = F(1.44269504088896341), F(0.693359375), F(-2.12194440e-4)
_F_LO, _F_HI, _F_HALF, _F_ONE, _F_TWO = F(-87.0), F(87.0), F(0.5), F(1.0), F(2.0)
_F_TANH_MAX, _F_SMALL = F(9.0), F(0.17328679)
G0, G1, G2, G3, G4, G5, G6, G7, G8, G9 = (F(1.0 / math.factorial(k)) for k in range(10))


def _vexp(x, out, bits):
    """out[i] = exp(x[i]); bits is int64 (float64) or int32 (float32) scratch of x's size."""
    raise NotImplementedError("compiled only")


def _vtanh(x, out, bits):
    """out[i] = tanh(x[i]); out must not be x."""
    raise NotImplementedError("compiled only")


@njit(**_OPTS)
def _vexp64(x, out, bits):
    for i in range(x.size):
        xi = min(max(x[i], -708.0), 708.0)
        k = np.floor(xi * _LOG2E + 0.5)
        r = (xi - k * _LN2_HI) - k * _LN2_LO
        p = E12 * r + E11
        p = p * r + E10; p = p * r + E9; p = p * r + E8; p = p * r + E7     # noqa: E702
        p = p * r + E6; p = p * r + E5; p = p * r + E4; p = p * r + E3      # noqa: E702
        p = p * r + E2; p = p * r + E1; p = p * r + E0                      # noqa: E702
        out[i] = p
        bits[i] = (np.int64(k) + 1023) << 52
    scale = bits.view(np.float64)
    for i in range(x.size):
        out[i] *= scale[i]


@njit(**_OPTS)
def _vexp32(x, out, bits):
    for i in range(x.size):
        xi = min(max(x[i], _F_LO), _F_HI)
        k = np.floor(xi * _F_LOG2E + _F_HALF)
        r = (xi - k * _F_LN2_HI) - k * _F_LN2_LO
        p = G7 * r + G6
        p = p * r + G5; p = p * r + G4; p = p * r + G3; p = p * r + G2      # noqa: E702
        p = p * r + G1; p = p * r + G0                                      # noqa: E702
        out[i] = p
        bits[i] = (np.int32(k) + np.int32(127)) << np.int32(23)
    scale = bits.view(np.float32)
    for i in range(x.size):
        out[i] *= scale[i]


@njit(**_OPTS)
def _vtanh64(x, out, bits):
    for i in range(x.size):
        out[i] = -2.0 * min(abs(x[i]), 20.0)
    _vexp64(out, out, bits)
    for i in range(x.size):
        y = -2.0 * abs(x[i])
        # expm1(y) for small |y| by its Taylor series (no cancellation)
        q = E13 * y + E12
        q = q * y + E11; q = q * y + E10; q = q * y + E9; q = q * y + E8     # noqa: E702
        q = q * y + E7; q = q * y + E6; q = q * y + E5; q = q * y + E4      # noqa: E702
        q = q * y + E3; q = q * y + E2; q = q * y + E1                      # noqa: E702
        em1 = q * y
        t = out[i]
        small = y > -0.34657359027997264      # one division for both branches
        r = (-em1 if small else 1.0 - t) / ((2.0 + em1) if small else (1.0 + t))
        out[i] = r if x[i] >= 0.0 else -r


@njit(**_OPTS)
def _vtanh32(x, out, bits):
    for i in range(x.size):
        out[i] = -_F_TWO * min(abs(x[i]), _F_TANH_MAX)
    _vexp32(out, out, bits)
    for i in range(x.size):
        y = -_F_TWO * abs(x[i])
        q = G9 * y + G8
        q = q * y + G7; q = q * y + G6; q = q * y + G5; q = q * y + G4      # noqa: E702
        q = q * y + G3; q = q * y + G2; q = q * y + G1                      # noqa: E702
        em1 = q * y
        t = out[i]
        small = y > -_F_SMALL * _F_TWO
        r = (-em1 if small else _F_ONE - t) / ((_F_TWO + em1) if small else (_F_ONE + t))
        out[i] = r if x[i] >= 0 else -r


@overload(_vexp, jit_options=_OPTS)
def _vexp_dispatch(x, out, bits):
    return (lambda x, out, bits: _vexp32(x, out, bits)) if x.dtype == types.float32 else \
        (lambda x, out, bits: _vexp64(x, out, bits))


@overload(_vtanh, jit_options=_OPTS)
def _vtanh_dispatch(x, out, bits):
    return (lambda x, out, bits: _vtanh32(x, out, bits)) if x.dtype == types.float32 else \
        (lambda x, out, bits: _vtanh64(x, out, bits))


@njit(cache=True, **_OPTS)
def vexp(x, out, bits):
    """Compiled entry for tests: out = exp(x)."""
    _vexp(x, out, bits)


@njit(cache=True, **_OPTS)
def vtanh(x, out, bits):
    """Compiled entry for tests: out = tanh(x)."""
    _vtanh(x, out, bits)
