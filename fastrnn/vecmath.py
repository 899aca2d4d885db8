"""Branch-free exp, tanh, sigmoid and 1/sqrt over arrays, float64 and float32, that LLVM
vectorises.

Why: without Intel's SVML (not a dependency), Numba's np.exp / np.tanh become one libm call per element,
which blocks SIMD; tanh over the hidden state and exp over the softmax are then a large part
of an update. These loops use only +, *, floor, min/max, selects and integer shifts, so they
vectorise, and they are accurate to ~2 ulp (tests compare them with NumPy's exp and tanh):

- exp(x) = 2^k * exp(r), k = round(x / ln 2), r = x - k ln 2 (Cody-Waite split of ln 2), exp(r)
  = 1 + expm1(r), expm1 a Taylor polynomial on |r| <= ln2/2 (degree 13 in float64, 7 in
  float32), and 2^k built from its exponent bits by a bitcast in registers.
- tanh(|x|) = -e / (2 + e) with e = expm1(-2|x|) = 2^k expm1(r) + (2^k - 1): one polynomial,
  and for small |x| (k = 0) e = expm1(r) keeps full relative precision, so there is no
  cancellation and no second branch.

Why the loops are shaped as they are:
- The polynomial uses Estrin's scheme (depth 4 instead of Horner's 12): LLVM does not
  interleave the vectorised loop, so a 12-deep FMA chain would make it latency-bound.
- exp works in place on one array: with separate in/out arguments LLVM adds a runtime
  overlap check, and the in-place call then always took the scalar loop.
- sigmoid(x) = 1 / (1 + exp(-x)), not 1/2 + 1/2 tanh(x/2): ~40% less time per value (the
  gates of an LSTM are mostly sigmoids; bench/profile_cells.py times both) and accurate
  relative to its value where it is small: the tanh form cancels to 0 for x below ~-17 in
  float32, and to a few correct bits well before.
- The scalar forms _exp / _tanh / _sigmoid are inlined at Numba's IR level, so a kernel can
  fuse them into its own loops (the LSTM's gates): one pass over memory, not one per function.

One generic body serves both dtypes: constants are cast to the array's dtype (x.dtype.type),
and `_is64` is a constant LLVM folds, so float32 code stays in float32 lanes. (Per-dtype
copies dispatched by numba's overload cost ~0.5 s more of cold-start compile.)
The range reduction must not be reassociated, so these use only FMA contraction.
"""
from __future__ import annotations

import math

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.core.typing import signature
from numba.extending import intrinsic

_OPTS = {"fastmath": {"contract"}, "error_model": "numpy"}
_INLINE = dict(_OPTS, inline="always")

_LOG2E = 1.4426950408889634
# ln 2 = hi + lo with hi short enough that k * hi is exact (float64: fdlibm's, float32: Cephes')
_LN2_HI, _LN2_LO = 6.93147180369123816490e-01, 1.90821492927058770002e-10
_F_LN2_HI, _F_LN2_LO = 0.693359375, -2.12194440e-4
_EXPM1 = tuple(1.0 / math.factorial(k) for k in range(2, 14))     # 1/2! .. 1/13!


@intrinsic
def _is64(typingctx, x):
    """True for a float64 array or scalar x: a constant of the compiled code."""
    dtype = x.dtype if isinstance(x, types.Array) else x

    def codegen(context, builder, sig, args):
        return context.get_constant(types.boolean, dtype == types.float64)
    return signature(types.boolean, x), codegen


@intrinsic
def _like(typingctx, x, c):
    """The number c converted to the type of the scalar x (a constant when c is one).

    The scalar forms below take their dtype from their argument this way, not from an array
    passed along: an array argument of a function inlined into a loop brings reference-count
    calls that stop LLVM from vectorising the loop."""
    def codegen(context, builder, sig, args):
        return context.cast(builder, args[1], sig.args[1], sig.args[0])
    return signature(x, x, c), codegen


@njit(**_INLINE)
def _smallest_normal(x):
    """The smallest positive normal number of x's dtype (below it lie the slow denormals)."""
    return x.dtype.type(2.2250738585072014e-308 if _is64(x) else 1.1754943508222875e-38)


@njit(**_INLINE)
def _constants(x):
    """(log2 e, ln2 hi, ln2 lo, exp's clamp, tanh's clamp, expm1 coefficients) in the type of
    the scalar x. The clamps keep 2^k a normal number; tanh is exactly +-1 beyond its clamp in
    that dtype."""
    is64 = _is64(x)
    E = _EXPM1
    return (_like(x, _LOG2E), _like(x, _LN2_HI if is64 else _F_LN2_HI),
            _like(x, _LN2_LO if is64 else _F_LN2_LO), _like(x, 708.0 if is64 else 87.0),
            _like(x, 20.0 if is64 else 9.0),
            (_like(x, E[0]), _like(x, E[1]), _like(x, E[2]), _like(x, E[3]), _like(x, E[4]),
             _like(x, E[5]), _like(x, E[6]), _like(x, E[7]), _like(x, E[8]), _like(x, E[9]),
             _like(x, E[10]), _like(x, E[11])))


@njit(**_INLINE)
def _reduce(x, log2e, hi, lo, half):
    """k = round(x / ln 2) and r = x - k ln 2, |r| <= ln2/2 (x already clamped)."""
    k = np.floor(x * log2e + half)
    return k, (x - k * hi) - k * lo


@njit(**_INLINE)
def _expm1_poly(r, E):
    """expm1(r) on |r| <= ln2/2: r + r^2 (1/2! + ... + r^11/13!), Estrin's scheme."""
    r2 = r * r
    r4 = r2 * r2
    b0 = (E[0] + E[1] * r) + (E[2] + E[3] * r) * r2
    b1 = (E[4] + E[5] * r) + (E[6] + E[7] * r) * r2
    b2 = (E[8] + E[9] * r) + (E[10] + E[11] * r) * r2
    return r + ((b0 + (b1 + b2 * r4) * r4) * r2)


@intrinsic
def _float_from_bits(typingctx, i):
    """The float whose bits are the integer i: int32 -> float32, int64 -> float64 (a
    bitcast, free in registers; a store and reload through memory would cost a pass)."""
    if i == types.int32:
        ty = ir.FloatType()
    elif i == types.int64:
        ty = ir.DoubleType()
    else:
        return None
    out = types.float32 if i == types.int32 else types.float64

    def codegen(context, builder, sig, args):
        return builder.bitcast(args[0], ty)
    return signature(out, i), codegen


@njit(**_INLINE)
def _pow2(k, x):
    """2^k in the type of the scalar x, for an integral-valued k with 2^k normal, built from its
    exponent bits. Both branches convert to x's type so the function has one return type."""
    if _is64(x):
        return _like(x, _float_from_bits((np.int64(k) + np.int64(1023)) << np.int64(52)))
    return _like(x, _float_from_bits(np.int32((np.int32(k) + np.int32(127)) << np.int32(23))))


@njit(**_INLINE)
def _expm1(r, E):
    """expm1(r) on |r| <= ln2/2: degree 13 in float64, degree 7 in float32 (r^8/8! < 2^-24 r
    there: more terms change nothing a float32 can hold)."""
    if _is64(r):
        return _expm1_poly(r, E)
    r2 = r * r
    b0 = (E[0] + E[1] * r) + (E[2] + E[3] * r) * r2
    return r + (b0 + (E[4] + E[5] * r) * (r2 * r2)) * r2


@njit(**_INLINE)
def _exp(x):
    """exp(x) for a float32/float64 scalar, x clamped to +-exp's clamp. Inline: a loop
    calling it vectorises."""
    log2e, hi, lo, lim, _, E = _constants(x)
    k, r = _reduce(min(max(x, -lim), lim), log2e, hi, lo, _like(x, 0.5))
    return (_like(x, 1.0) + _expm1(r, E)) * _pow2(k, x)     # 2^k scales exactly


@njit(**_INLINE)
def _tanh(x):
    """tanh(x) for a float32/float64 scalar (inline: a loop calling it vectorises)."""
    log2e, hi, lo, _, lim, E = _constants(x)
    two = _like(x, 2.0)
    k, r = _reduce(-two * min(abs(x), lim), log2e, hi, lo, _like(x, 0.5))
    s = _pow2(k, x)
    e = s * _expm1(r, E) + (s - _like(x, 1.0))          # expm1(-2|x|), exact scaling
    t = -e / (two + e)
    return t if x >= 0 else -t


@njit(**_INLINE)
def _sigmoid(x):
    """1 / (1 + exp(-x)) for a float32/float64 scalar: within ~3 ulp of its value everywhere
    (exp's clamp keeps it a normal number, >= ~1.6e-38 in float32). Inline, as _tanh."""
    one = _like(x, 1.0)
    return one / (one + _exp(-x))


@njit(**_OPTS)
def _vexp(x):
    """x[i] = exp(x[i]) in place."""
    for i in range(x.size):
        x[i] = _exp(x[i])


@njit(**_OPTS)
def _vtanh(x, out):
    """out[i] = tanh(x[i])."""
    for i in range(x.size):
        out[i] = _tanh(x[i])


@njit(**_INLINE)
def _rsqrt(x, like):
    """1 / sqrt(x) for x > 0, in the dtype of the array `like`.

    float64: a float32 estimate refined by two Newton steps: within 2 ulp of the correctly
    rounded value (tests check it) and 1.6x faster than float64 sqrt + divide, which share one
    slow unit and made AdaGrad ~20% of an update. x must be a normal float32 too (AdaGrad's
    G + eps lies in [1e-8, 25 * updates]). float32: plain 1 / sqrt."""
    T = like.dtype.type
    y = np.float64(np.float32(1.0) / np.sqrt(np.float32(x)))
    if _is64(like):
        y = y * (1.5 - 0.5 * x * y * y)
        y = y * (1.5 - 0.5 * x * y * y)
    return T(y)


@njit(cache=True, **_OPTS)
def vexp(x, out):
    """Compiled entry for tests: out = exp(x)."""
    out[:] = x
    _vexp(out)


@njit(cache=True, **_OPTS)
def vtanh(x, out):
    """Compiled entry for tests: out = tanh(x)."""
    _vtanh(x, out)


@njit(cache=True, **_OPTS)
def vsigmoid(x, out):
    """Compiled entry for tests: out = 1 / (1 + exp(-x))."""
    for i in range(x.size):
        out[i] = _sigmoid(x[i])


@njit(cache=True, **_OPTS)
def rsqrt(x, out):
    """Compiled entry for tests: out = 1 / sqrt(x)."""
    for i in range(x.size):
        out[i] = _rsqrt(x[i], out)
