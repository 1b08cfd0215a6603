// The profiler's switch and buffer, and the native microbenchmarks behind `nncore bench peak`.
#include "profiler/profiler.h"

#include <unordered_map>

#include "bindings/common.h"

namespace nnc {

namespace {

// Every recorded event as columns: names and shapes as Python lists, numbers as NumPy arrays.
py::dict events_py() {
  std::vector<prof::Event> events;
  {
    py::gil_scoped_release nogil;  // a kernel on another thread may be committing
    events = prof::drain();
  }
  const auto n = static_cast<py::ssize_t>(events.size());
  py::array_t<int64_t> start(n), end(n);
  py::array_t<double> flops(n), bytes(n);
  py::array_t<int32_t> threads(n);
  py::array_t<uint64_t> tid(n);
  py::list names(n), shapes(n);
  std::unordered_map<const char*, py::str> interned;
  auto ps = start.mutable_data(), pe = end.mutable_data();
  auto pf = flops.mutable_data(), pb = bytes.mutable_data();
  auto pt = threads.mutable_data();
  auto pi = tid.mutable_data();
  for (py::ssize_t i = 0; i < n; ++i) {
    const prof::Event& e = events[i];
    auto it = interned.find(e.name);
    if (it == interned.end()) it = interned.emplace(e.name, py::str(e.name)).first;
    names[i] = it->second;
    ps[i] = e.start_ns;
    pe[i] = e.end_ns;
    pf[i] = e.flops;
    pb[i] = e.bytes;
    pt[i] = e.threads;
    pi[i] = e.thread_id;
    py::tuple shape_tuple(e.nshapes);
    for (int k = 0; k < e.nshapes; ++k) {
      const prof::Shape& s = e.shapes[k];
      const int nd = s.ndim < 0 ? prof::kMaxDims : s.ndim;
      py::tuple dims(nd);
      for (int d = 0; d < nd; ++d) dims[d] = s.dims[d];
      shape_tuple[k] = dims;
    }
    shapes[i] = shape_tuple;
  }
  py::dict out;
  out["name"] = names;
  out["start_ns"] = start;
  out["end_ns"] = end;
  out["flops"] = flops;
  out["bytes"] = bytes;
  out["threads"] = threads;
  out["thread_id"] = tid;
  out["shapes"] = shapes;
  return out;
}

}  // namespace

void bind_profiler(py::module_& m) {
  m.def("profiler_enable", &prof::set_enabled, py::arg("on"),
        "Start (True) or stop (False) recording every native kernel call.");
  m.def("profiler_is_enabled", &prof::enabled);
  m.def("profiler_events", &events_py,
        "Drain the recorded native events: dict of columns name, start_ns, end_ns (steady "
        "clock), flops, bytes, threads, thread_id (threading.get_ident()), shapes.");
  m.def("profiler_clear", &prof::clear, "Drop every recorded event.");
  m.def("profiler_now_ns", &prof::now_ns, "The profiler's clock (std::chrono::steady_clock), ns.");
  m.def(
      "bench_fma_peak",
      [](int threads, double seconds) {
        NNC_CHECK(threads >= 1, "bench_fma_peak", "threads: expected >= 1, got ", threads);
        NNC_CHECK(seconds > 0, "bench_fma_peak", "seconds: expected > 0, got ", seconds);
        py::gil_scoped_release nogil;
        return prof::fma_peak_gflops(threads, seconds);
      },
      py::arg("threads"), py::arg("seconds") = 0.3,
      "FP32 FMA throughput (GFLOP/s) of a register-only FMA loop at the build's full vector "
      "width (bench_fma_lanes()) on `threads` threads.");
  m.def("bench_fma_lanes", &prof::fma_lanes,
        "Floats per FMA in bench_fma_peak's loop (16: AVX-512, 8: AVX2).");
  m.def(
      "bench_triad",
      [](int threads, int64_t n, int repeats) {
        NNC_CHECK(threads >= 1, "bench_triad", "threads: expected >= 1, got ", threads);
        NNC_CHECK(n >= 1 && repeats >= 1, "bench_triad", "n and repeats: expected >= 1, got ",
                  n, " and ", repeats);
        py::gil_scoped_release nogil;
        return prof::triad_gbs(threads, n, repeats);
      },
      py::arg("threads"), py::arg("n") = int64_t(1) << 24, py::arg("repeats") = 10,
      "Memory bandwidth (GB/s) of a STREAM triad over three float arrays of n elements.");
  m.def(
      "bench_profile_scope",
      [](int64_t iterations) {
        py::gil_scoped_release nogil;
        return prof::scope_cost_ns(iterations);
      },
      py::arg("iterations") = 1000000,
      "Mean ns one NNC_PROFILE scope adds around an empty call, profiling as it is now.");
}

}  // namespace nnc
