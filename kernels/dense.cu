// dense.cu: the matrix product C[m, n] = op(A)[m, k] · op(B)[k, n] in row-major storage, with
// op(A) = Aᵀ (A stored [k, m]) when trans_a and op(B) = Bᵀ (B stored [n, k]) when trans_b
// (the CPU reference is ops/dense/cpu.rs).
//
// Launch shape: grid (⌈n/32⌉, ⌈m/32⌉), blocks of 16×16 threads; each block computes a 32×32
// tile of C, each thread a 2×2 register block (rows ty, ty+16; columns tx, tx+16). The k axis
// is walked in steps of 16: the block stages a 32×16 slice of op(A) and a 16×32 slice of op(B)
// in shared memory (zero-padded past the matrix edges), loading along the stored rows of each
// operand so that global reads are coalesced for either transpose. Every output element is
// one fmaf chain over k in increasing order: bitwise reproducible.
//
// Cost: 2·m·n·k FLOP; global reads 4·(m·k·⌈n/32⌉ + k·n·⌈m/32⌉) bytes, writes 4·m·n bytes.
#include "common.cuh"

#define kMmTile 32
#define kMmK 16
#define kMmPitch (kMmTile + 1)

extern "C" __global__ void vf_matmul(float* c, const float* a, const float* b, int m, int k,
                                     int n, int trans_a, int trans_b) {
  VF_SHARED(float, as, kMmK * kMmPitch);  // as[kk·pitch + i] = op(A)[row0 + i, k0 + kk]
  VF_SHARED(float, bs, kMmK * kMmPitch);  // bs[kk·pitch + j] = op(B)[k0 + kk, col0 + j]
  int tx = threadIdx.x, ty = threadIdx.y;
  int t = ty * 16 + tx;
  int row0 = blockIdx.y * kMmTile, col0 = blockIdx.x * kMmTile;
  float c00 = 0.f, c01 = 0.f, c10 = 0.f, c11 = 0.f;
  for (int k0 = 0; k0 < k; k0 += kMmK) {
    for (int e = t; e < kMmTile * kMmK; e += 256) {
      int i, kk;
      if (trans_a) {  // A [k, m]: consecutive threads read consecutive i
        i = e % kMmTile;
        kk = e / kMmTile;
      } else {  // A [m, k]: consecutive threads read consecutive kk
        kk = e % kMmK;
        i = e / kMmK;
      }
      int gi = row0 + i, gk = k0 + kk;
      float v = 0.f;
      if (gi < m && gk < k) v = trans_a ? a[(long long)gk * m + gi] : a[(long long)gi * k + gk];
      as[kk * kMmPitch + i] = v;
    }
    for (int e = t; e < kMmTile * kMmK; e += 256) {
      int j, kk;
      if (trans_b) {  // B [n, k]: consecutive threads read consecutive kk
        kk = e % kMmK;
        j = e / kMmK;
      } else {  // B [k, n]: consecutive threads read consecutive j
        j = e % kMmTile;
        kk = e / kMmTile;
      }
      int gj = col0 + j, gk = k0 + kk;
      float v = 0.f;
      if (gj < n && gk < k) v = trans_b ? b[(long long)gj * k + gk] : b[(long long)gk * n + gj];
      bs[kk * kMmPitch + j] = v;
    }
    __syncthreads();
    for (int kk = 0; kk < kMmK; kk++) {
      float a0 = as[kk * kMmPitch + ty], a1 = as[kk * kMmPitch + ty + 16];
      float b0 = bs[kk * kMmPitch + tx], b1 = bs[kk * kMmPitch + tx + 16];
      c00 = fmaf(a0, b0, c00);
      c01 = fmaf(a0, b1, c01);
      c10 = fmaf(a1, b0, c10);
      c11 = fmaf(a1, b1, c11);
    }
    __syncthreads();
  }
  int r0 = row0 + ty, r1 = r0 + 16, j0 = col0 + tx, j1 = j0 + 16;
  if (r0 < m) {
    if (j0 < n) c[(long long)r0 * n + j0] = c00;
    if (j1 < n) c[(long long)r0 * n + j1] = c01;
  }
  if (r1 < m) {
    if (j0 < n) c[(long long)r1 * n + j0] = c10;
    if (j1 < n) c[(long long)r1 * n + j1] = c11;
  }
}
VF_EXPORT(vf_matmul, 72);
