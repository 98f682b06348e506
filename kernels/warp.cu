// warp.cu: the spatial transformer: the cumulative sum that integrates a gradient field into
// coordinates, the affine map about the volume centre and its gradient, trilinear sampling and
// its gradients to the coordinates and to the image.
//
// Launch shapes (256-thread blocks):
// - vf_cumsum: one thread per line (outer × inner columns), consecutive threads on consecutive
//   columns (coalesced), looping down the `len` rows. 1 FLOP, 8 bytes per value.
// - vf_affine_grid: one thread per point. 18 FLOP, 24 bytes per point.
// - vf_affine_grid_bwd_partial: grid (blocks of kAffPoints points, samples); writes dgrid and
//   one f64 partial of the 12 dtheta sums per block (fixed shared-memory tree);
//   vf_affine_grid_bwd_final adds the partials in block order. ~45 FLOP, 36 bytes per point.
// - vf_grid_sample / vf_grid_sample_bwd: one thread per output voxel, looping over channels
//   (the 8 corner reads of a voxel are c-contiguous). ~30 FLOP and 8 corner reads (mostly
//   cached: neighbouring voxels share corners) + 16 bytes per voxel and channel; the backward
//   computes both gradients in the same pass (~80 FLOP, 8 corner reads and 8 atomics, into
//   shared memory when the block's 16×4×4-voxel output tile maps into at most 2048 image
//   cells, then one global atomic per touched cell), one block of 256 threads per tile. Index
//   math is 32-bit (64-bit integer arithmetic is emulated and dominated these kernels): the
//   host refuses sizes whose indices do not fit.
// - vf_grid_sample_bwd_coords: dcoords alone, launched like vf_grid_sample (when the image is
//   not tracked, as a registration's moving image is not): ~60 FLOP and 8 corner reads
//   (mostly cached) + 32 bytes per voxel with one channel.
// - The image gradient is a scatter, made deterministic without float atomics: every
//   contribution w·dy is rounded to a 64-bit fixed-point integer with a power-of-two scale
//   2^(61−e), where Σ|dy| < 2^e (read from the device, computed by the loss family's
//   reduction), and added with integer atomics, which give the same bits in any order
//   (in vf_grid_sample_bwd); vf_fixed_to_float converts back.
//   Trilinear weights sum to at most 1, so no sum can overflow; each contribution is exact to
//   Σ|dy|·2^-61 absolute.
#include "common.cuh"

#define VF_PAD_BORDER 0
#define VF_PAD_ZEROS 1

// Points per partial of the dtheta reduction (must match AFFINE_POINTS in ops/warp/gpu.rs).
#define kAffPoints 4096

extern "C" __global__ void vf_cumsum(float* y, const float* x, long long outer, int len,
                                     long long inner, int reverse) {
  long long lines = outer * inner;
  for (long long t = vf_global_index(); t < lines; t += vf_grid_threads()) {
    long long o = t / inner, col = t % inner;
    const float* xs = x + o * len * inner + col;
    float* ys = y + o * len * inner + col;
    float acc = 0.f;
    for (int step = 0; step < len; step++) {
      int l = reverse ? len - 1 - step : step;
      acc = step == 0 ? xs[(long long)l * inner] : acc + xs[(long long)l * inner];
      ys[(long long)l * inner] = acc;
    }
  }
}
VF_EXPORT(vf_cumsum, 40);

extern "C" __global__ void vf_affine_grid(float* y, const float* grid, const float* theta,
                                          long long points_per_sample, long long points,
                                          float cx, float cy, float cz) {
  for (long long p = vf_global_index(); p < points; p += vf_grid_threads()) {
    const float* a = theta + (p / points_per_sample) * 12;
    float q0 = grid[3 * p] - cx, q1 = grid[3 * p + 1] - cy, q2 = grid[3 * p + 2] - cz;
    y[3 * p] = a[0] * q0 + a[1] * q1 + a[2] * q2 + a[3] + cx;
    y[3 * p + 1] = a[4] * q0 + a[5] * q1 + a[6] * q2 + a[7] + cy;
    y[3 * p + 2] = a[8] * q0 + a[9] * q1 + a[10] * q2 + a[11] + cz;
  }
}
VF_EXPORT(vf_affine_grid, 40);

// dgrid = Aᵀ·dy per point; partial[(sample·blocks + block)·12 + 4r + k] (doubles) =
// Σ over the block's points of dy_r · (p − centre, 1)_k.
extern "C" __global__ void vf_affine_grid_bwd_partial(float* dgrid, float* partial,
                                                      const float* grid, const float* theta,
                                                      const float* dy,
                                                      long long points_per_sample, float cx,
                                                      float cy, float cz) {
  VF_SHARED(double, red, 256);
  int blocks = gridDim.x;
  long long sample = blockIdx.y;
  const float* a = theta + sample * 12;
  long long p0 = sample * points_per_sample + (long long)blockIdx.x * kAffPoints;
  long long p1 = p0 + kAffPoints;
  long long end = (sample + 1) * points_per_sample;
  if (p1 > end) p1 = end;
  double acc[12];
  for (int k = 0; k < 12; k++) acc[k] = 0.0;
  for (long long p = p0 + threadIdx.x; p < p1; p += 256) {
    float d0 = dy[3 * p], d1 = dy[3 * p + 1], d2 = dy[3 * p + 2];
    for (int k = 0; k < 3; k++) dgrid[3 * p + k] = a[k] * d0 + a[4 + k] * d1 + a[8 + k] * d2;
    double q[4] = {(double)(grid[3 * p] - cx), (double)(grid[3 * p + 1] - cy),
                   (double)(grid[3 * p + 2] - cz), 1.0};
    double d[3] = {(double)d0, (double)d1, (double)d2};
    for (int r = 0; r < 3; r++)
      for (int k = 0; k < 4; k++) acc[4 * r + k] += d[r] * q[k];
  }
  int t = threadIdx.x;
  for (int k = 0; k < 12; k++) {
    red[t] = acc[k];
    __syncthreads();
    for (int half = 128; half > 0; half /= 2) {
      if (t < half) red[t] += red[t + half];
      __syncthreads();
    }
    if (t == 0) {
      reinterpret_cast<double*>(partial)[(sample * blocks + blockIdx.x) * 12 + k] = red[0];
    }
    __syncthreads();
  }
}
VF_EXPORT(vf_affine_grid_bwd_partial, 80);

extern "C" __global__ void vf_affine_grid_bwd_final(float* dtheta, const float* partial,
                                                    int blocks, int samples) {
  long long i = vf_global_index();
  if (i >= (long long)samples * 12) return;
  long long sample = i / 12, k = i % 12;
  const double* p = reinterpret_cast<const double*>(partial);
  double s = 0.0;
  for (int b = 0; b < blocks; b++) s += p[(sample * blocks + b) * 12 + k];
  dtheta[i] = (float)s;
}
VF_EXPORT(vf_affine_grid_bwd_final, 32);

// Linear interpolation along one axis (the CPU's `Lerp`): corners i0, i1 (valid where ok0/ok1),
// weights w0, w1, and dw = ∂w1/∂x (0 where a border clamp is active).
struct VfLerp {
  int i0, i1;
  bool ok0, ok1;
  float w0, w1, dw;
};

__device__ __forceinline__ VfLerp vf_lerp(float x, int size, int padding) {
  VfLerp l;
  if (padding == VF_PAD_ZEROS) {
    float xr = fminf(fmaxf(x, -2.f), (float)size);
    if (x != x) xr = -2.f;  // NaN reads zero
    int t = (int)xr;
    int lo = ((float)t > xr) ? t - 1 : t;
    float f = xr - (float)lo;
    l.ok0 = lo >= 0 && lo < size;
    l.ok1 = lo >= -1 && lo + 1 < size;
    l.i0 = l.ok0 ? lo : 0;
    l.i1 = l.ok1 ? lo + 1 : 0;
    l.w0 = 1.f - f;
    l.w1 = f;
    l.dw = 1.f;
    return l;
  }
  if (size == 1) {
    l.i0 = 0;
    l.i1 = 0;
    l.ok0 = true;
    l.ok1 = false;
    l.w0 = 1.f;
    l.w1 = 0.f;
    l.dw = 0.f;
    return l;
  }
  float hi = (float)(size - 1);
  bool inside = x >= 0.f && x <= hi;
  float xc = fminf(fmaxf(x, 0.f), hi);
  if (x != x) xc = 0.f;
  int lo = (int)xc;
  if (lo > size - 2) lo = size - 2;
  float f = xc - (float)lo;
  l.i0 = lo;
  l.i1 = lo + 1;
  l.ok0 = true;
  l.ok1 = true;
  l.w0 = 1.f - f;
  l.w1 = f;
  l.dw = inside ? 1.f : 0.f;
  return l;
}

// The 8 corners of one output voxel in the order (z, y, x), x fastest.
struct VfCorners {
  int off[8];  // 32-bit: the host checks that every index fits
  bool ok[8];
  VfLerp lx, ly, lz;
};

__device__ __forceinline__ void vf_corners(VfCorners& k, const float* p, int di, int hi, int wi,
                                           int c, int padding) {
  k.lx = vf_lerp(p[0], wi, padding);
  k.ly = vf_lerp(p[1], hi, padding);
  k.lz = vf_lerp(p[2], di, padding);
  for (int j = 0; j < 8; j++) {
    int a = j >> 2, b = (j >> 1) & 1, e = j & 1;
    int z = a ? k.lz.i1 : k.lz.i0, y = b ? k.ly.i1 : k.ly.i0, x = e ? k.lx.i1 : k.lx.i0;
    k.off[j] = ((z * hi + y) * wi + x) * c;
    k.ok[j] = (a ? k.lz.ok1 : k.lz.ok0) && (b ? k.ly.ok1 : k.ly.ok0) && (e ? k.lx.ok1 : k.lx.ok0);
  }
}

__device__ __forceinline__ void vf_values(const VfCorners& k, const float* img, int ch,
                                          float* v) {
  for (int j = 0; j < 8; j++) v[j] = k.ok[j] ? img[k.off[j] + ch] : 0.f;
}

__device__ __forceinline__ float vf_interp(const VfCorners& k, const float* v) {
  float r0 = k.lx.w0 * v[0] + k.lx.w1 * v[1], r1 = k.lx.w0 * v[2] + k.lx.w1 * v[3];
  float r2 = k.lx.w0 * v[4] + k.lx.w1 * v[5], r3 = k.lx.w0 * v[6] + k.lx.w1 * v[7];
  float p0 = k.ly.w0 * r0 + k.ly.w1 * r1, p1 = k.ly.w0 * r2 + k.ly.w1 * r3;
  return k.lz.w0 * p0 + k.lz.w1 * p1;
}

// ∂interp/∂(x, y, z) at one channel's corner values `v`, zero along a clamped axis (the CPU's
// `Corners::grad`).
__device__ __forceinline__ void vf_interp_grad(const VfCorners& k, const float* v, float* g) {
  float r00 = k.lx.w0 * v[0] + k.lx.w1 * v[1], r01 = k.lx.w0 * v[2] + k.lx.w1 * v[3];
  float r10 = k.lx.w0 * v[4] + k.lx.w1 * v[5], r11 = k.lx.w0 * v[6] + k.lx.w1 * v[7];
  float gx = k.lz.w0 * (k.ly.w0 * (v[1] - v[0]) + k.ly.w1 * (v[3] - v[2])) +
             k.lz.w1 * (k.ly.w0 * (v[5] - v[4]) + k.ly.w1 * (v[7] - v[6]));
  float gy = k.lz.w0 * (r01 - r00) + k.lz.w1 * (r11 - r10);
  float p0 = k.ly.w0 * r00 + k.ly.w1 * r01, p1 = k.ly.w0 * r10 + k.ly.w1 * r11;
  g[0] = gx * k.lx.dw;
  g[1] = gy * k.ly.dw;
  g[2] = (p1 - p0) * k.lz.dw;
}

extern "C" __global__ void vf_grid_sample(float* out, const float* img, const float* coords,
                                          int vout, int voxels, int di, int hi, int wi, int c,
                                          int padding) {
  for (int o = blockIdx.x * blockDim.x + threadIdx.x; o < voxels; o += gridDim.x * blockDim.x) {
    const float* im = img + (o / vout) * (di * hi * wi * c);
    VfCorners k;
    vf_corners(k, coords + 3 * o, di, hi, wi, c, padding);
    float v[8];
    for (int ch = 0; ch < c; ch++) {
      vf_values(k, im, ch, v);
      out[o * c + ch] = vf_interp(k, v);
    }
  }
}
VF_EXPORT(vf_grid_sample, 96);

// The fixed-point scale 2^(61 − e) with Σ|dy| < 2^e; 1 when the sum is 0 or not finite.
__device__ __forceinline__ double vf_fixed_scale(const float* sabs) {
  double s = (double)sabs[0];
  if (!(s > 0.0) || s > 1e300) return 1.0;
  int e;
  frexp(s, &e);
  return ldexp(1.0, 61 - e);
}

// The backward's output tile per block: kBwdX × kBwdY × kBwdZ voxels, one thread each (x
// fastest, so a warp reads two 16-voxel rows of coordinates), and the capacity of the block's
// shared fixed-point accumulator in image cells (16 KB).
#define kBwdX 16
#define kBwdY 4
#define kBwdZ 4
#define kBwdThreads (kBwdX * kBwdY * kBwdZ)
#define kBwdCells 2048

// Smallest and largest index of a valid corner along one axis (empty: INT_MAX, INT_MIN).
__device__ __forceinline__ void vf_axis_span(const VfLerp& l, int& lo, int& hi) {
  lo = 0x7fffffff;
  hi = -0x7fffffff - 1;
  if (l.ok0) lo = hi = l.i0;
  if (l.ok1) {
    lo = min(lo, l.i1);
    hi = max(hi, l.i1);
  }
}

// Both gradients in one pass over the output voxels, one block per output tile (grid-stride
// over tiles): dcoords by gather, and the image gradient as fixed-point integers (see the file
// header). A smooth field maps a tile into a small box of image cells, which the tile's 8·256
// corner contributions share: when the box fits kBwdCells, they are added in shared memory
// first and each touched cell goes to `acc` with one global atomic; otherwise (scattered
// coordinates) straight to `acc`. Integer sums do not depend on order, so both paths give the
// same bits.
extern "C" __global__ void vf_grid_sample_bwd(float* dcoords, unsigned long long* acc,
                                              const float* img, const float* coords,
                                              const float* dy, const float* sabs, int n,
                                              int dout, int hout, int wout, int di, int hi,
                                              int wi, int c, int padding) {
  VF_SHARED(unsigned long long, cell, kBwdCells);
  VF_SHARED(int, span, 6 * (kBwdThreads / 32));  // per warp: lo z, y, x, hi z, y, x
  VF_ASSERT(blockDim.x == kBwdThreads);  // the host launches BWD_TILE-sized blocks
  double scale = vf_fixed_scale(sabs);
  int t = threadIdx.x, lane = t & 31, warp = t >> 5;
  int tx = t % kBwdX, ty = (t / kBwdX) % kBwdY, tz = t / (kBwdX * kBwdY);
  int nx = (wout + kBwdX - 1) / kBwdX, ny = (hout + kBwdY - 1) / kBwdY;
  int nz = (dout + kBwdZ - 1) / kBwdZ;
  int tiles = n * nz * ny * nx;  // ≤ voxels, which the host checked fits an int
  int vout = dout * hout * wout;
  for (int tile = blockIdx.x; tile < tiles; tile += gridDim.x) {
    int s = tile / (nz * ny * nx), r = tile % (nz * ny * nx);
    int x = (r % nx) * kBwdX + tx, y = ((r / nx) % ny) * kBwdY + ty;
    int z = (r / (nx * ny)) * kBwdZ + tz;
    bool live = x < wout && y < hout && z < dout;
    int o = s * vout + (z * hout + y) * wout + x;
    int sample_off = s * (di * hi * wi * c);
    const float* im = img + sample_off;
    unsigned long long* a = acc + sample_off;
    VfCorners k;
    int lo[3], up[3];
    for (int i = 0; i < 3; i++) {
      lo[i] = 0x7fffffff;
      up[i] = -0x7fffffff - 1;
    }
    vf_corners(k, coords + 3 * (live ? o : 0), di, hi, wi, c, padding);  // dead: unused
    if (live) {
      vf_axis_span(k.lz, lo[0], up[0]);
      vf_axis_span(k.ly, lo[1], up[1]);
      vf_axis_span(k.lx, lo[2], up[2]);
    }
    // The tile's box of valid corners: warp shuffles, then the warps' spans in shared memory.
    for (int i = 0; i < 3; i++) {
      for (int m = 16; m > 0; m >>= 1) {
        lo[i] = min(lo[i], __shfl_xor_sync(0xffffffffu, lo[i], m));
        up[i] = max(up[i], __shfl_xor_sync(0xffffffffu, up[i], m));
      }
    }
    if (lane == 0) {
      for (int i = 0; i < 3; i++) {
        span[warp * 6 + i] = lo[i];
        span[warp * 6 + 3 + i] = up[i];
      }
    }
    __syncthreads();
    for (int w = 0; w < kBwdThreads / 32; w++) {
      for (int i = 0; i < 3; i++) {
        lo[i] = min(lo[i], span[w * 6 + i]);
        up[i] = max(up[i], span[w * 6 + 3 + i]);
      }
    }
    __syncthreads();  // `span` is read by all before the next tile writes it
    // Block-uniform from here: every thread computed the same box.
    bool empty = up[0] < lo[0] || up[1] < lo[1] || up[2] < lo[2];
    int bd = empty ? 0 : up[0] - lo[0] + 1, bh = empty ? 0 : up[1] - lo[1] + 1;
    int bw = empty ? 0 : up[2] - lo[2] + 1;
    bool shared = !empty && bd <= kBwdCells && bh <= kBwdCells && bd * bh <= kBwdCells &&
                  bw <= kBwdCells && bd * bh * bw <= kBwdCells;
    int cells = shared ? bd * bh * bw : 0;
    float ax = 0.f, ay = 0.f, az = 0.f;
    float v[8];
    for (int ch = 0; ch < c; ch++) {
      for (int i = t; i < cells; i += kBwdThreads) cell[i] = 0ull;
      if (shared) __syncthreads();
      if (live) {
        vf_values(k, im, ch, v);
        float gr[3];
        vf_interp_grad(k, v, gr);
        float d = dy[o * c + ch];
        ax += d * gr[0];
        ay += d * gr[1];
        az += d * gr[2];
        for (int j = 0; j < 8; j++) {
          if (!k.ok[j]) continue;
          int jz = j >> 2, jy = (j >> 1) & 1, jx = j & 1;
          float wz = jz ? k.lz.w1 : k.lz.w0, wy = jy ? k.ly.w1 : k.ly.w0;
          float wx = jx ? k.lx.w1 : k.lx.w0;
          unsigned long long q =
              (unsigned long long)__double2ll_rn((double)(wz * wy * wx * d) * scale);
          if (shared) {
            int cz = (jz ? k.lz.i1 : k.lz.i0) - lo[0], cy = (jy ? k.ly.i1 : k.ly.i0) - lo[1];
            int cx = (jx ? k.lx.i1 : k.lx.i0) - lo[2];
            atomicAdd(&cell[(cz * bh + cy) * bw + cx], q);
          } else {
            atomicAdd(a + k.off[j] + ch, q);
          }
        }
      }
      if (shared) {
        __syncthreads();
        for (int i = t; i < cells; i += kBwdThreads) {
          unsigned long long q = cell[i];
          if (q == 0ull) continue;
          int cz = lo[0] + i / (bh * bw), cy = lo[1] + (i / bw) % bh, cx = lo[2] + i % bw;
          atomicAdd(a + ((cz * hi + cy) * wi + cx) * c + ch, q);
        }
        __syncthreads();  // the cells are flushed before the next channel or tile zeroes them
      }
    }
    if (live) {
      dcoords[3 * o] = ax;
      dcoords[3 * o + 1] = ay;
      dcoords[3 * o + 2] = az;
    }
  }
}
VF_EXPORT(vf_grid_sample_bwd, 96);

// The coordinate gradient alone (the image needs none): the gather half of
// vf_grid_sample_bwd, one thread per output voxel like vf_grid_sample, the same arithmetic in
// the same order (so the same bits).
extern "C" __global__ void vf_grid_sample_bwd_coords(float* dcoords, const float* img,
                                                     const float* coords, const float* dy,
                                                     int vout, int voxels, int di, int hi,
                                                     int wi, int c, int padding) {
  for (int o = blockIdx.x * blockDim.x + threadIdx.x; o < voxels; o += gridDim.x * blockDim.x) {
    const float* im = img + (o / vout) * (di * hi * wi * c);
    VfCorners k;
    vf_corners(k, coords + 3 * o, di, hi, wi, c, padding);
    float ax = 0.f, ay = 0.f, az = 0.f;
    float v[8], gr[3];
    for (int ch = 0; ch < c; ch++) {
      vf_values(k, im, ch, v);
      vf_interp_grad(k, v, gr);
      float d = dy[o * c + ch];
      ax += d * gr[0];
      ay += d * gr[1];
      az += d * gr[2];
    }
    dcoords[3 * o] = ax;
    dcoords[3 * o + 1] = ay;
    dcoords[3 * o + 2] = az;
  }
}
VF_EXPORT(vf_grid_sample_bwd_coords, 64);

extern "C" __global__ void vf_fixed_to_float(float* y, const unsigned long long* acc,
                                             const float* sabs, long long n) {
  double scale = vf_fixed_scale(sabs);
  bool finite = (double)sabs[0] <= 1e300;
  for (long long i = vf_global_index(); i < n; i += vf_grid_threads()) {
    y[i] = finite ? (float)((double)(long long)acc[i] / scale) : __int_as_float(0x7fc00000);
  }
}
VF_EXPORT(vf_fixed_to_float, 40);
