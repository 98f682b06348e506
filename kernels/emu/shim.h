// shim.h: the CUDA C++ subset voxflow's kernels use, defined for an ordinary C++17 compiler so
// that the emulator (Device::Emu) can run the same kernel sources on the CPU.
//
// A kernel runs as one fiber per CUDA thread, blocks one after another (scheduler.cpp).
// Supported: threadIdx/blockIdx/blockDim/gridDim, __syncthreads, __syncwarp, warp shuffles,
// __ballot_sync/__any_sync/__all_sync with full-warp masks, atomics (blocks never run
// concurrently inside a launch, so plain read-modify-write is atomic here), static and dynamic
// shared memory through VF_SHARED / VF_DYNAMIC_SHARED (bounds-checked), the math functions
// below. Anything else must sit behind `#ifdef __CUDA_ARCH__` with a portable path.
// Errors (barrier divergence, shared-memory index out of bounds, VF_ASSERT) end the launch
// with a message instead of hanging or corrupting memory.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>
#include <type_traits>
#include <utility>

struct dim3 {
  unsigned x, y, z;
};
typedef dim3 uint3;

namespace vf_emu {

// ---- scheduler interface (scheduler.cpp) ----
const dim3& thread_idx();
const dim3& block_idx();
const dim3& block_dim();
const dim3& grid_dim();
[[noreturn]] void fail(const char* fmt, ...);
void syncthreads();
// Publishes `v` for this lane, waits for every lane of the warp, and returns the warp's slots.
const uint64_t* warp_publish(uint64_t v, unsigned mask, const char* what);
// Waits for every lane of the warp (so published slots may be reused).
void warp_wait(unsigned mask, const char* what);
// Shared memory of the running launch: one region per declaration (`key`), `bytes` long.
void* static_shared(const void* key, size_t bytes, const char* name);
void* dynamic_shared(size_t* bytes);

// A bounds-checked view of shared memory.
template <class T>
struct Checked {
  T* base;
  long long len;
  const char* name;
  template <class I>
  T& operator[](I i) const {
    long long k = static_cast<long long>(i);
    if (k < 0 || k >= len) {
      fail("shared memory `%s`: index %lld out of bounds [0, %lld)", name, k, len);
    }
    return base[k];
  }
  template <class I>
  Checked operator+(I off) const {
    long long k = static_cast<long long>(off);
    if (k < 0 || k > len) {
      fail("shared memory `%s`: offset %lld out of bounds [0, %lld]", name, k, len);
    }
    return Checked{base + k, len - k, name};
  }
};

// ---- typed kernel entry points ----
template <class T>
struct SigCode;
template <> struct SigCode<int> { static constexpr const char* s = "i32"; };
template <> struct SigCode<unsigned> { static constexpr const char* s = "u32"; };
template <> struct SigCode<long long> { static constexpr const char* s = "i64"; };
template <> struct SigCode<unsigned long long> { static constexpr const char* s = "u64"; };
template <> struct SigCode<float> { static constexpr const char* s = "f32"; };
template <> struct SigCode<float*> { static constexpr const char* s = "*f32"; };
template <> struct SigCode<const float*> { static constexpr const char* s = "*f32"; };
template <> struct SigCode<int*> { static constexpr const char* s = "*i32"; };
template <> struct SigCode<const int*> { static constexpr const char* s = "*i32"; };
template <> struct SigCode<unsigned*> { static constexpr const char* s = "*u32"; };
template <> struct SigCode<const unsigned*> { static constexpr const char* s = "*u32"; };
template <> struct SigCode<unsigned long long*> { static constexpr const char* s = "*u64"; };
template <> struct SigCode<const unsigned long long*> { static constexpr const char* s = "*u64"; };
template <> struct SigCode<long long*> { static constexpr const char* s = "*i64"; };
template <> struct SigCode<const long long*> { static constexpr const char* s = "*i64"; };

// "a,b,c": one code per parameter, as the Rust launch table spells them.
template <class... A>
const char* signature(void (*)(A...)) {
  static const char* codes[] = {SigCode<std::remove_cv_t<A>>::s..., nullptr};
  static char buf[512];
  size_t at = 0;
  buf[0] = 0;
  for (size_t i = 0; codes[i]; i++) {
    size_t n = strlen(codes[i]);
    if (at + n + 2 >= sizeof buf) break;
    if (i) buf[at++] = ',';
    memcpy(buf + at, codes[i], n);
    at += n;
    buf[at] = 0;
  }
  return buf;
}

// Calls `k` with its arguments read from a cuLaunchKernel-style array of pointers.
template <class... A, size_t... I>
void invoke_at(void (*k)(A...), void** p, std::index_sequence<I...>) {
  k(*static_cast<std::remove_cv_t<A>*>(p[I])...);
}
template <class... A>
void invoke(void (*k)(A...), void** p) {
  invoke_at(k, p, std::index_sequence_for<A...>{});
}

}  // namespace vf_emu

// ---- CUDA keywords and built-in variables ----
#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __noinline__
#define __restrict__ __restrict
#define __launch_bounds__(...)
#define __align__(n) alignas(n)
#define __shared__ use_VF_SHARED_or_VF_DYNAMIC_SHARED_instead_of___shared__
#define threadIdx (vf_emu::thread_idx())
#define blockIdx (vf_emu::block_idx())
#define blockDim (vf_emu::block_dim())
#define gridDim (vf_emu::grid_dim())
#define warpSize 32

#define VF_SHARED(T, name, n)                                                                \
  static const char vf_shared_key_##name = 0;                                                \
  const vf_emu::Checked<T> name{                                                             \
      static_cast<T*>(vf_emu::static_shared(&vf_shared_key_##name, sizeof(T) * (n), #name)), \
      (long long)(n), #name}
#define VF_DYNAMIC_SHARED(T, name)                                     \
  size_t vf_dyn_bytes_##name = 0;                                      \
  const vf_emu::Checked<T> name{                                       \
      static_cast<T*>(vf_emu::dynamic_shared(&vf_dyn_bytes_##name)),   \
      (long long)(vf_dyn_bytes_##name / sizeof(T)), #name}
#define VF_EXPORT(name, registers)                                                       \
  extern "C" void vf_emu_entry_##name(void** p) { vf_emu::invoke(name, p); }             \
  extern "C" const char* vf_emu_sig_##name() { return vf_emu::signature(name); }          \
  static_assert((registers) > 0, "a register budget")
#define VF_ASSERT(cond)                                                             \
  do {                                                                              \
    if (!(cond)) vf_emu::fail("assertion failed: %s (%s:%d)", #cond, __FILE__, __LINE__); \
  } while (0)

inline void __syncthreads() { vf_emu::syncthreads(); }
inline void __syncwarp(unsigned mask = 0xffffffffu) { vf_emu::warp_wait(mask, "__syncwarp"); }

// ---- warp-level primitives ----
template <class T>
inline uint64_t vf_bits(T v) {
  static_assert(sizeof(T) <= 8, "shuffled values are at most 8 bytes");
  uint64_t b = 0;
  memcpy(&b, &v, sizeof(T));
  return b;
}
template <class T>
inline T vf_unbits(uint64_t b) {
  T v;
  memcpy(&v, &b, sizeof(T));
  return v;
}
inline unsigned vf_lane() {
  const dim3& t = vf_emu::thread_idx();
  const dim3& b = vf_emu::block_dim();
  return ((t.z * b.y + t.y) * b.x + t.x) % 32u;
}
template <class T>
inline T vf_shuffle_from(unsigned mask, T v, int src, const char* what) {
  const uint64_t* slots = vf_emu::warp_publish(vf_bits(v), mask, what);
  T r = vf_unbits<T>(slots[src & 31]);
  vf_emu::warp_wait(mask, what);
  return r;
}
template <class T>
inline T __shfl_sync(unsigned mask, T v, int src, int width = 32) {
  int lane = (int)vf_lane();
  return vf_shuffle_from(mask, v, (lane & ~(width - 1)) + (src & (width - 1)), "__shfl_sync");
}
template <class T>
inline T __shfl_down_sync(unsigned mask, T v, unsigned delta, int width = 32) {
  int lane = (int)vf_lane();
  int seg = lane & (width - 1);
  int src = seg + (int)delta < width ? lane + (int)delta : lane;
  return vf_shuffle_from(mask, v, src, "__shfl_down_sync");
}
template <class T>
inline T __shfl_up_sync(unsigned mask, T v, unsigned delta, int width = 32) {
  int lane = (int)vf_lane();
  int seg = lane & (width - 1);
  int src = seg - (int)delta >= 0 ? lane - (int)delta : lane;
  return vf_shuffle_from(mask, v, src, "__shfl_up_sync");
}
template <class T>
inline T __shfl_xor_sync(unsigned mask, T v, int lane_mask, int width = 32) {
  int lane = (int)vf_lane();
  int src = lane ^ lane_mask;
  if ((src & ~(width - 1)) != (lane & ~(width - 1))) src = lane;
  return vf_shuffle_from(mask, v, src, "__shfl_xor_sync");
}
inline unsigned __ballot_sync(unsigned mask, int pred) {
  const uint64_t* slots = vf_emu::warp_publish(pred ? 1 : 0, mask, "__ballot_sync");
  unsigned r = 0;
  for (unsigned i = 0; i < 32; i++)
    if (((mask >> i) & 1u) && slots[i]) r |= 1u << i;
  vf_emu::warp_wait(mask, "__ballot_sync");
  return r;
}
inline int __any_sync(unsigned mask, int pred) { return __ballot_sync(mask, pred) != 0; }
inline int __all_sync(unsigned mask, int pred) {
  return (__ballot_sync(mask, pred) & mask) == mask;
}

// ---- atomics (a launch runs on one OS thread, fibers switch only at barriers) ----
template <class T>
inline T atomicAdd(T* p, T v) {
  T old = *p;
  *p = old + v;
  return old;
}
template <class T>
inline T atomicMax(T* p, T v) {
  T old = *p;
  if (v > old) *p = v;
  return old;
}
template <class T>
inline T atomicMin(T* p, T v) {
  T old = *p;
  if (v < old) *p = v;
  return old;
}
template <class T>
inline T atomicExch(T* p, T v) {
  T old = *p;
  *p = v;
  return old;
}
template <class T>
inline T atomicCAS(T* p, T cmp, T v) {
  T old = *p;
  if (old == cmp) *p = v;
  return old;
}
inline void __threadfence() {}
inline void __threadfence_block() {}

// ---- math and bit intrinsics ----
inline float rsqrtf(float x) { return 1.0f / sqrtf(x); }
inline float __expf(float x) { return expf(x); }
inline float __logf(float x) { return logf(x); }
inline float __fdividef(float a, float b) { return a / b; }
inline float __saturatef(float x) { return x < 0.f ? 0.f : (x > 1.f ? 1.f : x); }
inline float __fmul_rn(float a, float b) { return a * b; }
inline float __fadd_rn(float a, float b) { return a + b; }
inline int __float_as_int(float x) { int i; memcpy(&i, &x, 4); return i; }
inline float __int_as_float(int i) { float x; memcpy(&x, &i, 4); return x; }
inline unsigned __float_as_uint(float x) { unsigned i; memcpy(&i, &x, 4); return i; }
inline float __uint_as_float(unsigned i) { float x; memcpy(&x, &i, 4); return x; }
inline long long __double2ll_rn(double x) { return llrint(x); }
inline long long __float2ll_rn(float x) { return llrintf(x); }
inline int __float2int_rd(float x) { return (int)floorf(x); }
inline int __popc(unsigned x) { return __builtin_popcount(x); }
inline int __ffs(int x) { return __builtin_ffs(x); }
inline int __clz(int x) { return x == 0 ? 32 : __builtin_clz((unsigned)x); }
template <class T>
inline T __ldg(const T* p) { return *p; }
inline int min(int a, int b) { return a < b ? a : b; }
inline int max(int a, int b) { return a > b ? a : b; }
inline unsigned min(unsigned a, unsigned b) { return a < b ? a : b; }
inline unsigned max(unsigned a, unsigned b) { return a > b ? a : b; }
inline long long min(long long a, long long b) { return a < b ? a : b; }
inline long long max(long long a, long long b) { return a > b ? a : b; }
inline float min(float a, float b) { return fminf(a, b); }
inline float max(float a, float b) { return fmaxf(a, b); }
