// elementwise.cu: fill, activations and their gradients, add/sub/mul, per-channel bias and
// scale, and the deterministic per-channel sum (bias gradient, channel-scale gradient).
//
// Launch shapes: the elementwise kernels are grid-stride loops, 256 threads per block
// (LaunchCfg::elementwise). The channel sum runs in two passes: vf_channel_sum_partial with a
// grid of (chunks, samples) blocks of 256 threads, each block summing kCsRows rows of one
// sample in a fixed order into one partial per channel; then vf_channel_sum_final, one thread
// per (sample, channel), adding the partials in chunk order (in double, as the CPU does). No
// atomics: results are bitwise reproducible. Global average pooling uses the same kernels.
//
// Cost (n values, c channels): every kernel is memory-bound. unary/bias/scale: 0-1 FLOP and
// 8 bytes per value (read + write); binary and unary_bwd: 12 bytes per value; channel sum:
// 4 bytes per value (8 with the second factor) plus 4·c bytes per 1024-row chunk.
#include "common.cuh"

#define VF_RELU 0
#define VF_LEAKY_RELU 1
#define VF_SIGMOID 2
#define VF_AFFINE 3

#define VF_ADD 0
#define VF_SUB 1
#define VF_MUL 2

// Rows of one channel-sum chunk (must match CHANNEL_SUM_ROWS in ops/elementwise/gpu.rs).
#define kCsRows 1024

extern "C" __global__ void vf_fill(float* y, long long n, float v) {
  for (long long i = vf_global_index(); i < n; i += vf_grid_threads()) y[i] = v;
}
VF_EXPORT(vf_fill, 32);

extern "C" __global__ void vf_broadcast_scalar(float* y, const float* s, long long n) {
  float v = s[0];
  for (long long i = vf_global_index(); i < n; i += vf_grid_threads()) y[i] = v;
}
VF_EXPORT(vf_broadcast_scalar, 32);

__device__ __forceinline__ float vf_sigmoid(float x) { return 1.0f / (1.0f + expf(-x)); }

extern "C" __global__ void vf_unary(float* y, const float* x, long long n, int op, float a,
                                    float b) {
  for (long long i = vf_global_index(); i < n; i += vf_grid_threads()) {
    float v = x[i];
    float r;
    switch (op) {
      case VF_RELU: r = v > 0.f ? v : 0.f; break;
      case VF_LEAKY_RELU: r = v > 0.f ? v : a * v; break;
      case VF_SIGMOID: r = vf_sigmoid(v); break;
      default: r = a * v + b; break;
    }
    y[i] = r;
  }
}
VF_EXPORT(vf_unary, 32);

extern "C" __global__ void vf_unary_bwd(float* dx, const float* x, const float* dy, long long n,
                                        int op, float a) {
  for (long long i = vf_global_index(); i < n; i += vf_grid_threads()) {
    float v = x[i], g = dy[i];
    float r;
    switch (op) {
      case VF_RELU: r = v > 0.f ? g : 0.f; break;
      case VF_LEAKY_RELU: r = v > 0.f ? g : a * g; break;
      case VF_SIGMOID: {
        float s = vf_sigmoid(v);
        r = g * s * (1.f - s);
        break;
      }
      default: r = a * g; break;
    }
    dx[i] = r;
  }
}
VF_EXPORT(vf_unary_bwd, 32);

extern "C" __global__ void vf_binary(float* y, const float* a, const float* b, long long n,
                                     int op) {
  for (long long i = vf_global_index(); i < n; i += vf_grid_threads()) {
    float u = a[i], v = b[i];
    y[i] = op == VF_ADD ? u + v : (op == VF_SUB ? u - v : u * v);
  }
}
VF_EXPORT(vf_binary, 32);

// y[i] = x[i] + bias[i % c]
extern "C" __global__ void vf_bias_add(float* y, const float* x, const float* bias, long long n,
                                       int c) {
  for (long long i = vf_global_index(); i < n; i += vf_grid_threads()) {
    y[i] = x[i] + bias[i % c];
  }
}
VF_EXPORT(vf_bias_add, 32);

// y[i] = x[i] · scale[sample·c + channel] with `per_sample` values per sample.
extern "C" __global__ void vf_channel_mul(float* y, const float* x, const float* scale,
                                          long long n, int c, long long per_sample) {
  for (long long i = vf_global_index(); i < n; i += vf_grid_threads()) {
    long long sample = i / per_sample;
    y[i] = x[i] * scale[sample * c + i % c];
  }
}
VF_EXPORT(vf_channel_mul, 40);

// partial[(sample·chunks + chunk)·c + ch] (a double in two floats) = Σ x·x2 over rows
// [chunk·kCsRows, +kCsRows) of one sample (`rows` rows of `c` values each; x2 is ignored unless
// `has_x2`). Grid (chunks, samples), 256 threads: per tile of ≤ 256 channels, thread t sums
// channel t % tile over the rows r ≡ t / tile (mod 256 / tile) in order, in double; the groups
// are then added in group order through shared memory.
extern "C" __global__ void vf_channel_sum_partial(float* partial, const float* x,
                                                  const float* x2, int has_x2, long long rows,
                                                  int c) {
  VF_SHARED(double, acc, 256);
  double* out = reinterpret_cast<double*>(partial);
  int chunks = gridDim.x;
  int chunk = blockIdx.x;
  long long sample = blockIdx.y;
  const float* xs = x + sample * rows * c;
  const float* x2s = x2 + sample * rows * c;
  long long r0 = (long long)chunk * kCsRows;
  long long r1 = r0 + kCsRows < rows ? r0 + kCsRows : rows;
  int t = threadIdx.x;
  for (int c0 = 0; c0 < c; c0 += 256) {
    int tile = c - c0 < 256 ? c - c0 : 256;
    int groups = 256 / tile;
    int ch = t % tile, grp = t / tile;
    double s = 0.0;
    if (grp < groups) {
      for (long long r = r0 + grp; r < r1; r += groups) {
        long long i = r * c + c0 + ch;
        s += has_x2 ? (double)(xs[i] * x2s[i]) : (double)xs[i];
      }
    }
    acc[t] = s;
    __syncthreads();
    if (t < tile) {
      double total = 0.0;
      for (int g = 0; g < groups; g++) total += acc[g * tile + t];
      out[(sample * chunks + chunk) * c + c0 + t] = total;
    }
    __syncthreads();
  }
}
VF_EXPORT(vf_channel_sum_partial, 40);

// y[sample·c + ch] = (Σ over chunks, in order, of the partials) / divisor (1 for a sum, the
// voxel count for a mean).
extern "C" __global__ void vf_channel_sum_final(float* y, const float* partial, int chunks,
                                                int c, int samples, long long divisor) {
  const double* p = reinterpret_cast<const double*>(partial);
  long long i = vf_global_index();
  if (i >= (long long)samples * c) return;
  long long sample = i / c, ch = i % c;
  double s = 0.0;
  for (int k = 0; k < chunks; k++) s += p[(sample * chunks + k) * c + ch];
  y[i] = (float)(s / (double)divisor);
}
VF_EXPORT(vf_channel_sum_final, 40);
