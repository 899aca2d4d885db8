"""Read and set the x86 MXCSR register (flush-to-zero / denormals-are-zero) from Python, so
tests can run the kernels under the FPU mode that -ffast-math libraries switch on process-wide."""
from llvmlite import ir
from numba import njit, types
from numba.core import cgutils
from numba.extending import intrinsic

FTZ_DAZ = 0x8040


@intrinsic
def _stmxcsr(typingctx):
    sig = types.uint32()

    def codegen(context, builder, signature, args):
        ptr = cgutils.alloca_once(builder, ir.IntType(32))
        fnty = ir.FunctionType(ir.VoidType(), [ir.IntType(8).as_pointer()])
        fn = cgutils.get_or_insert_function(builder.module, fnty, "llvm.x86.sse.stmxcsr")
        builder.call(fn, [builder.bitcast(ptr, ir.IntType(8).as_pointer())])
        return builder.load(ptr)
    return sig, codegen


@intrinsic
def _ldmxcsr(typingctx, value):
    sig = types.void(types.uint32)

    def codegen(context, builder, signature, args):
        ptr = cgutils.alloca_once_value(builder, args[0])
        fnty = ir.FunctionType(ir.VoidType(), [ir.IntType(8).as_pointer()])
        fn = cgutils.get_or_insert_function(builder.module, fnty, "llvm.x86.sse.ldmxcsr")
        builder.call(fn, [builder.bitcast(ptr, ir.IntType(8).as_pointer())])
        return context.get_dummy_value()
    return sig, codegen


@njit
def get_mxcsr():
    return _stmxcsr()


@njit
def set_mxcsr(v):
    _ldmxcsr(v)
