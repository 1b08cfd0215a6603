// The native-kernel profiler: NNC_PROFILE opens an RAII scope around one kernel call in the
// binding layer and, when profiling is on, records the op name, input shapes, thread count,
// steady-clock start/end (ns), FLOPs and bytes moved, and the calling thread. Off, a scope costs
// one relaxed atomic load: the FLOP/byte expressions and the shapes sit in a lambda that only
// runs when on. No pybind11 here; anything with ndim() and shape(i) (a py::array) is a shape.
//
//   { py::gil_scoped_release nogil;
//     NNC_PROFILE("linear.forward", 2.0 * m * n * k, bytes, x, w);   // after the shapes: 0-4
//     linear_forward<T>(...); }                                        // arrays or int64 vectors
#pragma once
#include <atomic>
#include <chrono>
#include <cstdint>
#include <optional>
#include <vector>

namespace nnc::prof {

constexpr int kMaxShapes = 4;
constexpr int kMaxDims = 6;

struct Shape {
  int32_t ndim = 0;  // -1: more dims than kMaxDims (recorded as truncated)
  int64_t dims[kMaxDims] = {};
};

struct Event {
  const char* name = nullptr;  // a string literal: static lifetime
  int64_t start_ns = 0, end_ns = 0;
  double flops = 0, bytes = 0;
  int32_t threads = 0;
  int32_t nshapes = 0;
  uint64_t thread_id = 0;  // pthread_self(), which is Python's threading.get_ident()
  Shape shapes[kMaxShapes];

  void add_shape(const std::vector<int64_t>& dims);
  template <class A>
  void add_shape(const A& a) {
    if (nshapes == kMaxShapes) return;
    Shape& s = shapes[nshapes++];
    const int nd = static_cast<int>(a.ndim());
    s.ndim = nd <= kMaxDims ? nd : -1;
    for (int i = 0; i < nd && i < kMaxDims; ++i) s.dims[i] = static_cast<int64_t>(a.shape(i));
  }
  template <class... A>
  void operator()(const A&... arrays) {
    (add_shape(arrays), ...);
  }
};

extern std::atomic<bool> g_enabled;

inline bool enabled() { return g_enabled.load(std::memory_order_relaxed); }
void set_enabled(bool on);
inline int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// Fills the calling thread and thread count; the caller fills the rest.
void begin(Event& e, const char* name);
// Stamps the end time and appends the event to the buffer (mutex-protected).
void commit(Event& e);
// Moves every recorded event out of the buffer.
std::vector<Event> drain();
void clear();

class Scope {
 public:
  template <class Fill>
  Scope(const char* name, const Fill& fill) {
    if (!enabled()) return;
    Event& e = event_.emplace();
    begin(e, name);
    fill(e);
    e.start_ns = now_ns();
  }
  ~Scope() {
    if (event_) commit(*event_);
  }
  Scope(const Scope&) = delete;
  Scope& operator=(const Scope&) = delete;

 private:
  // NOTE: optional, so a scope with profiling off never zeroes the ~280-byte event.
  std::optional<Event> event_;
};

// Native microbenchmarks for `nncore bench peak`.
// FP32 FMA throughput in GFLOP/s: `threads` threads each run 12 independent FMA chains of the
// build's widest float vector (fma_lanes()) in registers for about `seconds`.
double fma_peak_gflops(int threads, double seconds);
// Floats per FMA of fma_peak_gflops's loop: 16 with AVX-512, 8 with AVX2.
int fma_lanes();
// STREAM triad a = b + s*c over `n` floats per array, best of `repeats`, in GB/s counting
// 12 bytes per element (STREAM's convention: no write-allocate traffic). OpenMP over elements.
double triad_gbs(int threads, int64_t n, int repeats);
// Mean cost in ns of one NNC_PROFILE scope around an empty call, with profiling as it is now
// (events recorded while on are cleared before returning).
double scope_cost_ns(int64_t iterations);

}  // namespace nnc::prof

#define NNC_PROF_CAT2(a, b) a##b
#define NNC_PROF_CAT(a, b) NNC_PROF_CAT2(a, b)
// NNC_PROFILE(name, flops, bytes, shapes...): flops/bytes and the shapes are evaluated only when
// profiling is on. Exactly one per native call, inside the GIL-released block.
#define NNC_PROFILE(event_name, event_flops, event_bytes, ...)               \
  ::nnc::prof::Scope NNC_PROF_CAT(nnc_prof_scope_, __LINE__)(                 \
      event_name, [&](::nnc::prof::Event& nnc_prof_event) {                    \
        nnc_prof_event.flops = static_cast<double>(event_flops);              \
        nnc_prof_event.bytes = static_cast<double>(event_bytes);              \
        nnc_prof_event(__VA_ARGS__);                                          \
      })
