// scheduler.cpp: the emulator's deterministic fiber scheduler.
//
// One launch runs on the calling OS thread: blocks in order (x fastest, then y, z), and inside a
// block one fiber per CUDA thread. Fibers are cooperative: a fiber runs until it finishes or
// reaches a barrier (__syncthreads, a warp primitive); the scheduler resumes every runnable
// fiber in thread order, then releases barriers whose participants have all arrived. A barrier
// that can never be released (some threads exited or wait elsewhere) is an error naming the
// threads, not a hang.
//
// Stacks come from makecontext (each with a guard page); switching uses _setjmp/_longjmp,
// which is several times cheaper than swapcontext (no signal-mask system call). Build with
// -U_FORTIFY_SOURCE: glibc's fortified longjmp rejects jumps between stacks.
//
// Shared memory is per launch: each scheduler owns its arena, and schedulers are taken from a
// pool for the length of one launch, so launches on different OS threads never share state.

#include <setjmp.h>
#include <stdarg.h>
#include <stdio.h>
#include <sys/mman.h>
#include <ucontext.h>
#include <unistd.h>

#include <mutex>
#include <string>
#include <vector>

#include "shim.h"

namespace vf_emu {
namespace {

constexpr size_t kStackBytes = 128 * 1024;
constexpr size_t kSharedBytes = 227 * 1024;  // sm_90's largest shared memory per block
constexpr unsigned kMaxThreads = 1024;

enum class State { Parked, Runnable, AtBlockBarrier, AtWarpBarrier, Done };

struct Fiber {
  jmp_buf ctx;
  void* mapping = nullptr;  // guard page + stack
  State state = State::Parked;
  bool fresh = true;  // needs (re)creation before use
  dim3 tid{0, 0, 0};
  unsigned linear = 0;
};

struct SharedRegion {
  const void* key;
  size_t offset;
  size_t bytes;
};

struct Scheduler {
  jmp_buf sched_ctx;
  std::vector<Fiber> fibers;
  Fiber* current = nullptr;
  void (*entry)(void**) = nullptr;
  void** params = nullptr;
  dim3 block{0, 0, 0}, bdim{0, 0, 0}, gdim{0, 0, 0};
  unsigned nthreads = 0;
  std::vector<unsigned char> arena;
  std::vector<SharedRegion> regions;
  size_t static_bytes = 0;
  size_t dynamic_bytes = 0;
  uint64_t warp_slots[kMaxThreads / 32][32];
  bool failed = false;
  std::string error;
};

thread_local Scheduler* tls = nullptr;

std::mutex pool_mutex;
std::vector<Scheduler*> pool;

Scheduler* take_scheduler() {
  std::lock_guard<std::mutex> g(pool_mutex);
  if (pool.empty()) {
    Scheduler* s = new Scheduler();
    s->arena.resize(kSharedBytes);
    // Fibers hold pointers to their own slot (the trampoline's `f`): never reallocate.
    s->fibers.reserve(kMaxThreads);
    return s;
  }
  Scheduler* s = pool.back();
  pool.pop_back();
  return s;
}

void give_back(Scheduler* s) {
  std::lock_guard<std::mutex> g(pool_mutex);
  pool.push_back(s);
}

void park_and_switch() {
  Scheduler* s = tls;
  if (!_setjmp(s->current->ctx)) _longjmp(s->sched_ctx, 1);
}

// Every fiber lives in this loop: park, and when woken run one CUDA thread to completion.
void trampoline() {
  Scheduler* volatile s = tls;
  Fiber* volatile f = s->current;
  for (;;) {
    if (!_setjmp(f->ctx)) _longjmp(s->sched_ctx, 1);
    s->entry(s->params);
    f->state = State::Done;
  }
}

bool make_fiber(Scheduler* s, Fiber* f) {
  long page = sysconf(_SC_PAGESIZE);
  if (!f->mapping) {
    void* m = mmap(nullptr, kStackBytes + page, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (m == MAP_FAILED) return false;
    mprotect(m, page, PROT_NONE);  // overflowing the stack faults instead of corrupting memory
    f->mapping = m;
  }
  ucontext_t uc, here;
  getcontext(&uc);
  uc.uc_stack.ss_sp = static_cast<char*>(f->mapping) + page;
  uc.uc_stack.ss_size = kStackBytes;
  uc.uc_link = nullptr;
  makecontext(&uc, trampoline, 0);
  s->current = f;
  if (!_setjmp(s->sched_ctx)) swapcontext(&here, &uc);  // runs until the trampoline parks
  f->state = State::Parked;
  f->fresh = false;
  return true;
}

const char* state_name(State st) {
  switch (st) {
    case State::Parked: return "not started";
    case State::Runnable: return "running";
    case State::AtBlockBarrier: return "at __syncthreads";
    case State::AtWarpBarrier: return "at a warp barrier";
    case State::Done: return "exited";
  }
  return "?";
}

void set_error(Scheduler* s, const std::string& msg) {
  if (!s->failed) {
    s->failed = true;
    s->error = msg;
  }
}

std::string where(Scheduler* s) {
  char b[96];
  snprintf(b, sizeof b, "block (%u,%u,%u)", s->block.x, s->block.y, s->block.z);
  return b;
}

// Describes a stuck block: which threads wait where.
std::string describe_stuck(Scheduler* s) {
  std::string out;
  for (unsigned i = 0; i < s->nthreads; i++) {
    Fiber& f = s->fibers[i];
    if (i > 0 && f.state == s->fibers[i - 1].state) continue;
    unsigned j = i;
    while (j + 1 < s->nthreads && s->fibers[j + 1].state == f.state) j++;
    char b[128];
    snprintf(b, sizeof b, "%sthreads %u..%u %s", out.empty() ? "" : ", ", i, j,
             state_name(f.state));
    out += b;
  }
  return out;
}

// Runs one block to completion; false on an error (s->error says which).
bool run_block(Scheduler* s) {
  unsigned n = s->nthreads;
  for (unsigned i = 0; i < n; i++) {
    Fiber& f = s->fibers[i];
    f.linear = i;
    f.tid = dim3{i % s->bdim.x, (i / s->bdim.x) % s->bdim.y, i / (s->bdim.x * s->bdim.y)};
    f.state = State::Runnable;
  }
  if (s->static_bytes + s->dynamic_bytes > 0) {
    // Shared memory starts undefined on a GPU: poison it so reads before writes show up.
    memset(s->arena.data(), 0xff, s->static_bytes + s->dynamic_bytes);
  }
  for (;;) {
    // volatile: the loop counter lives across _setjmp, which returns twice.
    for (volatile unsigned i = 0; i < n; i = i + 1) {
      Fiber* f = &s->fibers[i];
      if (f->state != State::Runnable) continue;
      s->current = f;
      if (!_setjmp(s->sched_ctx)) _longjmp(f->ctx, 1);
      if (s->failed) return false;
    }
    unsigned done = 0, at_block = 0;
    for (unsigned i = 0; i < n; i++) {
      done += s->fibers[i].state == State::Done;
      at_block += s->fibers[i].state == State::AtBlockBarrier;
    }
    if (done == n) return true;
    bool released = false;
    if (at_block == n) {
      for (unsigned i = 0; i < n; i++) s->fibers[i].state = State::Runnable;
      released = true;
    } else if (at_block > 0 && at_block + done == n) {
      set_error(s, "barrier divergence in " + where(s) +
                       ": some threads exited while others wait at __syncthreads (" +
                       describe_stuck(s) + ")");
      return false;
    } else {
      for (unsigned w = 0; w * 32 < n; w++) {
        unsigned lo = w * 32, hi = lo + 32 < n ? lo + 32 : n, waiting = 0;
        for (unsigned i = lo; i < hi; i++) waiting += s->fibers[i].state == State::AtWarpBarrier;
        if (waiting == hi - lo) {
          for (unsigned i = lo; i < hi; i++) s->fibers[i].state = State::Runnable;
          released = true;
        }
      }
    }
    if (!released) {
      set_error(s, "barrier divergence in " + where(s) + ": no barrier can be released (" +
                       describe_stuck(s) + ")");
      return false;
    }
  }
}

unsigned full_mask(Scheduler* s, unsigned warp) {
  unsigned lanes = s->nthreads - warp * 32;
  return lanes >= 32 ? 0xffffffffu : ((1u << lanes) - 1u);
}

}  // namespace

const dim3& thread_idx() { return tls->current->tid; }
const dim3& block_idx() { return tls->block; }
const dim3& block_dim() { return tls->bdim; }
const dim3& grid_dim() { return tls->gdim; }

void fail(const char* fmt, ...) {
  Scheduler* s = tls;
  char msg[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  char who[96];
  dim3 t = s->current->tid;
  snprintf(who, sizeof who, ", thread (%u,%u,%u)", t.x, t.y, t.z);
  set_error(s, std::string(msg) + " in " + where(s) + who);
  _longjmp(s->sched_ctx, 1);
}

void syncthreads() {
  tls->current->state = State::AtBlockBarrier;
  park_and_switch();
}

static void check_mask(Scheduler* s, unsigned mask, const char* what) {
  unsigned warp = s->current->linear / 32;
  unsigned want = full_mask(s, warp);
  if ((mask & want) != want) {
    fail("%s with mask 0x%08x: only full-warp masks (0x%08x here) are emulated", what, mask, want);
  }
}

const uint64_t* warp_publish(uint64_t v, unsigned mask, const char* what) {
  Scheduler* s = tls;
  check_mask(s, mask, what);
  unsigned warp = s->current->linear / 32;
  s->warp_slots[warp][s->current->linear % 32] = v;
  s->current->state = State::AtWarpBarrier;
  park_and_switch();
  return s->warp_slots[warp];
}

void warp_wait(unsigned mask, const char* what) {
  Scheduler* s = tls;
  check_mask(s, mask, what);
  s->current->state = State::AtWarpBarrier;
  park_and_switch();
}

void* static_shared(const void* key, size_t bytes, const char* name) {
  Scheduler* s = tls;
  for (const SharedRegion& r : s->regions) {
    if (r.key == key) return s->arena.data() + r.offset;
  }
  size_t offset = (s->static_bytes + 15) & ~size_t(15);
  if (offset + bytes + s->dynamic_bytes > kSharedBytes) {
    fail("shared memory `%s` (%zu bytes) exceeds the %zu bytes of a block", name, bytes,
         kSharedBytes);
  }
  // Dynamic shared memory sits at the start of the arena; static regions follow it.
  s->regions.push_back(SharedRegion{key, s->dynamic_bytes + offset, bytes});
  s->static_bytes = offset + bytes;
  memset(s->arena.data() + s->dynamic_bytes + offset, 0xff, bytes);
  return s->arena.data() + s->dynamic_bytes + offset;
}

void* dynamic_shared(size_t* bytes) {
  *bytes = tls->dynamic_bytes;
  return tls->arena.data();
}

}  // namespace vf_emu

using namespace vf_emu;

// Runs `entry` over the grid. Returns 0 on success, otherwise writes a message to `err`.
extern "C" int vf_emu_launch(void (*entry)(void**), void** params, const unsigned grid[3],
                             const unsigned block[3], unsigned shared_bytes, char* err,
                             size_t err_len) {
  unsigned long long nthreads = (unsigned long long)block[0] * block[1] * block[2];
  if (nthreads == 0 || nthreads > kMaxThreads) {
    snprintf(err, err_len, "block of %u×%u×%u threads: must hold 1 to %u threads", block[0],
             block[1], block[2], kMaxThreads);
    return 1;
  }
  if (grid[0] == 0 || grid[1] == 0 || grid[2] == 0 || grid[1] > 65535 || grid[2] > 65535) {
    snprintf(err, err_len, "grid %u×%u×%u: every size must be ≥ 1 (y and z ≤ 65535)", grid[0],
             grid[1], grid[2]);
    return 1;
  }
  if (shared_bytes > kSharedBytes) {
    snprintf(err, err_len, "%u bytes of dynamic shared memory exceed the %zu of a block",
             shared_bytes, kSharedBytes);
    return 1;
  }
  Scheduler* s = take_scheduler();
  Scheduler* outer = tls;
  tls = s;
  s->entry = entry;
  s->params = params;
  s->bdim = dim3{block[0], block[1], block[2]};
  s->gdim = dim3{grid[0], grid[1], grid[2]};
  s->nthreads = (unsigned)nthreads;
  s->regions.clear();
  s->static_bytes = 0;
  s->dynamic_bytes = shared_bytes;
  s->failed = false;
  s->error.clear();
  if (s->fibers.size() < nthreads) s->fibers.resize(nthreads);
  int rc = 0;
  for (unsigned i = 0; i < nthreads && rc == 0; i++) {
    if (s->fibers[i].fresh && !make_fiber(s, &s->fibers[i])) {
      snprintf(err, err_len, "cannot map a fiber stack");
      rc = 1;
    }
  }
  for (unsigned z = 0; z < grid[2] && rc == 0; z++) {
    for (unsigned y = 0; y < grid[1] && rc == 0; y++) {
      for (unsigned x = 0; x < grid[0] && rc == 0; x++) {
        s->block = dim3{x, y, z};
        if (!run_block(s)) {
          snprintf(err, err_len, "%s", s->error.c_str());
          rc = 1;
        }
      }
    }
  }
  if (rc != 0) {
    // Fibers stopped mid-kernel cannot be resumed: rebuild them before the next launch.
    for (unsigned i = 0; i < nthreads; i++) {
      if (s->fibers[i].state != State::Done && s->fibers[i].state != State::Parked) {
        s->fibers[i].fresh = true;
      }
    }
  }
  tls = outer;
  give_back(s);
  return rc;
}
