// norm.cu: BatchNorm / InstanceNorm on a channels-last `[n, s, c]` view: per-group statistics,
// the normalizing affine map and its gradients (the CPU reference is ops/norm/cpu.rs).
//
// A "segment" is a run of rows (voxels) that shares one statistic per channel: all n·s rows
// (BatchNorm, one segment) or the s rows of one sample (InstanceNorm, n segments). Groups are
// indexed seg·c + ch.
//
// Launch shapes:
// - vf_norm_partial: grid (chunks, segs), 256 threads. Block (chunk, seg) reduces rows
//   [chunk·chunk_rows, +chunk_rows) of segment seg into two double sums per channel: thread t
//   takes channel t % tile and rows r ≡ t / tile (mod 256 / tile) in order (a warp reads whole
//   consecutive rows: coalesced), then a fixed shared-memory tree adds the row groups. Channel
//   tiles of 256 when c > 256. Mode 0 (statistics): Σ(x - k), Σ(x - k)² with the shift k the
//   segment's first value of the channel (keeps the variance accurate far from zero); mode 1
//   (backward): Σdy, Σdy·x̂.
// - vf_norm_stats_final: one 256-thread block per group: adds the chunk partials (strided per
//   thread, then a fixed tree), writes mean and biased variance.
// - vf_norm_bwd_final: one 256-thread block per channel: adds each segment's chunk partials the
//   same way, writes the per-group dx coefficients (p, q, r) and dγ, dβ (segments in order).
// - vf_norm_scale: one thread per group: γ/√(var + eps) in double, rounded to f32.
// - vf_norm_apply, vf_norm_dx: elementwise grid-stride loops of 256-thread blocks (the
//   element's group is advanced incrementally: no 64-bit division per element).
// No atomics: every result is bitwise reproducible.
//
// Cost (V values): statistics read 4·V bytes, ~4 FLOP (double) per value; apply reads and
// writes 8·V bytes, 2 FLOP per value; backward reads 8·V bytes in the partial pass (~5 FLOP
// double per value) and 12·V bytes in the dx pass (4 FLOP per value). The partials add
// 16·c bytes per chunk of chunk_rows rows (about 16,384 values).
#include "common.cuh"

#define VF_NORM_THREADS 256
#define VF_NORM_STATS 0
#define VF_NORM_BWD 1

// partial[(seg·chunks + chunk)·2c + ch] (doubles) = Σa, and at + c, Σb, over the chunk's rows.
// mode 0: a = x - k, b = (x - k)², k = x[first row of seg, ch].
// mode 1: a = dy, b = dy·(x - mean[g])·inv, inv = 1/√(var[g] + eps), g = seg·c + ch (the
//         per-segment group; with one segment g = ch).
extern "C" __global__ void vf_norm_partial(float* partial, const float* x, const float* dy,
                                           const float* mean, const float* var, float eps,
                                           long long seg_rows, int c, int chunk_rows,
                                           int mode) {
  VF_SHARED(double, acc_a, VF_NORM_THREADS);
  VF_SHARED(double, acc_b, VF_NORM_THREADS);
  double* out = reinterpret_cast<double*>(partial);
  long long chunks = gridDim.x;
  long long chunk = blockIdx.x;
  long long seg = blockIdx.y;
  long long base = seg * seg_rows * c;
  long long r0 = chunk * chunk_rows;
  long long r1 = r0 + chunk_rows < seg_rows ? r0 + chunk_rows : seg_rows;
  int t = threadIdx.x;
  for (int c0 = 0; c0 < c; c0 += VF_NORM_THREADS) {
    int tile = c - c0 < VF_NORM_THREADS ? c - c0 : VF_NORM_THREADS;
    int groups = VF_NORM_THREADS / tile;
    int lane = t % tile, grp = t / tile;
    int ch = c0 + lane;
    double sa = 0.0, sb = 0.0;
    if (grp < groups) {
      if (mode == VF_NORM_STATS) {
        double k = x[base + ch];
        for (long long r = r0 + grp; r < r1; r += groups) {
          double d = (double)x[base + r * c + ch] - k;
          sa += d;
          sb += d * d;
        }
      } else {
        long long g = seg * c + ch;
        double mu = mean[g];
        double inv = 1.0 / sqrt((double)var[g] + (double)eps);
        for (long long r = r0 + grp; r < r1; r += groups) {
          long long i = base + r * c + ch;
          double d = dy[i];
          sa += d;
          sb += d * ((double)x[i] - mu) * inv;
        }
      }
    }
    acc_a[t] = sa;
    acc_b[t] = sb;
    __syncthreads();
    // Fixed tree over the row groups: the upper half of the active groups is added into the
    // lower half (the middle one waits when their number is odd).
    for (int active = groups; active > 1;) {
      int half = (active + 1) / 2;
      if (grp < active - half) {
        acc_a[t] += acc_a[t + half * tile];
        acc_b[t] += acc_b[t + half * tile];
      }
      active = half;
      __syncthreads();
    }
    if (t < tile) {
      long long o = (seg * chunks + chunk) * 2 * c + ch;
      out[o] = acc_a[t];
      out[o + c] = acc_b[t];
    }
    __syncthreads();
  }
}
VF_EXPORT(vf_norm_partial, 48);

// (Σ over chunks of a group's partials, both sums) in a fixed order: thread t adds chunks
// t, t + 256, ... in order, then a fixed shared-memory tree. Valid in thread 0 of the
// 256-thread block; every thread must call it.
__device__ __forceinline__ void vf_norm_chunk_sums(const double* p, long long first, int c,
                                                   int chunks, double* s1, double* s2) {
  VF_SHARED(double, ra, VF_NORM_THREADS);
  VF_SHARED(double, rb, VF_NORM_THREADS);
  int t = threadIdx.x;
  double a = 0.0, b = 0.0;
  for (long long k = t; k < chunks; k += VF_NORM_THREADS) {
    long long o = first + k * 2 * c;
    a += p[o];
    b += p[o + c];
  }
  ra[t] = a;
  rb[t] = b;
  __syncthreads();
  for (int half = VF_NORM_THREADS / 2; half > 0; half /= 2) {
    if (t < half) {
      ra[t] += ra[t + half];
      rb[t] += rb[t + half];
    }
    __syncthreads();
  }
  *s1 = ra[0];
  *s2 = rb[0];
  __syncthreads();
}

// mean[g], var[g] for the groups g = seg·c + ch: one 256-thread block per group.
extern "C" __global__ void vf_norm_stats_final(float* mean, float* var, const float* partial,
                                               const float* x, long long seg_rows, int c,
                                               int chunks) {
  long long g = blockIdx.x;
  long long seg = g / c, ch = g % c;
  double s1, s2;
  vf_norm_chunk_sums(reinterpret_cast<const double*>(partial), seg * chunks * 2 * c + ch, c,
                     chunks, &s1, &s2);
  if (threadIdx.x == 0) {
    double m = (double)seg_rows;
    double shift = x[seg * seg_rows * c + ch];
    double dm = s1 / m;
    double v = s2 / m - dm * dm;
    mean[g] = (float)(shift + dm);
    var[g] = (float)(v > 0.0 ? v : 0.0);
  }
}
VF_EXPORT(vf_norm_stats_final, 40);

// scale[g] = γ[g % c]/√(var[g] + eps) (γ = 1 unless has_gamma), computed in double.
extern "C" __global__ void vf_norm_scale(float* scale, const float* var, const float* gamma,
                                         int has_gamma, float eps, int groups, int c) {
  long long g = vf_global_index();
  if (g >= groups) return;
  double s = 1.0 / sqrt((double)var[g] + (double)eps);
  if (has_gamma) s *= (double)gamma[g % c];
  scale[g] = (float)s;
}
VF_EXPORT(vf_norm_scale, 32);

// The group index of element i of `[n, s, c]` data, kept up to date along a grid-stride loop
// without a 64-bit division per element: i = row·c + ch, row = sample·s + rs.
struct VfNormIndex {
  int c, ch, dch;
  long long s, sample, rs, drow, dsample, drs;
  __device__ __forceinline__ VfNormIndex(long long i, long long stride, int c_, long long s_) {
    c = c_;
    s = s_;
    long long row = i / c;
    ch = (int)(i - row * c);
    sample = row / s;
    rs = row - sample * s;
    drow = stride / c;
    dch = (int)(stride - drow * c);
    dsample = drow / s;
    drs = drow - dsample * s;
  }
  // Advances by `stride` elements.
  __device__ __forceinline__ void next() {
    ch += dch;
    long long carry = 0;
    if (ch >= c) {
      ch -= c;
      carry = 1;
    }
    rs += drs + carry;
    sample += dsample;
    if (rs >= s) {
      rs -= s;
      sample += 1;
    }
  }
  // The statistic's index: ch, or sample·c + ch per sample.
  __device__ __forceinline__ long long group(int per_sample) const {
    return per_sample ? sample * c + ch : ch;
  }
};

// y = (x - mean[g])·scale[g] + β[ch] over `len` values; g = ch, or (row / s)·c + ch per sample.
extern "C" __global__ void vf_norm_apply(float* y, const float* x, const float* mean,
                                         const float* scale, const float* beta, int has_beta,
                                         long long len, int c, long long s, int per_sample) {
  long long stride = vf_grid_threads();
  VfNormIndex at(vf_global_index(), stride, c, s);
  for (long long i = vf_global_index(); i < len; i += stride, at.next()) {
    long long g = at.group(per_sample);
    float b = has_beta ? beta[at.ch] : 0.f;
    y[i] = __fadd_rn(__fmul_rn(x[i] - mean[g], scale[g]), b);
  }
}
VF_EXPORT(vf_norm_apply, 48);

// One 256-thread block per channel ch: for each segment in order, Σdy and Σdy·x̂ from the
// partials; the group's dx coefficients coef[g] = p, coef[groups + g] = q,
// coef[2·groups + g] = r with dx = p·(dy - q - (x - μ)·r), p = γ/σ, and with batch_stats
// q = mean(dy), r = mean(dy·x̂)/σ (else 0); dβ[ch] = ΣΣdy and dγ[ch] = ΣΣdy·x̂ over the
// segments in order.
extern "C" __global__ void vf_norm_bwd_final(float* coef, float* dgamma, float* dbeta,
                                             const float* partial, const float* var,
                                             const float* gamma, int has_gamma, float eps,
                                             int batch_stats, long long seg_rows, int c,
                                             int segs, int chunks) {
  const double* p = reinterpret_cast<const double*>(partial);
  long long ch = blockIdx.x;
  long long groups = (long long)segs * c;
  double m = (double)seg_rows;
  double gm = has_gamma ? (double)gamma[ch] : 1.0;
  double db = 0.0, dg = 0.0;
  for (long long seg = 0; seg < segs; seg++) {
    double s1, s2;
    vf_norm_chunk_sums(p, seg * chunks * 2 * c + ch, c, chunks, &s1, &s2);
    if (threadIdx.x == 0) {
      long long g = seg * c + ch;
      double inv = 1.0 / sqrt((double)var[g] + (double)eps);
      coef[g] = (float)(inv * gm);
      coef[groups + g] = batch_stats ? (float)(s1 / m) : 0.f;
      coef[2 * groups + g] = batch_stats ? (float)(s2 / m * inv) : 0.f;
      db += s1;
      dg += s2;
    }
  }
  if (threadIdx.x == 0) {
    dgamma[ch] = (float)dg;
    dbeta[ch] = (float)db;
  }
}
VF_EXPORT(vf_norm_bwd_final, 56);

// dx = p·(dy - q - (x - μ)·r) with the group's coefficients (see vf_norm_bwd_final).
extern "C" __global__ void vf_norm_dx(float* dx, const float* x, const float* dy,
                                      const float* mean, const float* coef, long long len,
                                      int c, long long s, int per_sample, int groups) {
  long long stride = vf_grid_threads();
  VfNormIndex at(vf_global_index(), stride, c, s);
  for (long long i = vf_global_index(); i < len; i += stride, at.next()) {
    long long g = at.group(per_sample);
    float t = __fmul_rn(x[i] - mean[g], coef[2 * groups + g]);
    dx[i] = __fmul_rn(coef[g], (dy[i] - coef[groups + g]) - t);
  }
}
VF_EXPORT(vf_norm_dx, 48);
