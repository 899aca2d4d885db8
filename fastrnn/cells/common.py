"""The recurrent products every cell makes at each step, for one stream or a block of them.

With B streams the product of a step is a GEMM, (B, m) @ (m, G), and BLAS is the fastest way.
With one stream it is a mat-vec of a few hundred elements: the call into BLAS (argument checks,
dispatch, its own blocking) then costs as much as the arithmetic, so B = 1 takes hand-written
loops that LLVM vectorises, four rows of W per pass as in fastrnn.kernels:
- x @ W (W stored (n, G), row-major): row-axpys, out += x_i W_i for four i at a time: no
  horizontal sums, and a quarter of the loads and stores of out.
- W @ d: four row dot products at a time: four independent reductions per pass over d.
Both are plain cached functions (LLVM can inline them; Numba compiles each once per dtype).

`gemm` replaces np.dot(a, b, out) for matrices: Numba's np.dot compiles, at every call site,
shape checks whose error messages pull in string formatting (~6 s of a cold compile) and
gemv/dot branches for vector-shaped operands. gemm is the bare call of a CBLAS gemm, by a name
resolved when the code loads, so it caches: NumPy's own BLAS where fastrnn.blas finds it (faster
on the kernels' small products), else Numba's binding of SciPy's (numba_xxgemm, the function
np.dot ends in). Callers guarantee the shapes (fastrnn.network allocates every array).
"""
from __future__ import annotations

import numpy as np
from llvmlite import ir
from numba.core import cgutils, types
from numba.core.typing import signature
from numba.extending import intrinsic
from numba.np import linalg as _linalg

from .. import blas
from ..jit import jit, jit_inline


def _numpy_cblas_gemm(context, builder, a_type, a, b_type, b, out):
    """cblas_?gemm64_ of NumPy's BLAS (fastrnn.blas), row-major: out = op(a) @ op(b)."""
    dtype = np.dtype(a_type.dtype.name)
    fp = context.get_value_type(a_type.dtype)
    i32, i64 = ir.IntType(32), ir.IntType(64)
    ptr = ir.IntType(8).as_pointer()
    fnty = ir.FunctionType(ir.VoidType(), [i32, i32, i32, i64, i64, i64, fp, ptr, i64, ptr, i64,
                                           fp, ptr, i64])
    fn = cgutils.get_or_insert_function(builder.module, fnty, blas.SYMBOLS[dtype])
    M, K = cgutils.unpack_tuple(builder, a.shape)
    N = cgutils.unpack_tuple(builder, b.shape)[1]

    def operand(ty, arr, rows, cols):
        # a C array is used as stored; an F one is the transpose of a C array (rows x cols
        # seen, cols x rows stored): CBLAS transposes it, its leading dimension is `rows`
        if ty.layout == "C":
            return ir.Constant(i32, blas.NO_TRANS), cols, builder.bitcast(arr.data, ptr)
        return ir.Constant(i32, blas.TRANS), rows, builder.bitcast(arr.data, ptr)

    ta, lda, pa = operand(a_type, a, M, K)
    tb, ldb, pb = operand(b_type, b, K, N)
    builder.call(fn, [ir.Constant(i32, blas.ROW_MAJOR), ta, tb, M, N, K, ir.Constant(fp, 1.0),
                      pa, lda, pb, ldb, ir.Constant(fp, 0.0), builder.bitcast(out.data, ptr), N])


@intrinsic
def _gemm(typingctx, a, b, out):
    """out = a @ b, a (M, K), b (K, N), out (M, N) C-contiguous; a or b may be the transpose
    (layout F) of a C-contiguous array. NumPy's BLAS when fastrnn.blas finds it, else SciPy's
    through Numba's binding."""
    if a.layout not in "CF" or b.layout not in "CF" or out.layout != "C":
        raise TypeError(f"gemm: contiguous operands and a C-contiguous out, got {a}, {b}, {out}")

    def codegen(context, builder, sig, args):
        x = context.make_array(sig.args[0])(context, builder, args[0])
        y = context.make_array(sig.args[1])(context, builder, args[1])
        z = context.make_array(sig.args[2])(context, builder, args[2])
        if blas.available():
            _numpy_cblas_gemm(context, builder, sig.args[0], x, sig.args[1], y, z)
        else:
            _linalg.ensure_blas()
            _linalg.call_xxgemm(context, builder,
                                sig.args[0], cgutils.unpack_tuple(builder, x.shape), x.data,
                                sig.args[1], cgutils.unpack_tuple(builder, y.shape), y.data,
                                sig.args[2], cgutils.unpack_tuple(builder, z.shape), z.data)
        return context.get_dummy_value()

    return signature(types.none, a, b, out), codegen


@jit_inline
def gemm(a, b, out):
    """out = a @ b for 2-D arrays (see the module docstring): zeros when the inner dimension is
    0, as np.dot; nothing when out is empty."""
    if a.shape[0] > 0 and b.shape[1] > 0:
        if a.shape[1] > 0:
            _gemm(a, b, out)
        else:
            for i in range(out.shape[0]):
                for j in range(out.shape[1]):
                    out[i, j] = 0.0


@jit
def vec_mat(x, W, out):
    """out = x @ W for x (n,), W (n, G), out (G,)."""
    n = W.shape[0]
    for j in range(out.size):
        out[j] = 0.0
    i = 0
    while i + 4 <= n:
        x0, x1, x2, x3 = x[i], x[i + 1], x[i + 2], x[i + 3]
        w0, w1, w2, w3 = W[i], W[i + 1], W[i + 2], W[i + 3]
        for j in range(out.size):
            out[j] += (w0[j] * x0 + w1[j] * x1) + (w2[j] * x2 + w3[j] * x3)
        i += 4
    while i < n:
        x0, w0 = x[i], W[i]
        for j in range(out.size):
            out[j] += w0[j] * x0
        i += 1


@jit
def mat_vec(W, d, out):
    """out = W @ d for W (n, G), d (G,), out (n,)."""
    n = W.shape[0]
    i = 0
    while i + 4 <= n:
        w0, w1, w2, w3 = W[i], W[i + 1], W[i + 2], W[i + 3]
        s0 = s1 = s2 = s3 = d[0] - d[0]          # zero in d's dtype
        for j in range(d.size):
            dj = d[j]
            s0 += w0[j] * dj
            s1 += w1[j] * dj
            s2 += w2[j] * dj
            s3 += w3[j] * dj
        out[i], out[i + 1], out[i + 2], out[i + 3] = s0, s1, s2, s3
        i += 4
    while i < n:
        w0 = W[i]
        s = d[0] - d[0]
        for j in range(d.size):
            s += w0[j] * d[j]
        out[i] = s
        i += 1


@jit_inline
def recurrent(h, W, out):
    """out = h @ W for h (B, m), W (m, G), out (B, G): the forward product of one step."""
    if h.shape[0] == 1:
        vec_mat(h[0], W, out[0])
    else:
        gemm(h, W, out)


@jit_inline
def recurrent_t(d, W, out):
    """out = d @ W.T for d (B, G), W (m, G), out (B, m): the backward product of one step."""
    if d.shape[0] == 1:
        mat_vec(W, d[0], out[0])
    else:
        gemm(d, W.T, out)
