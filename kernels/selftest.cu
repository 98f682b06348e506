// selftest.cu: small kernels that exercise the emulator's (and the GPU's) execution model:
// block-wide barriers with shared memory, warp shuffles and ballots, atomics, dynamic shared
// memory, and two deliberately broken kernels (a divergent barrier, an out-of-bounds shared
// index) that the emulator must report as errors. Used only by tests.
//
// Launch shapes: one or more 1D blocks; each test states its own. Traffic is negligible.
#include "common.cuh"

// y[b·blockDim + t] = x[b·blockDim + (blockDim - 1 - t)]: reverses each block through shared
// memory (needs the barrier between the write and the read).
extern "C" __global__ void vf_selftest_block_reverse(float* y, const float* x) {
  VF_SHARED(float, s, 1024);
  int t = threadIdx.x, n = blockDim.x;
  long long base = (long long)blockIdx.x * n;
  s[t] = x[base + t];
  __syncthreads();
  y[base + t] = s[n - 1 - t];
}
VF_EXPORT(vf_selftest_block_reverse, 32);

// Per warp: y[warp·4 + 0] = Σ x by shfl_down; +1 = x of lane (lane + 5) % 32 read by
// shfl_sync (lane 0 writes); +2 = popcount of the ballot of x > 0; +3 = Σ x by shfl_xor.
extern "C" __global__ void vf_selftest_warp(float* y, const float* x) {
  int t = threadIdx.x, lane = t % 32, warp = t / 32;
  float v = x[t];
  float s = v;
  for (int off = 16; off > 0; off /= 2) s += __shfl_down_sync(0xffffffffu, s, off);
  float rot = __shfl_sync(0xffffffffu, v, (lane + 5) % 32);
  unsigned b = __ballot_sync(0xffffffffu, v > 0.f);
  float x2 = v;
  for (int m = 16; m > 0; m /= 2) x2 += __shfl_xor_sync(0xffffffffu, x2, m);
  if (lane == 0) {
    y[warp * 4 + 0] = s;
    y[warp * 4 + 1] = rot;
    y[warp * 4 + 2] = (float)__popc(b);
    y[warp * 4 + 3] = x2;
  }
}
VF_EXPORT(vf_selftest_warp, 32);

// counts[x[i]] += 1 for every i (integer atomics: order-independent).
extern "C" __global__ void vf_selftest_histogram(int* counts, const int* x, int n) {
  long long i = vf_global_index();
  if (i < n) atomicAdd(&counts[x[i]], 1);
}
VF_EXPORT(vf_selftest_histogram, 32);

// Each block sums its x values through dynamic shared memory (one float per thread).
extern "C" __global__ void vf_selftest_dynamic_sum(float* y, const float* x) {
  VF_DYNAMIC_SHARED(float, s);
  int t = threadIdx.x;
  s[t] = x[(long long)blockIdx.x * blockDim.x + t];
  __syncthreads();
  for (int half = blockDim.x / 2; half > 0; half /= 2) {
    if (t < half) s[t] += s[t + half];
    __syncthreads();
  }
  if (t == 0) y[blockIdx.x] = s[0];
}
VF_EXPORT(vf_selftest_dynamic_sum, 32);

// Broken on purpose: threads below `k` wait at a barrier the others never reach.
extern "C" __global__ void vf_selftest_divergent(float* y, int k) {
  int t = threadIdx.x;
  if (t < k) {
    __syncthreads();
  }
  y[t] = (float)t;
}
VF_EXPORT(vf_selftest_divergent, 32);

// Broken on purpose when `at` ≥ 64: writes shared memory out of bounds.
extern "C" __global__ void vf_selftest_shared_oob(float* y, int at) {
  VF_SHARED(float, s, 64);
  if (threadIdx.x == 0) s[at] = 1.f;
  __syncthreads();
  y[threadIdx.x] = s[threadIdx.x % 64];
}
VF_EXPORT(vf_selftest_shared_oob, 32);
