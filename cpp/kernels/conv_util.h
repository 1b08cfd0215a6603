// Helpers shared by the conv kernel files (conv_direct.cpp, conv_blocked.cpp,
// conv_blocked_dw.cpp, conv_im2col.cpp): threading over images with fixed reduction runs, lane
// sums in a fixed order, row copies, the zero-padded input, and the declarations of the kernels
// the dispatch in conv.cpp picks from.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <type_traits>
#include <vector>

#include "common/parallel.h"
#include "kernels/conv.h"

namespace nnc::conv_impl {

// Calls f(i, slot) for i in [0, n) on up to `threads` threads (slot < threads indexes per-thread
// scratch), in runs of consecutive i, about 8 per thread, claimed as threads come free. Each i
// must write only its own outputs: which thread runs it does not change the result.
template <class F>
void for_each_slot(int64_t n, int threads, const F& f) {
  const int64_t per = threads > 1 ? std::max<int64_t>(1, n / (8 * int64_t(threads))) : n;
  parallel_for((n + per - 1) / per, threads, [&](int64_t r, int slot) {
    for (int64_t i = r * per; i < std::min(n, (r + 1) * per); ++i) f(i, slot);
  });
}

// for_each_slot without scratch, in parallel when `work` is worth threads.
template <class F>
void for_each(int64_t n, int64_t work, const F& f) {
  for_each_slot(n, n > 1 && run_parallel(work) ? get_num_threads() : 1,
                [&](int64_t i, int) { f(i); });
}

// NOTE: sums over a batch's images run in fixed runs of images, each summed into its own
// partial and the partials added in run order: the runs depend on the batch size only, so the
// sums are the same bits at any thread count. Up to 8 runs, fewer when the partials would be
// large (per_run elements each).
inline int64_t image_runs(int64_t n, int64_t per_run) {
  constexpr int64_t kPartialBudget = int64_t{1} << 22;  // elements of partials, all runs
  const int64_t most = std::min<int64_t>(n, 8);
  return std::clamp<int64_t>(kPartialBudget / std::max<int64_t>(per_run, 1), 1, most);
}

// Calls f(r, slot, n0, n1) for each of `runs` runs r of consecutive images [n0, n1) of n. Runs
// start at multiples of `unit` (some may be empty): a kernel that puts `unit` images side by side
// in one GEMM then forms the same groups at any run count, so the GEMM shapes (and with them
// Eigen's blocking of the sums) do not depend on the thread count.
template <class F>
void for_image_runs(int64_t n, int64_t runs, int threads, const F& f, int64_t unit = 1) {
  const int64_t units = (n + unit - 1) / unit;
  auto start = [&](int64_t r) { return std::min(n, unit * (units * r / runs)); };
  parallel_for(runs, threads, [&](int64_t r, int slot) { f(r, slot, start(r), start(r + 1)); });
}

// sum_i p[i] over fixed lanes (i mod 8), then the lanes in order: vectorisable, and the result
// depends on the values only (not on the address or the thread count).
template <class T>
T lane_sum(const T* p, int64_t len) {
  T acc[8] = {};
  int64_t i = 0;
  for (; i + 8 <= len; i += 8)
    for (int l = 0; l < 8; ++l) acc[l] += p[i + l];
  for (int l = 0; i + l < len; ++l) acc[l] += p[i + l];
  T s = 0;
  for (int l = 0; l < 8; ++l) s += acc[l];
  return s;
}

// sum_i a[i] * b[i] over fixed lanes, like lane_sum; 32 lanes (four vector accumulators) so the
// multiply-adds do not wait on each other's latency.
template <class T>
T lane_dot(const T* a, const T* b, int64_t len) {
  T acc[32] = {};
  int64_t i = 0;
  for (; i + 32 <= len; i += 32)
    for (int l = 0; l < 32; ++l) acc[l] += a[i + l] * b[i + l];
  for (int l = 0; i + l < len; ++l) acc[l] += a[i + l] * b[i + l];
  T s = 0;
  for (int l = 0; l < 32; ++l) s += acc[l];
  return s;
}

template <class T>
void bias_grad(const T* dy, T* db, const Conv2dShape& s) {
  const int64_t plane = s.oh * s.ow;
  for_each(s.k, s.n * s.k * plane, [&](int64_t k) {
    T acc = 0;
    for (int64_t n = 0; n < s.n; ++n) acc += lane_sum(dy + (n * s.k + k) * plane, plane);
    db[k] = acc;
  });
}

// Range [lo, hi) of output positions o whose input position o * stride + off lies in [0, len).
inline void valid_range(int64_t off, int64_t stride, int64_t len, int64_t out, int64_t& lo,
                        int64_t& hi) {
  lo = off >= 0 ? 0 : (-off + stride - 1) / stride;
  hi = len - 1 - off >= 0 ? (len - 1 - off) / stride + 1 : 0;
  lo = std::min(lo, out);
  hi = std::max(lo, std::min(hi, out));
}

// NOTE: std::copy_n calls memmove, whose call costs as much as copying a 28-float row: the
// direct kernels copy tens of thousands of such rows per call.
template <class T>
inline void copy_row(const T* __restrict src, T* __restrict dst, int64_t n) {
  typedef T V __attribute__((vector_size(8 * sizeof(T)), aligned(sizeof(T)), may_alias));
  if (n < 8) {
    std::copy_n(src, n, dst);
    return;
  }
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    *reinterpret_cast<V*>(dst + i) = *reinterpret_cast<const V*>(src + i);
    asm("" : "+r"(i));  // hides the copy idiom, which gcc would turn back into memmove
  }
  if (i < n) *reinterpret_cast<V*>(dst + n - 8) = *reinterpret_cast<const V*>(src + n - 8);
}

// dst[i] = 0 for i < n, inline (gcc would turn the loop into a memset call, which costs more
// than the few elements the padding edges of im2col zero).
template <class T>
inline void zero_row(T* dst, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    dst[i] = T(0);
    asm("" : "+r"(i));
  }
}


// Copies image x [c, h, w] into the interior of dst [c, hp, wp], whose padding is already zero.
template <class T>
void pad_image(const T* x, T* dst, const Conv2dShape& s) {
  const int64_t hp = s.h + 2 * s.pad_h, wp = s.w + 2 * s.pad_w;
  for (int64_t p = 0; p < s.c; ++p)
    for (int64_t i = 0; i < s.h; ++i)
      copy_row(x + (p * s.h + i) * s.w, dst + (p * hp + i + s.pad_h) * wp + s.pad_w, s.w);
}

// (Zero slack of one vector past the last plane, for whole-vector reads there.)
template <class T>
std::vector<T> padded_input(const T* x, const Conv2dShape& s) {
  const int64_t hp = s.h + 2 * s.pad_h, wp = s.w + 2 * s.pad_w;
  std::vector<T> xp(s.n * s.c * hp * wp + 8, T(0));
  T* out = xp.data();
  for_each(s.n * s.c, s.n * s.c * hp * wp, [&](int64_t p) {
    for (int64_t i = 0; i < s.h; ++i)
      copy_row(x + (p * s.h + i) * s.w, out + (p * hp + i + s.pad_h) * wp + s.pad_w, s.w);
  });
  return xp;
}

// Runs K<n>::run(args...) for a runtime n in [N, Max] (Max for anything larger): the kernels
// below take their tap or row counts as template parameters, so their accumulators are
// registers.
template <int N, int Max, template <int> class K, class... A>
void with_count(int n, A&&... args) {
  if constexpr (N == Max) {
    K<N>::run(args...);
  } else if (n == N) {
    K<N>::run(args...);
  } else {
    with_count<N + 1, Max, K>(n, args...);
  }
}


// v in every lane, one broadcast (`V{} + v` would add +0 first, which is not the identity for
// -0, so gcc keeps the add; subtracting +0 is, and folds away).
template <class V, class T>
inline V splat(T v) {
  return v - V{};
}

// Offsets of the cg * kh * kw taps of one output channel within the padded input of one image
// (pitch wp), in the weight's (c, i, j) order.
inline std::vector<int64_t> tap_offsets(const Conv2dShape& s) {
  const int64_t hp = s.h + 2 * s.pad_h, wp = s.w + 2 * s.pad_w;
  std::vector<int64_t> offs;
  for (int64_t cc = 0; cc < s.c / s.groups; ++cc)
    for (int64_t i = 0; i < s.kh; ++i)
      for (int64_t j = 0; j < s.kw; ++j)
        offs.push_back(cc * hp * wp + i * s.dil_h * wp + j * s.dil_w);
  return offs;
}

inline bool is_pointwise(const Conv2dShape& s) {
  return s.kh == 1 && s.kw == 1 && s.stride_h == 1 && s.stride_w == 1 && s.pad_h == 0 &&
         s.pad_w == 0;
}

// NOTE: runs of images go to threads (serial GEMMs inside, each thread its own column buffer)
// when the batch covers the threads; a smaller batch runs image by image with gemm()'s own
// threading.
inline int batch_threads(const Conv2dShape& s, int64_t work) {
  const int threads = get_num_threads();
  return s.n >= threads && run_parallel(work) ? threads : 1;
}

// The most taps per output (input channels per group x kernel size) the direct kernels take
// (conv.cpp: use_direct).
constexpr int64_t kDirectTaps = 16;

// ---- the kernels (one algorithm per file; conv.cpp's dispatch says which shape goes where)
// conv_direct.cpp: few taps per output (the 1-channel first layer), any stride.
template <class T>
void direct_forward(const T* x, const T* w, const T* b, T* y, const Conv2dShape& s);
template <class T>
void direct_backward(const T* dy, const T* x, const T* w, T* dx, T* dw, T* db,
                     const Conv2dShape& s);
// dw (and db, if not null) alone, stride 1.
template <class T>
void direct_weight_grad(const T* dy, const T* x, T* dw, T* db, const Conv2dShape& s);
// conv_blocked.cpp / conv_blocked_dw.cpp: register-tiled direct kernels, stride 1.
template <class T>
void blocked_forward(const T* x, const T* w, const T* b, T* y, const Conv2dShape& s);
template <class T>
void blocked_input_grad(const T* dy, const T* w, T* dx, const Conv2dShape& s);
template <class T>
void blocked_weight_grad(const T* dy, const T* x, T* dw, T* db, const Conv2dShape& s);
// conv_winograd.cpp: F(2x2, 3x3), 3x3 stride 1 undilated single-group layers.
template <class T>
void winograd_forward(const T* x, const T* w, const T* b, T* y, const Conv2dShape& s);
template <class T>
void winograd_input_grad(const T* dy, const T* w, T* dx, const Conv2dShape& s);
template <class T>
void winograd_weight_grad(const T* dy, const T* x, T* dw, T* db, const Conv2dShape& s);
// conv_winograd43.cpp: F(4x4, 3x3), the same layers (y and dx).
template <class T>
void winograd43_forward(const T* x, const T* w, const T* b, T* y, const Conv2dShape& s);
template <class T>
void winograd43_input_grad(const T* dy, const T* w, T* dx, const Conv2dShape& s);
// conv_im2col.cpp: column matrix + GEMM, any shape.
template <class T>
void im2col_forward(const T* x, const T* w, const T* b, T* y, const Conv2dShape& s);
template <class T>
void im2col_backward(const T* dy, const T* x, const T* w, T* dx, T* dw, const Conv2dShape& s);

}  // namespace nnc::conv_impl
