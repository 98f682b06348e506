// loss.cu: deterministic reductions (sum, Σ|x|) and the loss kernels (mse, mae, ncc, lncc,
// dice) with their gradients.
//
// Reductions run in two passes with fixed work boundaries, so results are bitwise reproducible
// on any GPU: vf_reduce_partial (grid of ceil(n / kRedChunk) blocks of 256 threads; each thread
// adds the chunk's values t, t+256, ... in order in double, then a fixed shared-memory tree)
// writes one double-precision partial per block (stored as two floats); vf_reduce_final (one
// block of 256 threads) adds the partials the same way and writes the f32 result.
// Cost: 4 bytes read per value, 1 FLOP per value (memory-bound).
#include "common.cuh"

// Values per block of the first pass (must match REDUCE_CHUNK in ops/loss/gpu.rs).
#define kRedChunk 8192

#define VF_RED_SUM 0
#define VF_RED_ABS 1

// Adds `v` over the block in a fixed tree; the result is valid in thread 0.
__device__ __forceinline__ double vf_block_sum_256(double v) {
  VF_SHARED(double, s, 256);
  int t = threadIdx.x;
  s[t] = v;
  __syncthreads();
  for (int half = 128; half > 0; half /= 2) {
    if (t < half) s[t] += s[t + half];
    __syncthreads();
  }
  double r = s[0];
  __syncthreads();
  return r;
}

// partial[b] (a double in two floats) = Σ f(x[i]) over chunk b.
extern "C" __global__ void vf_reduce_partial(float* partial, const float* x, long long n,
                                             int mode) {
  long long start = (long long)blockIdx.x * kRedChunk;
  long long end = start + kRedChunk < n ? start + kRedChunk : n;
  double acc = 0.0;
  for (long long i = start + threadIdx.x; i < end; i += 256) {
    float v = x[i];
    acc += mode == VF_RED_ABS ? fabsf(v) : v;
  }
  double total = vf_block_sum_256(acc);
  if (threadIdx.x == 0) reinterpret_cast<double*>(partial)[blockIdx.x] = total;
}
VF_EXPORT(vf_reduce_partial, 40);

// y[0] = Σ partial (count doubles), scaled by `scale`.
extern "C" __global__ void vf_reduce_final(float* y, const float* partial, int count,
                                           float scale) {
  const double* p = reinterpret_cast<const double*>(partial);
  double acc = 0.0;
  for (int i = threadIdx.x; i < count; i += 256) acc += p[i];
  double total = vf_block_sum_256(acc);
  if (threadIdx.x == 0) y[0] = (float)(total * scale);
}
VF_EXPORT(vf_reduce_final, 40);
