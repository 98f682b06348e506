// conv3d.cu: 3D convolution of channels-last volumes ("same" padding, stride, dilation, odd
// cubic kernel k <= kMaxK) and its gradients to the input (dgrad) and the weight (wgrad), as
// implicit GEMMs with shared-memory tiling and register tiles. Semantics: Conv3dGeom
// (src/backend/geom.rs) and the CPU reference (src/ops/conv3d/cpu.rs).
//
// Notation: input x [n, id, ih, iw, cin], weight w [k, k, k, cin, cout] (DHWIO = the
// [k³·cin, cout] GEMM matrix), output y [n, od, oh, ow, cout], taps t = (td, th, tw),
// input position of output o and tap t: p = o·stride + t·dil - pad.
//
// All three GEMM kernels use one tiling: 128 threads, a block tile of 128 GEMM rows × 32 GEMM
// columns, 16-deep reduction slices staged through double-buffered shared memory (the next
// slice is fetched into registers while the current one is multiplied), and an 8 × 4 register
// tile per thread (thread (tm, tn) = (tid / 8, tid % 8) owns rows tm·8.. and columns tn·4..).
// The A operand is gathered on the fly from the channels-last volume (zero outside it): each
// thread fetches 4 rows × 4 consecutive channels (one 16-byte load per row when the channel
// count is a multiple of 4), consecutive threads on consecutive channels (coalesced). No float atomics anywhere: every
// sum runs in a fixed order, so results are bitwise reproducible.
//
// Per kernel (F = 2·n·out_voxels·k³·cin·cout, the convolution's FLOPs):
//
// vf_conv3d_fprop: y = im2col(x) · w + bias. GEMM M = n·out_voxels, N = cout, K = k³·cin.
//   Grid (ceil(M / 128), ceil(cout / 32), 1). FLOPs F (executed: ceil(cout/32)·32/cout·F).
//   Bytes: x read ≈ ceil(cout/32)·k³·|x| through L1/L2 (DRAM ≈ |x| + |w| + |y|, 4 bytes each).
//
// vf_conv3d_dgrad: dx[i, ci] = Σ_{t, co} dy[o, co] · w[t, ci, co] over the taps t where
//   o = (i + pad - t·dil) / stride is an integer inside the output. Input voxels are split into
//   stride³ residue classes i ≡ r (mod stride); within a class the valid taps are fixed and
//   o = i / stride + (r + pad - t·dil) / stride, so each class is a dense implicit GEMM
//   (M = n·class voxels, N = cin, K = class taps·cout) and the taps a strided transpose would
//   multiply by zero are never visited. Grid (ceil(max class M / 128), ceil(cin / 32), stride³)
//   (blockIdx.z = class; blocks past their class's M exit). FLOPs F. Bytes ≈ |dy| + |w| + |dx|.
//
// vf_conv3d_wgrad_partial: dW[k³·cin, cout] = im2col(x)ᵀ · dy, whose reduction runs over the
//   M = n·out_voxels output voxels. The voxels are cut into fixed chunks of kWgRows; block
//   (kk tile, cout tile, chunk) writes its chunk's [128 × 32] partial to
//   partial[chunk][kk][co]. Grid (ceil(k³·cin / 128), ceil(cout / 32), ceil(M / kWgRows)).
//   FLOPs F. Bytes: |x| + |dy| (+ re-reads through L2) + 4·chunks·k³·cin·cout written.
// vf_conv3d_wgrad_final: dW = Σ over chunks, in chunk order, of the partials. One thread per
//   weight (grid-stride, 256 threads). chunks FLOPs and 4·chunks bytes per weight.
//
// Could be faster (not done): TF32/BF16 tensor cores (mma.sync / wgmma behind __CUDA_ARCH__);
// cp.async for the weight slice and for 16-byte aligned gathers; a BN = 16/8 variant for the
// cout = 1..3 last layers (now 32 columns are computed for 1..3 useful ones); split-K for deep
// layers with few voxels (few row tiles, long K loops); a 2-CTA/larger BM tile (128 × 64) for
// cout >= 64 to halve the redundant re-gathering of x per column tile.
#include "common.cuh"

// Full unrolling of the fixed-trip register-tile loops (the emulator's g++ gets its own spelling).
#ifdef __CUDACC__
#define VF_UNROLL _Pragma("unroll")
#else
#define VF_UNROLL _Pragma("GCC unroll 16")
#endif

#define kBM 128       // GEMM rows per block
#define kBN 32        // GEMM columns per block
#define kBK 16        // reduction depth per shared-memory slice
#define kThreads 128  // threads per block
#define kAS (kBM + 4) // padded row stride of the A slice (keeps 16-byte alignment)
#define kMaxK 7       // largest kernel size (must match MAX_K in ops/conv3d/gpu.rs)
#define kWgRows 1024  // voxels per wgrad chunk (must match WGRAD_ROWS in ops/conv3d/gpu.rs)
#define kOut (1 << 29) // a base coordinate that puts every tap outside the volume

// A float shared array of n (a multiple of 4) values, 16-byte aligned on the GPU so that the
// register-tile loops can read it with float4 loads.
#ifdef __CUDA_ARCH__
#define VF_SHARED_F32X4(name, n)           \
  VF_SHARED(float4, name##_f4, (n) / 4); \
  float* name = reinterpret_cast<float*>(name##_f4)
#else
#define VF_SHARED_F32X4(name, n) VF_SHARED(float, name, n)
#endif

// Geometry, as the kernels receive it.
struct VfConv {
  int n, id, ih, iw, cin, od, oh, ow, cout, k, stride, dil, pd, ph, pw;
};

// acc[i][j] += Σ_r A[r][tm·8 + i] · B[r][tn·4 + j] over one 16-deep slice.
// `P` is `float*` on the GPU and the emulator's bounds-checked shared-memory view.
template <class P>
__device__ __forceinline__ void vf_conv_mma(float (&acc)[8][4], P a, int a_stride, P b) {
VF_UNROLL
  for (int r = 0; r < kBK; r++) {
    float av[8], bv[4];
#ifdef __CUDA_ARCH__
    // 16-byte shared loads (the slices are float4-aligned: see VF_SHARED_F32X4).
    const float4 a0 = *reinterpret_cast<const float4*>(a + r * a_stride);
    const float4 a1 = *reinterpret_cast<const float4*>(a + r * a_stride + 4);
    const float4 b0 = *reinterpret_cast<const float4*>(b + r * kBN);
    av[0] = a0.x, av[1] = a0.y, av[2] = a0.z, av[3] = a0.w;
    av[4] = a1.x, av[5] = a1.y, av[6] = a1.z, av[7] = a1.w;
    bv[0] = b0.x, bv[1] = b0.y, bv[2] = b0.z, bv[3] = b0.w;
#else
    VF_UNROLL
    for (int i = 0; i < 8; i++) av[i] = a[r * a_stride + i];
    VF_UNROLL
    for (int j = 0; j < 4; j++) bv[j] = b[r * kBN + j];
#endif
VF_UNROLL
    for (int i = 0; i < 8; i++)
VF_UNROLL
      for (int j = 0; j < 4; j++) acc[i][j] = fmaf(av[i], bv[j], acc[i][j]);
  }
}

// The fprop (kDgrad = false) and dgrad (kDgrad = true) implicit GEMM:
// out[dest(m), j] = Σ_kk A[m, kk] · B[kk, j] (+ bias[j]), where
//   fprop: rows m = output voxels q, A[m, (t, c)] = x[q·stride + off(t), c] with
//          off(t) = t·dil - pad, B[(t, c), j] = w[t, c, j];
//   dgrad: rows m = input voxels i = r + stride·q of class r (blockIdx.z), A[m, (t, co)] =
//          dy[q + off(t), co] with off(t) = (r + pad - t·dil) / stride over the class's taps,
//          B[(t, co), j] = w[t, j, co].
template <bool kDgrad>
__device__ __forceinline__ void vf_conv_igemm(float* __restrict__ out,
                                              const float* __restrict__ src,
                                              const float* __restrict__ w,
                                              const float* __restrict__ bias, int has_bias,
                                              const VfConv g) {
  VF_SHARED_F32X4(As, 2 * kBK * kAS);  // [buf][kk][m]
  VF_SHARED_F32X4(Bs, 2 * kBK * kBN);  // [buf][kk][j]
  VF_SHARED(int, rinfo, 5 * kBM);        // per row: linear base voxel, base d, h, w, dest row
  VF_SHARED(int, taps, 6 * kMaxK + 3);   // per axis: offsets, kernel indices; tap counts
  const int tid = threadIdx.x;
  const int s = g.stride;
  // Class residue (dgrad) and the row grid q.
  int z = blockIdx.z;
  const int rd = kDgrad ? z / (s * s) : 0, rh = kDgrad ? z / s % s : 0, rw = kDgrad ? z % s : 0;
  const int qd = kDgrad ? (g.id - rd + s - 1) / s : g.od;
  const int qh = kDgrad ? (g.ih - rh + s - 1) / s : g.oh;
  const int qw = kDgrad ? (g.iw - rw + s - 1) / s : g.ow;
  const long long qvox = (long long)qd * qh * qw;
  const long long m_total = (long long)g.n * qvox;
  const long long m0 = (long long)blockIdx.x * kBM;
  if (m0 >= m_total) return;  // the whole block: this class has fewer rows
  // Source volume (A's gather target) and GEMM sizes.
  const int sd = kDgrad ? g.od : g.id, sh = kDgrad ? g.oh : g.ih, sw = kDgrad ? g.ow : g.iw;
  const int C = kDgrad ? g.cout : g.cin;
  const int n_cols = kDgrad ? g.cin : g.cout;
  const int mul = kDgrad ? 1 : s;
  const int n0 = blockIdx.y * kBN;

  if (tid < 3) {
    const int r = tid == 0 ? rd : (tid == 1 ? rh : rw);
    const int pad = tid == 0 ? g.pd : (tid == 1 ? g.ph : g.pw);
    int cnt = 0;
    for (int t = 0; t < g.k; t++) {
      if (!kDgrad) {
        taps[tid * kMaxK + cnt] = t * g.dil - pad;
        taps[3 * kMaxK + tid * kMaxK + cnt] = t;
        cnt++;
      } else {
        const int num = r + pad - t * g.dil;
        if (((num % s) + s) % s == 0) {
          taps[tid * kMaxK + cnt] = num / s;
          taps[3 * kMaxK + tid * kMaxK + cnt] = t;
          cnt++;
        }
      }
    }
    taps[6 * kMaxK + tid] = cnt;
  }
  {
    const long long m = m0 + tid;  // kBM == kThreads: one row per thread
    if (m < m_total) {
      const int nb = (int)(m / qvox);
      const int v = (int)(m - (long long)nb * qvox);
      const int a = v / (qh * qw), b = v / qw % qh, c = v % qw;
      const int bd = a * mul, bh = b * mul, bw = c * mul;
      rinfo[tid] = ((nb * sd + bd) * sh + bh) * sw + bw;
      rinfo[kBM + tid] = bd;
      rinfo[2 * kBM + tid] = bh;
      rinfo[3 * kBM + tid] = bw;
      rinfo[4 * kBM + tid] =
          kDgrad ? ((nb * g.id + rd + s * a) * g.ih + rh + s * b) * g.iw + rw + s * c : (int)m;
    } else {
      rinfo[tid] = 0;
      rinfo[kBM + tid] = -kOut;
      rinfo[2 * kBM + tid] = -kOut;
      rinfo[3 * kBM + tid] = -kOut;
      rinfo[4 * kBM + tid] = -1;
    }
  }
  __syncthreads();
  const int ntd = taps[6 * kMaxK], nth = taps[6 * kMaxK + 1], ntw = taps[6 * kMaxK + 2];
  const int K = ntd * nth * ntw * C;
  const int ntiles = (K + kBK - 1) / kBK;

  // Loader roles: A columns a_c4..a_c4+3 of the slice and rows a_r0 + 32·i (i < 4), whose
  // base coordinates stay in registers; B row b_kk, columns b_j0..b_j0+3.
  const int a_c4 = (tid % 4) * 4, a_r0 = tid / 4;
  const int b_kk = tid / 8, b_j0 = (tid % 8) * 4;
  int rlin[4], rbd[4], rbh[4], rbw[4];
  VF_UNROLL
  for (int i = 0; i < 4; i++) {
    const int r = a_r0 + 32 * i;
    rlin[i] = rinfo[r];
    rbd[i] = rinfo[kBM + r];
    rbh[i] = rinfo[2 * kBM + r];
    rbw[i] = rinfo[3 * kBM + r];
  }
  // 4 consecutive columns are 4 channels of one tap, 16-byte aligned in memory.
  const bool vec4 = C % 4 == 0 && ((unsigned long long)src & 15) == 0;
  float ra[16], rb[4];

  // A[row i, column kk] for the thread's 4 rows into ra[4·i + j].
  auto gather = [&](int kk, int j, bool four) {
    const bool valid = kk < K;
    const int tl = valid ? kk / C : 0;
    const int c = kk - tl * C;
    const int tw = tl % ntw, th = tl / ntw % nth, td = tl / (ntw * nth);
    const int od = taps[td], oh = taps[kMaxK + th], ow = taps[2 * kMaxK + tw];
    const int offlin = (od * sh + oh) * sw + ow;
    VF_UNROLL
    for (int i = 0; i < 4; i++) {
      const int pd = rbd[i] + od, ph = rbh[i] + oh, pw = rbw[i] + ow;
      const bool in = valid && (unsigned)pd < (unsigned)sd && (unsigned)ph < (unsigned)sh &&
                      (unsigned)pw < (unsigned)sw;
      const float* p = src + ((long long)(rlin[i] + offlin) * C + c);
      if (four) {
#ifdef __CUDA_ARCH__
        const float4 v = in ? __ldg(reinterpret_cast<const float4*>(p)) : make_float4(0, 0, 0, 0);
        ra[4 * i] = v.x;
        ra[4 * i + 1] = v.y;
        ra[4 * i + 2] = v.z;
        ra[4 * i + 3] = v.w;
#else
        VF_UNROLL
        for (int q = 0; q < 4; q++) ra[4 * i + q] = in ? p[q] : 0.f;
#endif
      } else {
        ra[4 * i + j] = in ? __ldg(p) : 0.f;
      }
    }
  };

  auto load = [&](int k0) {
    if (vec4) {
      gather(k0 + a_c4, 0, true);  // K is a multiple of 4: all 4 columns valid or none
    } else {
      VF_UNROLL
      for (int j = 0; j < 4; j++) gather(k0 + a_c4 + j, j, false);
    }
    {
      const int kk = k0 + b_kk;
      const bool valid = kk < K;
      if (!kDgrad) {
VF_UNROLL
        for (int j = 0; j < 4; j++) {
          const int col = n0 + b_j0 + j;
          rb[j] = valid && col < n_cols ? __ldg(&w[(long long)kk * g.cout + col]) : 0.f;
        }
      } else {
        const int tl = valid ? kk / C : 0;
        const int co = kk - tl * C;
        const int tw = tl % ntw, th = tl / ntw % nth, td = tl / (ntw * nth);
        const int kl =
            (taps[3 * kMaxK + td] * g.k + taps[4 * kMaxK + th]) * g.k + taps[5 * kMaxK + tw];
VF_UNROLL
        for (int j = 0; j < 4; j++) {
          const int col = n0 + b_j0 + j;
          rb[j] = valid && col < n_cols
                      ? __ldg(&w[((long long)kl * g.cin + col) * g.cout + co])
                      : 0.f;
        }
      }
    }
  };
  auto store = [&](int buf) {
VF_UNROLL
    for (int i = 0; i < 4; i++)
      VF_UNROLL
      for (int j = 0; j < 4; j++)
        As[buf * kBK * kAS + (a_c4 + j) * kAS + a_r0 + 32 * i] = ra[4 * i + j];
VF_UNROLL
    for (int j = 0; j < 4; j++) Bs[buf * kBK * kBN + b_kk * kBN + b_j0 + j] = rb[j];
  };

  const int tm = tid / 8, tn = tid % 8;
  float acc[8][4];
VF_UNROLL
  for (int i = 0; i < 8; i++)
VF_UNROLL
    for (int j = 0; j < 4; j++) acc[i][j] = 0.f;

  if (ntiles > 0) {
    load(0);
    store(0);
  }
  __syncthreads();
  for (int t = 0; t < ntiles; t++) {
    const int buf = t & 1;
    if (t + 1 < ntiles) load((t + 1) * kBK);
    vf_conv_mma(acc, As + (buf * kBK * kAS + tm * 8), kAS, Bs + (buf * kBK * kBN + tn * 4));
    if (t + 1 < ntiles) store(buf ^ 1);
    __syncthreads();
  }

VF_UNROLL
  for (int i = 0; i < 8; i++) {
    const int dest = rinfo[4 * kBM + tm * 8 + i];
    if (dest < 0) continue;
VF_UNROLL
    for (int j = 0; j < 4; j++) {
      const int col = n0 + tn * 4 + j;
      if (col < n_cols) {
        float v = acc[i][j];
        if (!kDgrad && has_bias) v += __ldg(&bias[col]);
        out[(long long)dest * n_cols + col] = v;
      }
    }
  }
}

extern "C" __global__ void __launch_bounds__(kThreads)
    vf_conv3d_fprop(float* y, const float* x, const float* w, const float* bias, int has_bias,
                    int n, int id, int ih, int iw, int cin, int od, int oh, int ow, int cout,
                    int k, int stride, int dil, int pd, int ph, int pw) {
  const VfConv g{n, id, ih, iw, cin, od, oh, ow, cout, k, stride, dil, pd, ph, pw};
  vf_conv_igemm<false>(y, x, w, bias, has_bias, g);
}
VF_EXPORT(vf_conv3d_fprop, 128);

extern "C" __global__ void __launch_bounds__(kThreads)
    vf_conv3d_dgrad(float* dx, const float* dy, const float* w, int n, int id, int ih, int iw,
                    int cin, int od, int oh, int ow, int cout, int k, int stride, int dil,
                    int pd, int ph, int pw) {
  const VfConv g{n, id, ih, iw, cin, od, oh, ow, cout, k, stride, dil, pd, ph, pw};
  vf_conv_igemm<true>(dx, dy, w, w, 0, g);
}
VF_EXPORT(vf_conv3d_dgrad, 128);

// partial[chunk][kk][co] = Σ over the chunk's output voxels m, in order of 16-voxel slices,
// of A[m, kk] · dy[m, co], A = im2col(x) as in the forward pass.
extern "C" __global__ void __launch_bounds__(kThreads)
    vf_conv3d_wgrad_partial(float* partial, const float* x, const float* dy, int n, int id,
                            int ih, int iw, int cin, int od, int oh, int ow, int cout, int k,
                            int stride, int dil, int pd, int ph, int pw) {
  VF_SHARED_F32X4(As, 2 * kBK * kBM);  // [buf][voxel][kk]
  VF_SHARED_F32X4(Bs, 2 * kBK * kBN);  // [buf][voxel][co]
  VF_SHARED(int, rinfo, 4 * kWgRows);    // per voxel: linear base voxel, base d, h, w
  VF_SHARED(int, cinfo, 5 * kBM);        // per A column: tap offsets d, h, w, linear; channel
  const int tid = threadIdx.x;
  const int K = k * k * k * cin;
  const int kk0 = blockIdx.x * kBM, n0 = blockIdx.y * kBN;
  const long long chunk = blockIdx.z;
  const long long ovox = (long long)od * oh * ow;
  const long long m_total = (long long)n * ovox;
  const long long m0 = chunk * kWgRows;
  const int rows = (int)(m_total - m0 < kWgRows ? m_total - m0 : kWgRows);

  for (int r = tid; r < kWgRows; r += kThreads) {
    if (r < rows) {
      const long long m = m0 + r;
      const int nb = (int)(m / ovox);
      const int v = (int)(m - (long long)nb * ovox);
      const int bd = v / (oh * ow) * stride, bh = v / ow % oh * stride, bw = v % ow * stride;
      rinfo[r] = ((nb * id + bd) * ih + bh) * iw + bw;
      rinfo[kWgRows + r] = bd;
      rinfo[2 * kWgRows + r] = bh;
      rinfo[3 * kWgRows + r] = bw;
    } else {
      rinfo[r] = 0;
      rinfo[kWgRows + r] = -kOut;
      rinfo[2 * kWgRows + r] = -kOut;
      rinfo[3 * kWgRows + r] = -kOut;
    }
  }
  // Column decode of the block's 128 A columns (fixed for the whole chunk): tap offsets per
  // axis (kOut when past K), their linear offset, and the channel.
  {
    const int kk = kk0 + tid;
    const bool valid = kk < K;
    const int tl = valid ? kk / cin : 0;
    cinfo[tid] = valid ? tl / (k * k) * dil - pd : -kOut;
    cinfo[kBM + tid] = tl / k % k * dil - ph;
    cinfo[2 * kBM + tid] = tl % k * dil - pw;
    cinfo[3 * kBM + tid] =
        ((tl / (k * k) * dil - pd) * ih + tl / k % k * dil - ph) * iw + tl % k * dil - pw;
    cinfo[4 * kBM + tid] = kk - tl * cin;
  }
  __syncthreads();

  // Loader roles: A rows a_r0 + 4·i (i < 4) and columns a_c4..a_c4+3 of each 16-voxel slice;
  // B row b_r, columns b_j0..b_j0+3.
  const int a_c4 = (tid % 32) * 4, a_r0 = tid / 32;
  const int b_r = tid / 8, b_j0 = (tid % 8) * 4;
  // 4 consecutive columns are 4 channels of one tap, 16-byte aligned in memory.
  const bool vec4 = cin % 4 == 0 && ((unsigned long long)x & 15) == 0;
  const int v_offd = cinfo[a_c4], v_offh = cinfo[kBM + a_c4], v_offw = cinfo[2 * kBM + a_c4],
            v_offlin = cinfo[3 * kBM + a_c4], v_c = cinfo[4 * kBM + a_c4];

  float ra[16], rb[4];
  auto load = [&](int r0) {
    VF_UNROLL
    for (int i = 0; i < 4; i++) {
      const int r = r0 + a_r0 + 4 * i;
      const int lin = rinfo[r], bd = rinfo[kWgRows + r], bh = rinfo[2 * kWgRows + r],
                bw = rinfo[3 * kWgRows + r];
      if (vec4) {
        const bool in = (unsigned)(bd + v_offd) < (unsigned)id &&
                        (unsigned)(bh + v_offh) < (unsigned)ih &&
                        (unsigned)(bw + v_offw) < (unsigned)iw;
        const float* p = x + ((long long)(lin + v_offlin) * cin + v_c);
#ifdef __CUDA_ARCH__
        const float4 v = in ? __ldg(reinterpret_cast<const float4*>(p)) : make_float4(0, 0, 0, 0);
        ra[4 * i] = v.x;
        ra[4 * i + 1] = v.y;
        ra[4 * i + 2] = v.z;
        ra[4 * i + 3] = v.w;
#else
        VF_UNROLL
        for (int q = 0; q < 4; q++) ra[4 * i + q] = in ? p[q] : 0.f;
#endif
      } else {
        VF_UNROLL
        for (int j = 0; j < 4; j++) {
          const int col = a_c4 + j;
          const bool in = (unsigned)(bd + cinfo[col]) < (unsigned)id &&
                          (unsigned)(bh + cinfo[kBM + col]) < (unsigned)ih &&
                          (unsigned)(bw + cinfo[2 * kBM + col]) < (unsigned)iw;
          ra[4 * i + j] =
              in ? __ldg(&x[(long long)(lin + cinfo[3 * kBM + col]) * cin + cinfo[4 * kBM + col]])
                 : 0.f;
        }
      }
    }
    const int r = r0 + b_r;
    VF_UNROLL
    for (int j = 0; j < 4; j++) {
      const int col = n0 + b_j0 + j;
      rb[j] = r < rows && col < cout ? __ldg(&dy[(m0 + r) * cout + col]) : 0.f;
    }
  };
  auto store = [&](int buf) {
    VF_UNROLL
    for (int i = 0; i < 4; i++)
      VF_UNROLL
      for (int j = 0; j < 4; j++)
        As[buf * kBK * kBM + (a_r0 + 4 * i) * kBM + a_c4 + j] = ra[4 * i + j];
    VF_UNROLL
    for (int j = 0; j < 4; j++) Bs[buf * kBK * kBN + b_r * kBN + b_j0 + j] = rb[j];
  };

  const int tm = tid / 8, tn = tid % 8;
  float acc[8][4];
VF_UNROLL
  for (int i = 0; i < 8; i++)
VF_UNROLL
    for (int j = 0; j < 4; j++) acc[i][j] = 0.f;

  const int steps = (rows + kBK - 1) / kBK;
  load(0);
  store(0);
  __syncthreads();
  for (int t = 0; t < steps; t++) {
    const int buf = t & 1;
    if (t + 1 < steps) load((t + 1) * kBK);
    vf_conv_mma(acc, As + (buf * kBK * kBM + tm * 8), kBM, Bs + (buf * kBK * kBN + tn * 4));
    if (t + 1 < steps) store(buf ^ 1);
    __syncthreads();
  }

VF_UNROLL
  for (int i = 0; i < 8; i++) {
    const int row = kk0 + tm * 8 + i;
    if (row >= K) continue;
VF_UNROLL
    for (int j = 0; j < 4; j++) {
      const int col = n0 + tn * 4 + j;
      if (col < cout) partial[(chunk * K + row) * cout + col] = acc[i][j];
    }
  }
}
VF_EXPORT(vf_conv3d_wgrad_partial, 128);

// dw[i] = Σ_{chunk = 0..chunks-1} partial[chunk·len + i], in chunk order.
extern "C" __global__ void vf_conv3d_wgrad_final(float* dw, const float* partial, int chunks,
                                                 long long len) {
  for (long long i = vf_global_index(); i < len; i += vf_grid_threads()) {
    float s = 0.f;
    for (int c = 0; c < chunks; c++) s += partial[c * len + i];
    dw[i] = s;
  }
}
VF_EXPORT(vf_conv3d_wgrad_final, 32);
