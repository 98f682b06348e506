// resample.cu: nearest ×2 upsampling, 2³ max pooling (stride 2), global average pooling and
// channel concatenation/splitting on channels-last volumes, with their gradients.
//
// Launch shapes: every kernel except the pooling reduction is a grid-stride loop with one
// thread per output value, 256 threads per block (LaunchCfg::elementwise); consecutive threads
// own consecutive channels, so reads and writes are coalesced along W·C. Gradients are
// gathers (each thread sums or selects its own value in a fixed order): no atomics.
// Global average pooling itself is the elementwise family's deterministic per-channel sum
// (kernels/elementwise.cu) divided by the voxel count; its backward, vf_gap_bwd, is here.
//
// Cost (v = values of the larger side): upsample 8 bytes per output value, 0 FLOP;
// upsample_bwd up to 8 reads + 1 write per input value, ≤ 7 FLOP; max_pool 8 reads (cached)
// + 1 write per output value, 7 compares; max_pool_bwd 8 reads of x (mostly L1 hits) + 1 of
// dy + 1 write per input value; global_avg_pool 4 bytes and 1 FLOP per value; its backward
// 4 bytes written per value; concat/split 8 bytes per value.
#include "common.cuh"

// y[s, oz, oy, ox, ch] = x[s, oz/2, oy/2, ox/2, ch] over `total` output values.
extern "C" __global__ void vf_upsample(float* y, const float* x, long long total, int id, int ih,
                                       int iw, int od, int oh, int ow, int c) {
  int row_len = ow * c;
  for (long long i = vf_global_index(); i < total; i += vf_grid_threads()) {
    long long row = i / row_len;  // (s, oz, oy)
    int j = (int)(i - row * row_len);
    int ox = j / c, ch = j - ox * c;
    long long so = row / oh;  // (s, oz)
    int oy = (int)(row - so * oh);
    long long s = so / od;
    int oz = (int)(so - s * od);
    long long src = (((s * id + oz / 2) * ih + oy / 2) * iw + ox / 2) * c + ch;
    y[i] = x[src];
  }
}
VF_EXPORT(vf_upsample, 40);

// dx[s, z, y, x, ch] = Σ dy over the ≤ 8 output voxels reading it, in the order (z, y, x).
extern "C" __global__ void vf_upsample_bwd(float* dx, const float* dy, long long total, int id,
                                           int ih, int iw, int od, int oh, int ow, int c) {
  int row_len = iw * c;
  for (long long i = vf_global_index(); i < total; i += vf_grid_threads()) {
    long long row = i / row_len;  // (s, z, y)
    int j = (int)(i - row * row_len);
    int x = j / c, ch = j - x * c;
    long long sz = row / ih;
    int yy = (int)(row - sz * ih);
    long long s = sz / id;
    int z = (int)(sz - s * id);
    float acc = 0.f;
    for (int oz = 2 * z; oz < 2 * z + 2 && oz < od; oz++) {
      for (int oy = 2 * yy; oy < 2 * yy + 2 && oy < oh; oy++) {
        const float* src = dy + ((s * od + oz) * oh + oy) * (long long)ow * c + ch;
        for (int ox = 2 * x; ox < 2 * x + 2 && ox < ow; ox++) acc += src[(long long)ox * c];
      }
    }
    dx[i] = acc;
  }
}
VF_EXPORT(vf_upsample_bwd, 40);

// Index of the first maximum of the 2³ window starting at `base` (scan order d, h, w); a NaN
// counts as the maximum, so it propagates.
__device__ __forceinline__ long long vf_first_max(const float* x, long long base, long long sz,
                                                  long long sy, long long sx) {
  long long best = base;
  float bv = x[base];
  for (int k = 1; k < 8; k++) {
    long long at = base + (k >> 2) * sz + ((k >> 1) & 1) * sy + (k & 1) * sx;
    float v = x[at];
    if (v > bv || (v != v && bv == bv)) {
      best = at;
      bv = v;
    }
  }
  return best;
}

// y = the first maximum of each 2³ window (stride 2, trailing odd plane/row/column dropped).
extern "C" __global__ void vf_max_pool(float* y, const float* x, long long total, int id, int ih,
                                       int iw, int c) {
  int od = id / 2, oh = ih / 2, ow = iw / 2;
  long long sx = c, sy = (long long)iw * c, sz = (long long)ih * iw * c;
  int row_len = ow * c;
  for (long long i = vf_global_index(); i < total; i += vf_grid_threads()) {
    long long row = i / row_len;
    int j = (int)(i - row * row_len);
    int ox = j / c, ch = j - ox * c;
    long long so = row / oh;
    int oy = (int)(row - so * oh);
    long long s = so / od;
    int oz = (int)(so - s * od);
    long long base = (((s * id + 2 * oz) * ih + 2 * oy) * iw + 2 * ox) * c + ch;
    y[i] = x[vf_first_max(x, base, sz, sy, sx)];
  }
}
VF_EXPORT(vf_max_pool, 40);

// dx[i] = dy of i's window when i is that window's first maximum (recomputed from x), else 0;
// one thread per input value (a gather).
extern "C" __global__ void vf_max_pool_bwd(float* dx, const float* x, const float* dy,
                                           long long total, int id, int ih, int iw, int c) {
  int od = id / 2, oh = ih / 2, ow = iw / 2;
  long long sx = c, sy = (long long)iw * c, sz = (long long)ih * iw * c;
  int row_len = iw * c;
  for (long long i = vf_global_index(); i < total; i += vf_grid_threads()) {
    long long row = i / row_len;
    int j = (int)(i - row * row_len);
    int xx = j / c, ch = j - xx * c;
    long long sz_ = row / ih;
    int yy = (int)(row - sz_ * ih);
    long long s = sz_ / id;
    int z = (int)(sz_ - s * id);
    float g = 0.f;
    if (z < 2 * od && yy < 2 * oh && xx < 2 * ow) {
      int oz = z / 2, oy = yy / 2, ox = xx / 2;
      long long base = (((s * id + 2 * oz) * ih + 2 * oy) * iw + 2 * ox) * c + ch;
      if (vf_first_max(x, base, sz, sy, sx) == i) {
        g = dy[(((s * od + oz) * oh + oy) * (long long)ow + ox) * c + ch];
      }
    }
    dx[i] = g;
  }
}
VF_EXPORT(vf_max_pool_bwd, 40);

// dx[s, v, ch] = dy[s, ch] / voxels at every voxel v of sample s.
extern "C" __global__ void vf_gap_bwd(float* dx, const float* dy, long long total, int c,
                                      long long voxels) {
  long long per = voxels * c;
  for (long long i = vf_global_index(); i < total; i += vf_grid_threads()) {
    long long s = i / per;
    int ch = (int)(i % c);
    dx[i] = (float)((double)dy[s * c + ch] / (double)voxels);
  }
}
VF_EXPORT(vf_gap_bwd, 32);

// dst[r·dst_stride + dst_off + j] = src[r·src_stride + src_off + j] for r < rows, j < width:
// one part of a channel concatenation (or split).
extern "C" __global__ void vf_copy_columns(float* dst, const float* src, long long rows,
                                           int width, int dst_stride, int dst_off,
                                           int src_stride, int src_off) {
  long long total = rows * width;
  for (long long i = vf_global_index(); i < total; i += vf_grid_threads()) {
    long long r = i / width;
    int j = (int)(i - r * width);
    dst[r * dst_stride + dst_off + j] = src[r * src_stride + src_off + j];
  }
}
VF_EXPORT(vf_copy_columns, 32);
