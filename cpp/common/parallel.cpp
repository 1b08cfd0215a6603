#include "common/parallel.h"

#include <pthread.h>
#include <sched.h>
#include <unistd.h>
#if defined(__linux__)
#include <linux/futex.h>
#include <sys/syscall.h>
#endif
#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

#include <Eigen/Core>
#include <algorithm>
#include <atomic>
#include <chrono>
#include <climits>
#include <cmath>
#include <cstdlib>
#include <exception>
#include <fstream>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "common/check.h"

namespace nnc {

// ---- the CPUs this process may use --------------------------------------------------------------

namespace {

int affinity_cpus() {
#if defined(__linux__)
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof(set), &set) == 0) return CPU_COUNT(&set);
#endif
  const unsigned n = std::thread::hardware_concurrency();
  return n > 0 ? int(n) : 1;
}

// quota / period in CPUs, or 0 when the file holds no limit ("max", -1, missing).
double cgroup2_quota(const std::string& dir) {
  std::ifstream f(dir + "/cpu.max");
  std::string quota;
  double period = 0;
  if (!(f >> quota >> period) || quota == "max" || period <= 0) return 0;
  const double q = std::atof(quota.c_str());
  return q > 0 ? q / period : 0;
}

double cgroup1_quota(const std::string& dir) {
  std::ifstream fq(dir + "/cpu.cfs_quota_us"), fp(dir + "/cpu.cfs_period_us");
  double quota = 0, period = 0;
  if (!(fq >> quota) || !(fp >> period) || quota <= 0 || period <= 0) return 0;
  return quota / period;
}

// The tightest quota on the way from the process's cgroup up to the root of its hierarchy
// (a parent's limit binds its children). In a container the cgroup path may name the host's
// hierarchy while the container sees its own at the mount root: the root is tried too.
template <class Read>
double tightest(const std::string& mount, std::string path, const Read& read) {
  double best = read(mount);
  for (;;) {
    const double q = read(mount + path);
    if (q > 0 && (best <= 0 || q < best)) best = q;
    const size_t slash = path.find_last_of('/');
    if (slash == std::string::npos || path.empty() || path == "/") break;
    path = path.substr(0, slash);
  }
  return best;
}

// The CPU quota of this process's cgroup in CPUs (0: none). /proc/self/cgroup lines read
// "0::/path" (v2) or "N:cpu,cpuacct:/path" (v1).
double cgroup_quota() {
  std::ifstream f("/proc/self/cgroup");
  std::string line;
  double best = 0;
  while (std::getline(f, line)) {
    const size_t a = line.find(':'), b = a == std::string::npos ? a : line.find(':', a + 1);
    if (b == std::string::npos) continue;
    const std::string controllers = line.substr(a + 1, b - a - 1), path = line.substr(b + 1);
    double q = 0;
    if (controllers.empty()) {
      q = tightest("/sys/fs/cgroup", path, cgroup2_quota);
    } else {
      std::stringstream list(controllers);
      std::string c;
      bool cpu = false;
      while (std::getline(list, c, ',')) cpu = cpu || c == "cpu";
      if (!cpu) continue;
      for (const char* mount : {"/sys/fs/cgroup/cpu,cpuacct", "/sys/fs/cgroup/cpu"}) {
        q = tightest(mount, path, cgroup1_quota);
        if (q > 0) break;
      }
    }
    if (q > 0 && (best <= 0 || q < best)) best = q;
  }
  return best;
}

}  // namespace

int default_num_threads() {
  int n = affinity_cpus();
  const double quota = cgroup_quota();
  if (quota > 0) n = std::min(n, int(std::ceil(quota - 1e-9)));
  return std::clamp(n, 1, kMaxThreads);
}

// ---- the thread count ---------------------------------------------------------------------------

namespace {

std::atomic<int> g_threads{0};  // 0: not yet decided

// NOTE: Eigen's own threading would start OpenMP teams (thread-dependent blocking, barriers):
// every product runs on one thread inside nncore's chunks instead. Set at load, before any GEMM.
const bool g_eigen_serial = (Eigen::setNbThreads(1), true);

}  // namespace

void set_num_threads(int n) {
  NNC_CHECK(n >= 1 && n <= kMaxThreads, "set_num_threads",
            "expected a number of threads between 1 and ", kMaxThreads, ", got ", n);
  g_threads.store(n, std::memory_order_relaxed);
}

int get_num_threads() {
  int n = g_threads.load(std::memory_order_relaxed);
  if (n == 0) {
    (void)g_eigen_serial;
    int expected = 0;
    g_threads.compare_exchange_strong(expected, default_num_threads());
    n = g_threads.load(std::memory_order_relaxed);
  }
  return n;
}

// ---- the pool -----------------------------------------------------------------------------------

namespace {

thread_local bool tl_in_region = false;

inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  _mm_pause();
#endif
}

void futex_wait(std::atomic<uint32_t>* word, uint32_t seen) {
#if defined(__linux__)
  syscall(SYS_futex, reinterpret_cast<uint32_t*>(word), FUTEX_WAIT_PRIVATE, seen, nullptr,
          nullptr, 0);
#else
  if (word->load() == seen) std::this_thread::yield();
#endif
}

void futex_wake_all(std::atomic<uint32_t>* word) {
#if defined(__linux__)
  syscall(SYS_futex, reinterpret_cast<uint32_t*>(word), FUTEX_WAKE_PRIVATE, INT_MAX, nullptr,
          nullptr, 0);
#else
  (void)word;
#endif
}

// How long an idle worker polls for the next job before it sleeps (NNCORE_SPIN_US).
// NOTE: a training step calls kernels tens of microseconds apart, and a step's optimizer update
// or the next batch's loading leaves gaps of up to a millisecond: a worker that slept between
// them would cost a wake-up (a system call, and a wake latency of up to milliseconds on this VM)
// per kernel, during which the caller runs every chunk alone. Measured (256x784x128 product after
// a gap of 1 ms, 2 threads vs 1): 1.00x polling 50 us, 1.30x polling 1 ms; bench_load's quiet
// MLP 1.27-1.37x of 1 thread (1 ms) against 0.80-1.27x (50 us), unchanged under 1 and 2
// spinning processes (the poll yields the core to runnable threads).
int64_t spin_ns() {
  static const int64_t ns = [] {
    const char* env = std::getenv("NNCORE_SPIN_US");
    const long us = env ? std::atol(env) : 1000;
    return int64_t(std::max(0L, std::min(us, 100000L))) * 1000;
  }();
  return ns;
}

int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// NNCORE_SPIN_YIELD=0 polls with pauses only (to measure without the yields).
bool spin_yield() {
  static const bool on = [] {
    const char* env = std::getenv("NNCORE_SPIN_YIELD");
    return !(env && env[0] == '0');
  }();
  return on;
}

// NNCORE_THREAD_BACKOFF=0 turns the contention backoff off (to measure without it).
bool backoff_enabled() {
  static const bool on = [] {
    const char* env = std::getenv("NNCORE_THREAD_BACKOFF");
    return !(env && env[0] == '0');
  }();
  return on;
}

// The job word: generation (16 bits) | team - 1 (8) | chunks (20) | next chunk to claim (20).
// One compare-and-swap claims a chunk of the current job only: a worker holding a stale word
// (an older generation) fails the swap.
struct Job {
  uint64_t word;
  uint64_t gen() const { return word >> 48; }
  int team() const { return int((word >> 40) & 0xff) + 1; }
  int64_t total() const { return int64_t((word >> 20) & 0xfffff); }
  int64_t next() const { return int64_t(word & 0xfffff); }
  static uint64_t pack(uint64_t gen, int team, int64_t total) {
    return (gen & 0xffff) << 48 | uint64_t(team - 1) << 40 | uint64_t(total) << 20;
  }
};

class Pool {
 public:
  void run(int64_t n, int team, detail::ChunkFn fn, const void* ctx);

 private:
  void worker(int slot);
  // Claims and runs chunks of the current job until none is left for this slot; returns how
  // many it ran.
  int64_t claim_and_run(int slot);
  void ensure_workers(int count);

  std::mutex busy_;  // one job at a time; a second caller runs serially
  std::vector<std::thread> workers_;
  std::atomic<uint64_t> job_{0};
  std::atomic<uint32_t> wake_seq_{0};  // bumped per job: idle workers sleep on it
  std::atomic<int> sleepers_{0};
  std::atomic<int> caller_cpu_{-1};  // the CPU the current job's caller posted it from
  std::atomic<int64_t> finished_{0};  // chunks of the current job ended on workers
  detail::ChunkFn fn_ = nullptr;
  const void* ctx_ = nullptr;
  uint64_t gen_ = 0;
  std::mutex error_mu_;
  std::exception_ptr error_;
  // Contention backoff: until serial_until_ (steady clock, ns) every job runs serially.
  // NOTE: from 100 ms (with 20 ms, a loaded machine stalled the caller 3-4 times in its first
  // 100 ms, each a scheduler time slice: rounds at 0.48x of serial), back to it after 5 s without
  // a stall.
  static constexpr int64_t kMinBackoffNs = 100'000'000, kMaxBackoffNs = 1'000'000'000,
                           kResetNs = 5'000'000'000;
  // The caller's recent time lost to stalls: each stall's wait, decaying with kStallDecayNs;
  // above kStallBudgetNs (a fifth of the decay time: stalls costing a fifth of the wall time,
  // sustained) the machine is oversubscribed.
  static constexpr double kStallDecayNs = 50e6, kStallBudgetNs = 10e6;
  std::atomic<int64_t> serial_until_{0};
  int64_t backoff_ns_ = kMinBackoffNs;  // the next backoff (the rest guarded by busy_ too)
  int64_t last_stall_ns_ = 0;
  double stall_score_ns_ = 0;
};

// NOTE: the kernel places a woken thread on its waker's CPU when it judges the other CPUs busy
// or unavailable; on this VM it did so for 5 of 6 wake-ups while the second vCPU sat idle
// (traced with sched_migrate_task: the worker queued behind the caller, which polls and never
// sleeps, for a whole time slice, ~3.4 ms, then shared its CPU: 2 threads ran at 1 thread's
// speed for the next calls, e.g. the 1->32 conv forward at 700-1000 us instead of 470 after any
// pause). A worker that wakes on its caller's CPU moves itself off it: its allowed set without
// that CPU, then the whole set again (it stays where the move put it until the balancer says
// otherwise). Two system calls per wake-up, none while polling.
void leave_callers_cpu(int caller_cpu) {
#if defined(__linux__)
  if (caller_cpu < 0 || sched_getcpu() != caller_cpu) return;
  cpu_set_t allowed, others;
  if (sched_getaffinity(0, sizeof(allowed), &allowed) != 0) return;
  others = allowed;
  CPU_CLR(caller_cpu, &others);
  if (CPU_COUNT(&others) == 0) return;
  if (sched_setaffinity(0, sizeof(others), &others) == 0)
    sched_setaffinity(0, sizeof(allowed), &allowed);
#else
  (void)caller_cpu;
#endif
}

int64_t Pool::claim_and_run(int slot) {
  int64_t ran = 0;
  uint64_t w = job_.load(std::memory_order_acquire);
  for (;;) {
    const Job j{w};
    if (slot >= j.team() || j.next() >= j.total()) return ran;
    if (!job_.compare_exchange_weak(w, w + 1, std::memory_order_acq_rel,
                                    std::memory_order_acquire))
      continue;
    // The claim succeeded, so this job cannot end before the chunk does: fn_ and ctx_ are its.
    try {
      fn_(ctx_, j.next(), slot);
    } catch (...) {
      std::lock_guard<std::mutex> lock(error_mu_);
      if (!error_) error_ = std::current_exception();
    }
    ++ran;
    if (slot != 0) finished_.fetch_add(1, std::memory_order_release);
    w = job_.load(std::memory_order_acquire);
  }
}

void Pool::worker(int slot) {
  tl_in_region = true;
  uint32_t seen = wake_seq_.load(std::memory_order_acquire);
  for (;;) {
    const auto start = std::chrono::steady_clock::now();
    const int64_t budget = spin_ns();
    for (int spins = 0; wake_seq_.load(std::memory_order_acquire) == seen; ++spins) {
      // NOTE: the poll yields the core every few pauses: on a quiet machine nothing else is
      // runnable and sched_yield returns at once (the worker still answers in microseconds);
      // under load it hands the core to the runnable threads (the caller's own among them)
      // instead of taking a share of it for nothing.
      if (spin_yield() && (spins & 7) == 7)
        sched_yield();
      else
        cpu_relax();
      if ((spins & 63) != 63) continue;
      const auto waited = std::chrono::steady_clock::now() - start;
      if (std::chrono::duration_cast<std::chrono::nanoseconds>(waited).count() < budget) continue;
      sleepers_.fetch_add(1, std::memory_order_seq_cst);
      const bool slept = wake_seq_.load(std::memory_order_seq_cst) == seen;
      if (slept) futex_wait(&wake_seq_, seen);
      sleepers_.fetch_sub(1, std::memory_order_seq_cst);
      if (slept) leave_callers_cpu(caller_cpu_.load(std::memory_order_relaxed));
    }
    seen = wake_seq_.load(std::memory_order_acquire);
    claim_and_run(slot);
  }
}

void Pool::ensure_workers(int count) {
  while (int(workers_.size()) < count) {
    const int slot = int(workers_.size()) + 1;
    workers_.emplace_back([this, slot] { worker(slot); });
    // NOTE: workers live as long as the process (a blocked worker at exit is harmless; joining
    // from a static destructor after Python has shut down is not).
    workers_.back().detach();
  }
}

void Pool::run(int64_t n, int team, detail::ChunkFn fn, const void* ctx) {
  const int64_t start = now_ns();
  std::unique_lock<std::mutex> lock(busy_, std::defer_lock);
  if (start < serial_until_.load(std::memory_order_relaxed) || !lock.try_lock()) {
    // Backing off (see below), or another Python thread's kernel holds the pool: this one runs
    // on its own thread.
    struct Region {
      Region() { tl_in_region = true; }
      ~Region() { tl_in_region = false; }
    } region;
    for (int64_t i = 0; i < n; ++i) fn(ctx, i, 0);
    return;
  }
  ensure_workers(team - 1);
#if defined(__linux__)
  caller_cpu_.store(sched_getcpu(), std::memory_order_relaxed);
#endif
  fn_ = fn;
  ctx_ = ctx;
  error_ = nullptr;
  finished_.store(0, std::memory_order_relaxed);
  job_.store(Job::pack(++gen_, team, n), std::memory_order_release);
  wake_seq_.fetch_add(1, std::memory_order_seq_cst);
  const bool woke = sleepers_.load(std::memory_order_seq_cst) > 0;
  if (woke) {
    futex_wake_all(&wake_seq_);
    // A worker the kernel queued on this CPU runs now (and moves off it: leave_callers_cpu)
    // instead of after this thread's time slice; with none queued here this returns at once.
    sched_yield();
  }
  tl_in_region = true;
  const int64_t mine = claim_and_run(0);
  tl_in_region = false;
  // Every chunk is claimed; wait only for those a worker is running.
  const int64_t own_end = now_ns();
  for (int spins = 0; finished_.load(std::memory_order_acquire) != n - mine; ++spins) {
    if (spins < 4096)
      cpu_relax();
    else
      std::this_thread::yield();  // the worker may need this core to finish
  }
  // NOTE: a worker descheduled in the middle of a chunk (other processes hold the cores) makes
  // the caller wait for a scheduler time slice, milliseconds. When the wait is far longer than
  // the chunks take, the machine is oversubscribed: kernels then run serially for a while
  // (doubling while it lasts, 100 ms to 1 s), which costs about the serial speed, never a
  // fraction of it.
  // NOTE: not when this job woke a sleeping worker: its wake-up latency (up to milliseconds
  // on a VM) is no sign of contention. Counting it made every backoff self-sustaining (the
  // workers sleep through the backoff, so the next job wakes them and "stalls" again): 2
  // threads stayed at 1 thread's speed for good after one stall (1024^3: 110 vs 196 GFLOP/s).
  const int64_t end = now_ns(), waited = end - own_end;
  const int64_t chunk_ns = mine > 0 ? (own_end - start) / mine : 0;
  // NOTE: what backs off is stalls costing a fifth of the time, not a count of them. A quiet
  // VM's own daemons (the host agent at nice -10, kdamond) preempt a worker a few times in a
  // few milliseconds now and then: traced, a burst of four within 15 ms made the previous rule
  // (a second stall within 50 ms) run 2 threads at 1 thread's speed for 100 ms and more, 5% of
  // a quiet loop's time; other processes holding the cores stall every few jobs for a time
  // slice each and cross the budget within tens of milliseconds.
  if (backoff_enabled() && !woke && waited > 100000 + 4 * chunk_ns) {
    stall_score_ns_ = stall_score_ns_ * std::exp(-double(end - last_stall_ns_) / kStallDecayNs) +
                      double(waited);
    last_stall_ns_ = end;
    if (stall_score_ns_ > kStallBudgetNs) {
      serial_until_.store(end + backoff_ns_, std::memory_order_relaxed);
      backoff_ns_ = std::min<int64_t>(2 * backoff_ns_, kMaxBackoffNs);
      stall_score_ns_ = 0;
    }
  } else if (end - last_stall_ns_ > kResetNs) {
    backoff_ns_ = kMinBackoffNs;
  }
  if (error_) {
    std::exception_ptr e = error_;
    error_ = nullptr;
    std::rethrow_exception(e);
  }
}

Pool* g_pool = nullptr;
std::once_flag g_pool_once;

Pool& pool() {
  std::call_once(g_pool_once, [] {
    g_pool = new Pool();
    // NOTE: a forked child (DataLoader workers) has none of the parent's worker threads: it
    // starts a fresh pool (the old one is dropped, its mutex may be held by a parent thread).
    pthread_atfork(nullptr, nullptr, [] { g_pool = new Pool(); });
  });
  return *g_pool;
}

}  // namespace

bool in_parallel() { return tl_in_region; }

namespace detail {

void run_chunks(int64_t n, int team, ChunkFn fn, const void* ctx) {
  pool().run(n, std::min(team, kMaxThreads), fn, ctx);
}

}  // namespace detail

}  // namespace nnc
