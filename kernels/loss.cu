// loss.cu: deterministic reductions (sum, Σ|x|, per-sample multi-sums) and the losses (mse,
// mae, ncc, lncc, dice) with their gradients. The scalar loss and the incoming gradient `dl`
// are one-element device buffers: nothing here needs the host.
//
// Reductions run in two passes with fixed work boundaries, so results are bitwise reproducible
// on any GPU: vf_reduce_partial (grid (ceil(per / kRedChunk), samples) blocks of 256 threads;
// each thread adds the chunk's terms at t, t+256, ... in order in double, then a fixed
// shared-memory tree per term) writes K double-precision partials per block (stored as two
// floats each); vf_reduce_final (one block of 256 threads per sample) adds the partials the
// same way and writes either an f32 result or K doubles of the per-sample statistics buffer
// (kStats doubles per sample). vf_loss_finish (one thread) and vf_loss_coef (one thread per
// sample) turn those statistics into the loss and into the per-sample gradient coefficients;
// vf_loss_grad (grid-stride, one thread per value) applies them.
//
// Local NCC: window sums over window³ boxes with zero padding, as separable direct sums along
// W, H and D (one thread per value and axis pass, `window` taps, fields in double stored
// field-major `f[k·total + i]` so every access is coalesced): vf_lncc_box_w (the five terms
// a, b, a², b², ab summed along W), vf_box_axis (any field set along H or D), vf_lncc_window
// (the D pass fused with the per-window statistics: cc for the loss, or the seven gradient
// coefficients), vf_lncc_grad (the D pass of the coefficients fused with the gradient).
//
// Cost (v values): reductions read 4 bytes per value per input and do 1-6 FLOP (memory-bound);
// the gradient kernels read 8-12 and write 8 bytes per value. LNCC forward: 3 passes of
// 5·window taps (double) per value, ≈ 15·window + 20 FLOP and 3·40·window bytes (mostly cache
// hits) per value; backward adds 3 passes of 7·window taps: ≈ 36·window + 60 FLOP per value.
#include "common.cuh"

// Values per block of the first pass (must match REDUCE_CHUNK in ops/loss/gpu.rs).
#define kRedChunk 8192
// Doubles of statistics per sample (must match STATS in ops/loss/gpu.rs).
#define kStats 5

// Reduction terms (the number of sums K in brackets; must match `Red` in ops/loss/gpu.rs).
#define VF_RED_SUM 0      // x [1]
#define VF_RED_ABS 1      // |x| [1]
#define VF_RED_SQDIFF 2   // (a-b)² [1]
#define VF_RED_ABSDIFF 3  // |a-b| [1]
#define VF_RED_MEANS 4    // a, b [2]
#define VF_RED_CENTRED 5  // (a-μa)(b-μb), (a-μa)², (b-μb)² with μ from stats [3]
#define VF_RED_DICE 6     // a, b, ab [3]

// Loss kinds (must match `kind_code` in ops/loss/gpu.rs).
#define VF_MSE 0
#define VF_MAE 1
#define VF_NCC 2
#define VF_LNCC 3
#define VF_DICE 4

// Full unrolling of the small fixed-count field loops (keeps the arrays in registers); the
// emulator's compiler does not know the pragma.
#ifdef __CUDACC__
#define VF_UNROLL _Pragma("unroll")
#else
#define VF_UNROLL
#endif

#define VF_NCC_EPS 1e-10
#define VF_DICE_EPS 1e-5
#define VF_LNCC_EPS 1e-5

// Adds `v` over the block in a fixed tree; the result is valid in every thread.
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

// Sums of the terms of MODE over values [start, end), K partials to out[0..K).
template <int MODE, int K>
__device__ __forceinline__ void vf_partial_terms(double* out, const float* a, const float* b,
                                                 long long start, long long end, double mu_a,
                                                 double mu_b) {
  double acc[K];
VF_UNROLL
  for (int k = 0; k < K; k++) acc[k] = 0.0;
  for (long long i = start + threadIdx.x; i < end; i += 256) {
    if constexpr (MODE == VF_RED_SUM) {
      acc[0] += a[i];
    } else if constexpr (MODE == VF_RED_ABS) {
      acc[0] += fabsf(a[i]);
    } else if constexpr (MODE == VF_RED_SQDIFF) {
      double d = (double)a[i] - (double)b[i];
      acc[0] += d * d;
    } else if constexpr (MODE == VF_RED_ABSDIFF) {
      acc[0] += fabs((double)a[i] - (double)b[i]);
    } else if constexpr (MODE == VF_RED_MEANS) {
      acc[0] += a[i];
      acc[1] += b[i];
    } else if constexpr (MODE == VF_RED_CENTRED) {
      double x = (double)a[i] - mu_a, y = (double)b[i] - mu_b;
      acc[0] += x * y;
      acc[1] += x * x;
      acc[2] += y * y;
    } else {
      double x = a[i], y = b[i];
      acc[0] += x;
      acc[1] += y;
      acc[2] += x * y;
    }
  }
VF_UNROLL
  for (int k = 0; k < K; k++) {
    double total = vf_block_sum_256(acc[k]);
    if (threadIdx.x == 0) out[k] = total;
  }
}

__device__ __forceinline__ int vf_red_terms(int mode) {
  return mode == VF_RED_MEANS ? 2 : (mode >= VF_RED_CENTRED ? 3 : 1);
}

// partial[(sample·chunks + chunk)·K + k] (doubles in two floats each) = Σ term_k over chunk
// `chunk` of sample `sample` (`per` values each; `b` is ignored by the one-input modes, and
// `stats` is read only by VF_RED_CENTRED, for the means Σa/per and Σb/per).
extern "C" __global__ void vf_reduce_partial(float* partial, const float* a, const float* b,
                                             const float* stats, long long per, int mode) {
  long long sample = blockIdx.y;
  long long start = sample * per + (long long)blockIdx.x * kRedChunk;
  long long end = start + kRedChunk < (sample + 1) * per ? start + kRedChunk : (sample + 1) * per;
  double* out = reinterpret_cast<double*>(partial) +
                (sample * gridDim.x + blockIdx.x) * vf_red_terms(mode);
  switch (mode) {
    case VF_RED_SUM: vf_partial_terms<VF_RED_SUM, 1>(out, a, b, start, end, 0, 0); break;
    case VF_RED_ABS: vf_partial_terms<VF_RED_ABS, 1>(out, a, b, start, end, 0, 0); break;
    case VF_RED_SQDIFF: vf_partial_terms<VF_RED_SQDIFF, 1>(out, a, b, start, end, 0, 0); break;
    case VF_RED_ABSDIFF:
      vf_partial_terms<VF_RED_ABSDIFF, 1>(out, a, b, start, end, 0, 0);
      break;
    case VF_RED_MEANS: vf_partial_terms<VF_RED_MEANS, 2>(out, a, b, start, end, 0, 0); break;
    case VF_RED_CENTRED: {
      const double* st = reinterpret_cast<const double*>(stats) + sample * kStats;
      double m = (double)per;
      vf_partial_terms<VF_RED_CENTRED, 3>(out, a, b, start, end, st[0] / m, st[1] / m);
      break;
    }
    default: vf_partial_terms<VF_RED_DICE, 3>(out, a, b, start, end, 0, 0); break;
  }
}
VF_EXPORT(vf_reduce_partial, 48);

// Per sample (one block each): the K sums of its `chunks` partials, in a fixed order. With
// `out_f32`, out[sample·K + k] = (float)(sum · scale); else the doubles of the statistics
// buffer, out[sample·kStats + offset + k] = sum.
extern "C" __global__ void vf_reduce_final(float* out, const float* partial, int chunks, int k,
                                           int offset, int out_f32, float scale) {
  long long sample = blockIdx.x;
  const double* p = reinterpret_cast<const double*>(partial) + sample * chunks * k;
  for (int j = 0; j < k; j++) {
    double acc = 0.0;
    for (int i = threadIdx.x; i < chunks; i += 256) acc += p[(long long)i * k + j];
    double total = vf_block_sum_256(acc);
    if (threadIdx.x == 0) {
      if (out_f32) {
        out[sample * k + j] = (float)(total * scale);
      } else {
        reinterpret_cast<double*>(out)[sample * kStats + offset + j] = total;
      }
    }
  }
}
VF_EXPORT(vf_reduce_final, 40);

// y[0] = the loss from the per-sample statistics (one thread): Σ / per for mse and mae (one
// "sample" of all values), -Σcc / per for lncc, the mean over samples of -r (ncc) or of the
// soft Dice loss.
extern "C" __global__ void vf_loss_finish(float* y, const float* stats, int samples,
                                          long long per, int kind) {
  if (threadIdx.x != 0 || blockIdx.x != 0) return;
  const double* st = reinterpret_cast<const double*>(stats);
  double m = (double)per;
  double l;
  if (kind == VF_MSE || kind == VF_MAE) {
    l = st[0] / m;
  } else if (kind == VF_LNCC) {
    l = -st[0] / m;
  } else if (kind == VF_NCC) {
    double r = 0.0;
    for (int s = 0; s < samples; s++) {
      const double* q = st + s * kStats;
      double cov = q[2] / m, va = q[3] / m, vb = q[4] / m;
      r += cov / sqrt(va * vb + VF_NCC_EPS);
    }
    l = -r / samples;
  } else {
    double d = 0.0;
    for (int s = 0; s < samples; s++) {
      const double* q = st + s * kStats;
      d += 1.0 - (2.0 * q[2] + VF_DICE_EPS) / (q[0] + q[1] + VF_DICE_EPS);
    }
    l = d / samples;
  }
  y[0] = (float)l;
}
VF_EXPORT(vf_loss_finish, 40);

// coef[s·kStats ..] (doubles) = the gradient coefficients of sample s, times dl[0] (one
// thread per sample). ncc: r = C/S, S = √(Va·Vb + ε), ∂r/∂a_i = (b_i-μb)/(mS) -
// C·Vb·(a_i-μa)/(mS³): [μa, μb, k1, k3·Vb, k3·Va]. dice: L = 1 - P/Q, ∂L/∂a_i = -2b_i/Q +
// P/Q²: [-2/Q, P/Q²], both times dl/samples.
extern "C" __global__ void vf_loss_coef(float* coef, const float* stats, const float* dl,
                                        int samples, long long per, int kind) {
  long long s = vf_global_index();
  if (s >= samples) return;
  const double* q = reinterpret_cast<const double*>(stats) + s * kStats;
  double* c = reinterpret_cast<double*>(coef) + s * kStats;
  double g = dl[0];
  if (kind == VF_NCC) {
    double scale = -g / samples, m = (double)per;
    double cov = q[2] / m, va = q[3] / m, vb = q[4] / m;
    double sq = sqrt(va * vb + VF_NCC_EPS);
    double k1 = scale / (m * sq);
    double k3 = scale * cov / (m * sq * sq * sq);
    c[0] = q[0] / m;
    c[1] = q[1] / m;
    c[2] = k1;
    c[3] = k3 * vb;
    c[4] = k3 * va;
  } else {
    double scale = g / samples;
    double qq = q[0] + q[1] + VF_DICE_EPS;
    double p = 2.0 * q[2] + VF_DICE_EPS;
    c[0] = -2.0 * scale / qq;
    c[1] = scale * p / (qq * qq);
  }
}
VF_EXPORT(vf_loss_coef, 48);

// (da, db) of mse, mae (from dl[0] and the count n), ncc and dice (from coef, per sample of
// `per` values), one thread per value.
extern "C" __global__ void vf_loss_grad(float* da, float* db, const float* a, const float* b,
                                        const float* coef, const float* dl, long long n,
                                        long long per, int kind) {
  double g = dl[0];
  const double* cf = reinterpret_cast<const double*>(coef);
  for (long long i = vf_global_index(); i < n; i += vf_grid_threads()) {
    float x = a[i], y = b[i];
    if (kind == VF_MSE) {
      double d = ((double)x - (double)y) * (2.0 * g / (double)n);
      da[i] = (float)d;
      db[i] = (float)-d;
    } else if (kind == VF_MAE) {
      float k = (float)(g / (double)n);
      da[i] = x > y ? k : (x < y ? -k : 0.f);
      db[i] = x > y ? -k : (x < y ? k : 0.f);
    } else if (kind == VF_NCC) {
      const double* c = cf + (i / per) * kStats;
      double xa = (double)x - c[0], yb = (double)y - c[1];
      da[i] = (float)(c[2] * yb - c[3] * xa);
      db[i] = (float)(c[2] * xa - c[4] * yb);
    } else {
      const double* c = cf + (i / per) * kStats;
      da[i] = (float)(c[0] * (double)y + c[1]);
      db[i] = (float)(c[0] * (double)x + c[1]);
    }
  }
}
VF_EXPORT(vf_loss_grad, 40);

// dx = dl[0] · sign(x) (0 at 0).
extern "C" __global__ void vf_l1_bwd(float* dx, const float* x, const float* dl, long long n) {
  float g = dl[0];
  for (long long i = vf_global_index(); i < n; i += vf_grid_threads()) {
    float v = x[i];
    dx[i] = v > 0.f ? g : (v < 0.f ? -g : 0.f);
  }
}
VF_EXPORT(vf_l1_bwd, 32);

// ---- local NCC ----

// dst fields 0..4 (doubles, field-major) = Σ over |t - x| ≤ r, 0 ≤ t < w along W of
// (a, b, a², b², ab); `total` values of `c` channels, rows of `w` voxels.
extern "C" __global__ void vf_lncc_box_w(float* dst, const float* a, const float* b,
                                         long long total, int w, int c, int r) {
  double* f = reinterpret_cast<double*>(dst);
  for (long long i = vf_global_index(); i < total; i += vf_grid_threads()) {
    int x = (int)((i / c) % w);
    int t0 = x - r > 0 ? x - r : 0, t1 = x + r < w - 1 ? x + r : w - 1;
    double s0 = 0, s1 = 0, s2 = 0, s3 = 0, s4 = 0;
    for (int t = t0; t <= t1; t++) {
      long long j = i + (long long)(t - x) * c;
      double av = a[j], bv = b[j];
      s0 += av;
      s1 += bv;
      s2 += av * av;
      s3 += bv * bv;
      s4 += av * bv;
    }
    f[i] = s0;
    f[total + i] = s1;
    f[2 * total + i] = s2;
    f[3 * total + i] = s3;
    f[4 * total + i] = s4;
  }
}
VF_EXPORT(vf_lncc_box_w, 48);

// dst field k = Σ over |t - p| ≤ r, 0 ≤ t < dim of src field k along the axis of extent `dim`
// and element stride `stride` (p = (i / stride) % dim), for k < nk.
extern "C" __global__ void vf_box_axis(float* dst, const float* src, long long total, int nk,
                                       int dim, long long stride, int r) {
  double* d = reinterpret_cast<double*>(dst);
  const double* s = reinterpret_cast<const double*>(src);
  for (long long i = vf_global_index(); i < total; i += vf_grid_threads()) {
    int p = (int)((i / stride) % dim);
    int t0 = p - r > 0 ? p - r : 0, t1 = p + r < dim - 1 ? p + r : dim - 1;
    long long first = i + (long long)(t0 - p) * stride;
    for (int k = 0; k < nk; k++) {
      const double* sk = s + k * total + first;
      double acc = 0.0;
      for (int t = 0; t <= t1 - t0; t++) acc += sk[t * stride];
      d[k * total + i] = acc;
    }
  }
}
VF_EXPORT(vf_box_axis, 40);

// The D pass of the five window sums (fields of `sums`, summed over W and H) and the window
// statistics (count n = window³): mode 0, out[i] = cc (float); mode 1, out fields 0..6
// (doubles) = α, αμb, αμa, βa, βa·μa, βb, βb·μb times k = -dl[0] / total.
extern "C" __global__ void vf_lncc_window(float* out, const float* sums, const float* dl,
                                          long long total, int d, long long stride, int r,
                                          int window, int mode) {
  const double* s = reinterpret_cast<const double*>(sums);
  double n = (double)window * window * window;
  double k = mode ? -(double)dl[0] / (double)total : 0.0;
  for (long long i = vf_global_index(); i < total; i += vf_grid_threads()) {
    int p = (int)((i / stride) % d);
    int t0 = p - r > 0 ? p - r : 0, t1 = p + r < d - 1 ? p + r : d - 1;
    long long first = i + (long long)(t0 - p) * stride;
    double q[5];
VF_UNROLL
    for (int f = 0; f < 5; f++) {
      const double* sf = s + f * total + first;
      double acc = 0.0;
      for (int t = 0; t <= t1 - t0; t++) acc += sf[t * stride];
      q[f] = acc;
    }
    double mu_a = q[0] / n, mu_b = q[1] / n;
    double var_a = q[2] - q[0] * mu_a, var_b = q[3] - q[1] * mu_b;
    double cross = q[4] - q[0] * mu_b;
    double den = fmax(var_a, 0.0) * fmax(var_b, 0.0) + VF_LNCC_EPS;
    if (mode == 0) {
      out[i] = (float)(cross * cross / den);
    } else {
      double* c = reinterpret_cast<double*>(out);
      double alpha = 2.0 * cross / den * k;
      double t = 2.0 * cross * cross / (den * den) * k;
      // The derivative of max(var, 0) is 0 where rounding made the variance negative.
      double beta_a = var_a > 0.0 ? t * fmax(var_b, 0.0) : 0.0;
      double beta_b = var_b > 0.0 ? t * fmax(var_a, 0.0) : 0.0;
      c[i] = alpha;
      c[total + i] = alpha * mu_b;
      c[2 * total + i] = alpha * mu_a;
      c[3 * total + i] = beta_a;
      c[4 * total + i] = beta_a * mu_a;
      c[5 * total + i] = beta_b;
      c[6 * total + i] = beta_b * mu_b;
    }
  }
}
VF_EXPORT(vf_lncc_window, 64);

// The D pass of the seven coefficient fields (already summed over W and H) and the gradient:
// da = b·t0 - t1 - a·t3 + t4, db = a·t0 - t2 - b·t5 + t6.
extern "C" __global__ void vf_lncc_grad(float* da, float* db, const float* coef, const float* a,
                                        const float* b, long long total, int d,
                                        long long stride, int r) {
  const double* s = reinterpret_cast<const double*>(coef);
  for (long long i = vf_global_index(); i < total; i += vf_grid_threads()) {
    int p = (int)((i / stride) % d);
    int t0 = p - r > 0 ? p - r : 0, t1 = p + r < d - 1 ? p + r : d - 1;
    long long first = i + (long long)(t0 - p) * stride;
    double q[7];
VF_UNROLL
    for (int f = 0; f < 7; f++) {
      const double* sf = s + f * total + first;
      double acc = 0.0;
      for (int t = 0; t <= t1 - t0; t++) acc += sf[t * stride];
      q[f] = acc;
    }
    double av = a[i], bv = b[i];
    da[i] = (float)(bv * q[0] - q[1] - av * q[3] + q[4]);
    db[i] = (float)(av * q[0] - q[2] - bv * q[5] + q[6]);
  }
}
VF_EXPORT(vf_lncc_grad, 64);
