// common.cuh: what every kernel file includes.
//
// Conventions:
// - Kernels are `extern "C" __global__` and exported by a line `VF_EXPORT(name, registers);`
//   giving the register budget that ptxas must stay within (a test checks it, and that no
//   kernel spills). build.rs reads these lines; the emulator registers the kernel from them.
// - Shared memory only through VF_SHARED(T, name, n) and VF_DYNAMIC_SHARED(T, name): on the GPU
//   these are plain `__shared__` arrays; in the emulator they are per launch and
//   bounds-checked.
// - Tensors are f32, contiguous, channels-last `[n, d, h, w, c]`; sizes arrive as `int`
//   (element counts as `long long` where they can pass 2^31).
// - Only the subset of CUDA in emu/shim.h; anything else behind `#ifdef __CUDA_ARCH__` with a
//   portable path.
#pragma once

#ifdef __CUDACC__
#define VF_SHARED(T, name, n) __shared__ T name[n]
#define VF_DYNAMIC_SHARED(T, name)                                   \
  extern __shared__ __align__(16) unsigned char vf_dynamic_smem_[]; \
  T* name = reinterpret_cast<T*>(vf_dynamic_smem_)
#define VF_EXPORT(name, registers) static_assert((registers) > 0, "a register budget")
#define VF_ASSERT(cond) \
  do {                  \
    if (!(cond)) __trap(); \
  } while (0)
#else
#include "emu/shim.h"
#endif

// Index of this thread in a 1D grid of 1D blocks.
__device__ __forceinline__ long long vf_global_index() {
  return (long long)blockIdx.x * blockDim.x + threadIdx.x;
}

// Number of threads in a 1D grid of 1D blocks (the stride of a grid-stride loop).
__device__ __forceinline__ long long vf_grid_threads() {
  return (long long)gridDim.x * blockDim.x;
}
