#include "profiler/profiler.h"

#include <omp.h>
#include <pthread.h>

#include <algorithm>
#include <cstring>
#include <memory>
#include <mutex>

#include <Eigen/Core>

#include "common/parallel.h"

namespace nnc::prof {

std::atomic<bool> g_enabled{false};

namespace {

std::mutex g_mutex;
std::vector<Event> g_events;

}  // namespace

void set_enabled(bool on) {
  if (on) {
    std::lock_guard<std::mutex> lock(g_mutex);
    // NOTE: growing the buffer inside a timed step would show up as profiler overhead.
    g_events.reserve(std::max<size_t>(g_events.capacity(), 1 << 14));
  }
  g_enabled.store(on, std::memory_order_relaxed);
}

void Event::add_shape(const std::vector<int64_t>& d) {
  if (nshapes == kMaxShapes) return;
  Shape& s = shapes[nshapes++];
  const int nd = static_cast<int>(d.size());
  s.ndim = nd <= kMaxDims ? nd : -1;
  for (int i = 0; i < nd && i < kMaxDims; ++i) s.dims[i] = d[i];
}

void begin(Event& e, const char* name) {
  e.name = name;
  e.threads = get_num_threads();
  e.thread_id = static_cast<uint64_t>(pthread_self());
}

void commit(Event& e) {
  e.end_ns = now_ns();
  std::lock_guard<std::mutex> lock(g_mutex);
  g_events.push_back(e);
}

std::vector<Event> drain() {
  std::vector<Event> out;
  std::lock_guard<std::mutex> lock(g_mutex);
  out.swap(g_events);
  if (g_enabled.load(std::memory_order_relaxed)) g_events.reserve(out.capacity());
  return out;
}

void clear() {
  std::lock_guard<std::mutex> lock(g_mutex);
  g_events.clear();
}

namespace {

constexpr int kChains = 12;  // > FMA latency (4) x pipes (2): every pipe busy every cycle

// NOTE: Eigen's widest float packet for the build's target (16 lanes with AVX-512, 8 with
// AVX2), so `nncore bench peak` measures the FMAs the loaded module's kernels can issue.
using Packet = Eigen::internal::packet_traits<float>::type;
// (packet_traits<float>::size: naming Packet as a template argument drops its alignment
// attribute, which GCC warns about.)
constexpr int kWidth = Eigen::internal::packet_traits<float>::size;

// One thread's register-only FMA loop; returns a value that depends on every chain so the
// compiler keeps them all.
float fma_loop(int64_t iters, float seed) {
  using namespace Eigen::internal;
  Packet acc[kChains];
  for (int c = 0; c < kChains; ++c) acc[c] = pset1<Packet>(seed + 0.001f * c);
  const Packet a = pset1<Packet>(0.999999f), b = pset1<Packet>(1e-7f);
  for (int64_t i = 0; i < iters; ++i)
    for (int c = 0; c < kChains; ++c) acc[c] = pmadd(acc[c], a, b);
  Packet s = acc[0];
  for (int c = 1; c < kChains; ++c) s = padd(s, acc[c]);
  return predux(s);
}

constexpr double kFlopsPerIter = kChains * kWidth * 2.0;

// Wall time of `threads` threads each running fma_loop(iters).
double fma_seconds(int threads, int64_t iters) {
  float sink = 0;
  const int64_t t0 = now_ns();
#pragma omp parallel num_threads(threads) reduction(+ : sink)
  sink += fma_loop(iters, 1.0f + omp_get_thread_num());
  const int64_t t1 = now_ns();
  volatile float keep = sink;
  (void)keep;
  return (t1 - t0) * 1e-9;
}

}  // namespace

double fma_peak_gflops(int threads, double seconds) {
  threads = std::max(threads, 1);
  // Calibrate to about `seconds`, then take the best of three runs (clock ramp, other load).
  int64_t iters = 1 << 16;
  double t = fma_seconds(threads, iters);
  while (t < 0.02) {
    iters *= 4;
    t = fma_seconds(threads, iters);
  }
  iters = std::max<int64_t>(1, static_cast<int64_t>(iters * (seconds / 3) / t));
  double best = 0;
  for (int r = 0; r < 3; ++r)
    best = std::max(best, threads * iters * kFlopsPerIter / fma_seconds(threads, iters) * 1e-9);
  return best;
}

int fma_lanes() { return kWidth; }

double triad_gbs(int threads, int64_t n, int repeats) {
  threads = std::max(threads, 1);
  n = std::max<int64_t>(n, 1);
  std::unique_ptr<float[]> a(new float[n]), b(new float[n]), c(new float[n]);
  float *pa = a.get(), *pb = b.get(), *pc = c.get();
  // NOTE: first touch from the same threads and schedule as the timed loop.
#pragma omp parallel for num_threads(threads) schedule(static)
  for (int64_t i = 0; i < n; ++i) {
    pa[i] = 0.f;
    pb[i] = 1.f;
    pc[i] = 2.f;
  }
  const float s = 3.f;
  double best = 0;
  for (int r = 0; r < std::max(repeats, 1); ++r) {
    const int64_t t0 = now_ns();
#pragma omp parallel for num_threads(threads) schedule(static)
    for (int64_t i = 0; i < n; ++i) pa[i] = pb[i] + s * pc[i];
    const int64_t t1 = now_ns();
    best = std::max(best, 12.0 * n / std::max<int64_t>(t1 - t0, 1));
  }
  volatile float keep = pa[n / 2];
  (void)keep;
  return best;
}

namespace {

// NOTE: noinline, so the measured loop cannot fold the scope into nothing.
__attribute__((noinline)) void empty_kernel(int64_t* counter) { ++*counter; }

}  // namespace

double scope_cost_ns(int64_t iterations) {
  iterations = std::max<int64_t>(iterations, 1);
  int64_t counter = 0;
  const int64_t t0 = now_ns();
  for (int64_t i = 0; i < iterations; ++i) {
    NNC_PROFILE("profiler.scope", 0, 0);
    empty_kernel(&counter);
  }
  const int64_t t1 = now_ns();
  for (int64_t i = 0; i < iterations; ++i) empty_kernel(&counter);
  const int64_t t2 = now_ns();
  if (enabled()) {
    std::lock_guard<std::mutex> lock(g_mutex);
    g_events.erase(std::remove_if(g_events.begin(), g_events.end(),
                                  [](const Event& e) { return std::strcmp(e.name, "profiler.scope") == 0; }),
                   g_events.end());
  }
  return (double(t1 - t0) - double(t2 - t1)) / iterations;
}

}  // namespace nnc::prof
