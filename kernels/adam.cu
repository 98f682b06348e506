// adam.cu: the Adam update (Keras 2 form), elementwise:
//   m' = β1·m + (1 - β1)·g,  v' = β2·v + (1 - β2)·g·g,  p' = p - lr_t·m'/(√v' + ε)
// in f32 with the CPU's operation order and no contraction into FMA (__fmul_rn/__fadd_rn), so
// the result matches ops/adam/cpu.rs bitwise (sqrtf and the division are IEEE-rounded).
//
// Launch shape: grid-stride loop, 256 threads per block (LaunchCfg::elementwise).
// Cost (V values): ~12 FLOP per value; reads 16·V bytes, writes 12·V bytes (memory-bound).
#include "common.cuh"

extern "C" __global__ void vf_adam(float* p_out, float* m_out, float* v_out, const float* p,
                                   const float* g, const float* m, const float* v, long long len,
                                   float lr_t, float beta1, float beta2, float eps) {
  float c1 = 1.f - beta1, c2 = 1.f - beta2;
  for (long long i = vf_global_index(); i < len; i += vf_grid_threads()) {
    float gi = g[i];
    float mi = __fadd_rn(__fmul_rn(beta1, m[i]), __fmul_rn(c1, gi));
    float vi = __fadd_rn(__fmul_rn(beta2, v[i]), __fmul_rn(__fmul_rn(c2, gi), gi));
    float step = __fmul_rn(lr_t, mi) / (sqrtf(vi) + eps);
    m_out[i] = mi;
    v_out[i] = vi;
    p_out[i] = p[i] - step;
  }
}
VF_EXPORT(vf_adam, 40);
