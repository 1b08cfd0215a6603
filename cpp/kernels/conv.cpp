#include "kernels/conv.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <type_traits>
#include <vector>

#include "common/check.h"
#include "common/checked.h"
#include "common/parallel.h"
#include "common/simd.h"
#include "kernels/linear.h"

namespace nnc {

// ---- conv2d ---------------------------------------------------------------------------------

Conv2dShape conv2d_shape(int64_t n, int64_t c, int64_t h, int64_t w, int64_t k, int64_t wc,
                         int64_t kh, int64_t kw, int64_t stride_h, int64_t stride_w,
                         int64_t pad_h, int64_t pad_w, int64_t dil_h, int64_t dil_w,
                         int64_t groups) {
  const char* op = "conv2d";
  const std::string xs = shape_str({n, c, h, w}), ws = shape_str({k, wc, kh, kw});
  NNC_CHECK(n > 0 && c > 0 && h > 0 && w > 0, op, "empty input of shape ", xs);
  NNC_CHECK(k > 0 && wc > 0 && kh > 0 && kw > 0, op, "empty weight of shape ", ws);
  NNC_CHECK(stride_h > 0 && stride_w > 0, op, "stride must be positive, got (", stride_h, ", ",
            stride_w, ")");
  NNC_CHECK(pad_h >= 0 && pad_w >= 0, op, "padding must be non-negative, got (", pad_h, ", ",
            pad_w, ")");
  NNC_CHECK(dil_h > 0 && dil_w > 0, op, "dilation must be positive, got (", dil_h, ", ", dil_w,
            ")");
  NNC_CHECK(groups > 0, op, "groups must be positive, got ", groups);
  NNC_CHECK(c % groups == 0 && k % groups == 0, op, "input channels ", c, " and output channels ",
            k, " must both be divisible by groups=", groups, ": input ", xs, ", weight ", ws);
  NNC_CHECK(wc * groups == c, op, "weight of shape ", ws, " expects ", wc * groups,
            " input channels (groups=", groups, "), but input of shape ", xs, " has ", c);
  // NOTE: checked, so a huge padding or dilation is an error here instead of a wrapped size
  // (padding 2^63-1 once made hp negative and the padded copy wrote past its buffer).
  const int64_t ekh = checked_add(op, "dilation", checked_mul(op, "dilation", kh - 1, dil_h), 1);
  const int64_t ekw = checked_add(op, "dilation", checked_mul(op, "dilation", kw - 1, dil_w), 1);
  const int64_t hp = checked_add(op, "padding", h, checked_mul(op, "padding", 2, pad_h));
  const int64_t wp = checked_add(op, "padding", w, checked_mul(op, "padding", 2, pad_w));
  NNC_CHECK(ekh <= hp && ekw <= wp, op, "kernel (", ekh, ", ", ekw,
            ") (dilated) is larger than the padded input (", hp, ", ", wp, "): input ", xs,
            ", weight ", ws);
  // NOTE: a stride past the padded input gives one output position, as the padded size does;
  // clamped so the kernels' window arithmetic (pad + stride) cannot overflow.
  stride_h = std::min(stride_h, hp);
  stride_w = std::min(stride_w, wp);
  const int64_t oh = (hp - ekh) / stride_h + 1, ow = (wp - ekw) / stride_w + 1;
  // The kernels' buffers: the output, the zero-padded input and the im2col columns.
  checked_numel(op, "padding", {n, c, hp, wp});
  checked_numel(op, "output", {n, k, oh, ow});
  checked_numel(op, "output", {c, kh, kw, oh, ow});
  return {n, c, h, w, k, kh, kw, oh, ow, stride_h, stride_w, pad_h, pad_w, dil_h, dil_w, groups};
}

namespace {

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

// lanes[l] += sum over i = l (mod 8) of p[i]: lane_sum's first step, kept across calls. Four
// partial sums (i mod 32), added in a fixed order: with one chain of vector adds, waiting on
// its latency took a fifth of the 1-channel layer's dw pass outside the tap products (perf).
template <class T>
void lane_accumulate(T* __restrict lanes, const T* __restrict p, int64_t len) {
  T acc[32] = {};
  int64_t i = 0;
  for (; i + 32 <= len; i += 32)
    for (int l = 0; l < 32; ++l) acc[l] += p[i + l];
  for (int l = 0; i + l < len; ++l) acc[l] += p[i + l];
  for (int l = 0; l < 8; ++l) lanes[l] += (acc[l] + acc[8 + l]) + (acc[16 + l] + acc[24 + l]);
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

// ---- direct kernels: a zero-padded copy of x, then plain multiply-add loops along output rows.
// dst[i] = src[i] for i < n, inline in 8-lane vector moves (the last one overlapping).
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

// At most this many taps per pass of the wide kernels below (a 3x3 kernel in one pass): the
// weights, or the per-tap accumulators, stay in vector registers.
constexpr int kTapChunk = 9;

// buf[t] = (init ? *init : buf[t]) + sum_{q < NT} wv[q] * xs[q][t], taps added in order
// q = 0, 1, ...: each output is loaded and stored once per NT taps instead of once per tap.
// Not inlined: on its own the weights stay in registers.
template <int NT, class T>
__attribute__((noinline)) void taps_forward(T* __restrict buf, const T* const* xs, const T* wv,
                                            int64_t len, const T* init) {
  T wr[NT];
  const T* xr[NT];
  for (int q = 0; q < NT; ++q) {
    wr[q] = wv[q];
    xr[q] = xs[q];
  }
  if (init) {
    const T b = *init;
    for (int64_t t = 0; t < len; ++t) {
      T acc = b;
      for (int q = 0; q < NT; ++q) acc += wr[q] * xr[q][t];
      buf[t] = acc;
    }
  } else {
    for (int64_t t = 0; t < len; ++t) {
      T acc = buf[t];
      for (int q = 0; q < NT; ++q) acc += wr[q] * xr[q][t];
      buf[t] = acc;
    }
  }
}

// acc[q * 8 + l] += sum over t = l (mod 8) of dy[t] * xs[q][t]: one pass over dy for NT taps,
// lanes fixed by t, so the sums depend on the values only. GCC vector extension: 8 lanes of T.
template <int NT, class T>
__attribute__((noinline)) void taps_dot(T* __restrict acc, const T* __restrict dy,
                                        const T* const* xs, int64_t len) {
  typedef T V __attribute__((vector_size(8 * sizeof(T)), aligned(sizeof(T)), may_alias));
  V a[NT];
  const T* xr[NT];
  for (int q = 0; q < NT; ++q) {
    xr[q] = xs[q];
    a[q] = V{};
  }
  int64_t t = 0;
  for (; t + 8 <= len; t += 8) {
    const V d = *reinterpret_cast<const V*>(dy + t);
    for (int q = 0; q < NT; ++q) a[q] += d * *reinterpret_cast<const V*>(xr[q] + t);
  }
  for (int q = 0; q < NT; ++q) {
    *reinterpret_cast<V*>(acc + q * 8) += a[q];
    for (int l = 0; t + l < len; ++l) acc[q * 8 + l] += dy[t + l] * xr[q][t + l];
  }
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

template <template <int> class K, class... A>
void with_taps(int nt, A&&... args) {
  with_count<1, kTapChunk, K>(nt, args...);
}

template <int NT>
struct TapsForward {
  template <class T>
  static void run(T* buf, const T* const* xs, const T* wv, int64_t len, const T* init) {
    taps_forward<NT>(buf, xs, wv, len, init);
  }
};

template <int NT>
struct TapsDot {
  template <class T>
  static void run(T* acc, const T* dy, const T* const* xs, int64_t len) {
    taps_dot<NT>(acc, dy, xs, len);
  }
};

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

// NOTE: with stride 1, output row oh and tap (i, j) read the padded input at a fixed offset, so
// computing each output plane with the padded row pitch wp ("wide", wp - ow junk columns per
// row) turns every tap into one long vectorised loop over the whole plane instead of oh short
// ones (measured 3-5x faster on 28x28 planes, whose 28-float rows are mostly loop overhead).
template <class T>
void direct_forward(const T* x, const T* w, const T* b, T* y, const Conv2dShape& s) {
  const std::vector<T> xpv = padded_input(x, s);
  const T* xp = xpv.data();
  const int64_t hp = s.h + 2 * s.pad_h, wp = s.w + 2 * s.pad_w;
  const int64_t cg = s.c / s.groups, kg = s.k / s.groups, taps = s.kh * s.kw;
  const int64_t ow = s.ow, sw = s.stride_w;
  const bool wide = s.stride_h == 1 && s.stride_w == 1;
  const int64_t len = (s.oh - 1) * wp + ow;
  const int64_t work = s.n * s.k * s.oh * ow * cg * taps;
  const int threads = s.n * s.k > 1 && run_parallel(work) ? get_num_threads() : 1;
  std::vector<T> widev(wide ? threads * s.oh * wp : 0);
  const std::vector<int64_t> offs = tap_offsets(s);
  const int64_t nq = cg * taps;
  for_each_slot(s.n * s.k, threads, [&](int64_t nk, int slot) {
    const int64_t n = nk / s.k, k = nk % s.k, g = k / kg;
    T* yplane = y + nk * s.oh * ow;
    if (wide) {
      T* __restrict buf = widev.data() + slot * s.oh * wp;
      const T bias = b ? b[k] : T(0);
      const T* xg = xp + (n * s.c + g * cg) * hp * wp;
      const T* wk = w + k * nq;
      for (int64_t q0 = 0; q0 < nq; q0 += kTapChunk) {
        const int nt = int(std::min<int64_t>(kTapChunk, nq - q0));
        const T* xs[kTapChunk];
        for (int q = 0; q < nt; ++q) xs[q] = xg + offs[q0 + q];
        with_taps<TapsForward>(nt, buf, static_cast<const T* const*>(xs), wk + q0, len,
                               q0 == 0 ? &bias : nullptr);
      }
      for (int64_t oh = 0; oh < s.oh; ++oh) copy_row(buf + oh * wp, yplane + oh * ow, ow);
      return;
    }
    for (int64_t oh = 0; oh < s.oh; ++oh) {
      T* __restrict yr = yplane + oh * ow;
      std::fill_n(yr, ow, b ? b[k] : T(0));
      for (int64_t cc = 0; cc < cg; ++cc) {
        const T* xpl = xp + (n * s.c + g * cg + cc) * hp * wp;
        const T* wk = w + (k * cg + cc) * taps;
        for (int64_t i = 0; i < s.kh; ++i) {
          const T* xr = xpl + (oh * s.stride_h + i * s.dil_h) * wp;
          for (int64_t j = 0; j < s.kw; ++j) {
            const T wv = wk[i * s.kw + j];
            const T* __restrict xs = xr + j * s.dil_w;
            for (int64_t o = 0; o < ow; ++o) yr[o] += wv * xs[o * sw];
          }
        }
      }
    }
  });
}

// dw (and db) of a stride-1 direct conv: dw[k, tap] = sum over images of dot(dy plane k with
// pitch wp (zero junk columns), the image's padded input shifted by the tap), in 8 fixed lanes.
// NOTE: images outer, output channels inner: dy streams in memory order and the image's padded
// planes stay in L1 (channels outer read dy in plane-sized hops, 1.5-2x slower on the 1-channel
// MNIST layer). Each run of images (image_runs) sums into its own lanes; the runs are added in
// order, so the result is the same bits at any thread count.
template <class T>
void direct_weight_grad_wide(const T* dy, const T* xp, T* dw, T* db, const Conv2dShape& s,
                             int threads) {
  const int64_t hp = s.h + 2 * s.pad_h, wp = s.w + 2 * s.pad_w;
  const int64_t cg = s.c / s.groups, kg = s.k / s.groups, nq = cg * s.kh * s.kw;
  // The dot products run over whole vectors (no scalar tail per tap): dy's wide plane is zero
  // past its last row, and padded_input leaves slack past the last image.
  const int64_t plane = s.oh * s.ow, len = ((s.oh - 1) * wp + s.ow + 7) / 8 * 8;
  const std::vector<int64_t> offs = tap_offsets(s);
  const int64_t per_thread = s.k * nq * 8 + s.k * 8;  // tap lanes, then bias lanes
  const int64_t wide_size = std::max(s.oh * wp, len);
  const int64_t runs = image_runs(s.n, per_thread);
  std::vector<T> partv(runs * per_thread, T(0));
  std::vector<T> dywv(threads * wide_size, T(0));
  for_image_runs(s.n, runs, threads, [&](int64_t run, int slot, int64_t n0, int64_t n1) {
    T* lanes = partv.data() + run * per_thread;
    T* bias_lanes = lanes + s.k * nq * 8;
    T* dyw = dywv.data() + slot * wide_size;
    for (int64_t n = n0; n < n1; ++n)
      for (int64_t k = 0; k < s.k; ++k) {
        const T* dyk = dy + (n * s.k + k) * plane;
        for (int64_t oh = 0; oh < s.oh; ++oh) copy_row(dyk + oh * s.ow, dyw + oh * wp, s.ow);
        if (db) lane_accumulate(bias_lanes + k * 8, dyw, len);  // the junk columns are zero
        const T* xg = xp + (n * s.c + (k / kg) * cg) * hp * wp;
        for (int64_t q0 = 0; q0 < nq; q0 += kTapChunk) {
          const int nt = int(std::min<int64_t>(kTapChunk, nq - q0));
          const T* xs[kTapChunk];
          for (int q = 0; q < nt; ++q) xs[q] = xg + offs[q0 + q];
          with_taps<TapsDot>(nt, lanes + (k * nq + q0) * 8, static_cast<const T*>(dyw),
                             static_cast<const T* const*>(xs), len);
        }
      }
  });
  for (int64_t k = 0; k < s.k; ++k) {
    for (int64_t q = 0; q < nq; ++q) {
      T sum = 0;
      for (int64_t r = 0; r < runs; ++r)
        sum += lane_sum(partv.data() + r * per_thread + (k * nq + q) * 8, 8);
      dw[k * nq + q] = sum;
    }
    if (db) {
      T sum = 0;
      for (int64_t r = 0; r < runs; ++r)
        sum += lane_sum(partv.data() + r * per_thread + s.k * nq * 8 + k * 8, 8);
      db[k] = sum;
    }
  }
}

// db rides along the wide dw pass (dy's planes are in L1 there); otherwise bias_grad.
template <class T>
void direct_backward(const T* dy, const T* x, const T* w, T* dx, T* dw, T* db,
                     const Conv2dShape& s) {
  const int64_t hp = s.h + 2 * s.pad_h, wp = s.w + 2 * s.pad_w;
  const int64_t cg = s.c / s.groups, kg = s.k / s.groups, taps = s.kh * s.kw;
  const int64_t ow = s.ow, sw = s.stride_w, plane = s.oh * ow;
  const int64_t work = s.n * s.k * plane * cg * taps;
  const int threads = run_parallel(work) ? get_num_threads() : 1;
  const bool wide = s.stride_h == 1 && s.stride_w == 1;
  if (db && !(dw && wide)) bias_grad(dy, db, s);
  if (dw) {
    const std::vector<T> xpv = padded_input(x, s);
    const T* xp = xpv.data();
    if (wide) {
      direct_weight_grad_wide(dy, xp, dw, db, s, threads);
    } else {
      // dw[k, tap] = sum over (n, oh) of the row products dy * x, kept per output column in
      // acc[tap][o] (vectorisable) and summed over o at the end: the order is fixed per k.
      std::vector<T> accv(threads * cg * taps * ow);
      for_each_slot(s.k, s.k > 1 ? threads : 1, [&](int64_t k, int slot) {
        const int64_t g = k / kg;
        T* acc = accv.data() + slot * cg * taps * ow;
        std::fill_n(acc, cg * taps * ow, T(0));
        for (int64_t n = 0; n < s.n; ++n) {
          for (int64_t oh = 0; oh < s.oh; ++oh) {
            const T* __restrict dyr = dy + (n * s.k + k) * plane + oh * ow;
            for (int64_t cc = 0; cc < cg; ++cc) {
              const T* xpl = xp + (n * s.c + g * cg + cc) * hp * wp;
              for (int64_t i = 0; i < s.kh; ++i) {
                const T* xr = xpl + (oh * s.stride_h + i * s.dil_h) * wp;
                for (int64_t j = 0; j < s.kw; ++j) {
                  T* __restrict a = acc + ((cc * s.kh + i) * s.kw + j) * ow;
                  const T* __restrict xs = xr + j * s.dil_w;
                  if (sw == 1) {
                    for (int64_t o = 0; o < ow; ++o) a[o] += dyr[o] * xs[o];
                  } else {
                    for (int64_t o = 0; o < ow; ++o) a[o] += dyr[o] * xs[o * sw];
                  }
                }
              }
            }
          }
        }
        for (int64_t t = 0; t < cg * taps; ++t) dw[k * cg * taps + t] = lane_sum(acc + t * ow, ow);
      });
    }
  }
  if (dx) {
    // dx[n,c] gathers from every output channel of its group into a padded plane, then crops.
    std::vector<T> bufv(threads * hp * wp);
    for_each_slot(s.n * s.c, threads, [&](int64_t nc, int slot) {
      const int64_t n = nc / s.c, c = nc % s.c, g = c / cg, cc = c % cg;
      T* buf = bufv.data() + slot * hp * wp;
      std::fill_n(buf, hp * wp, T(0));
      for (int64_t kk = 0; kk < kg; ++kk) {
        const int64_t k = g * kg + kk;
        const T* wk = w + (k * cg + cc) * taps;
        for (int64_t oh = 0; oh < s.oh; ++oh) {
          const T* __restrict dyr = dy + (n * s.k + k) * plane + oh * ow;
          for (int64_t i = 0; i < s.kh; ++i) {
            T* br = buf + (oh * s.stride_h + i * s.dil_h) * wp;
            for (int64_t j = 0; j < s.kw; ++j) {
              const T wv = wk[i * s.kw + j];
              T* __restrict bs = br + j * s.dil_w;
              if (sw == 1) {
                for (int64_t o = 0; o < ow; ++o) bs[o] += wv * dyr[o];
              } else {
                for (int64_t o = 0; o < ow; ++o) bs[o * sw] += wv * dyr[o];
              }
            }
          }
        }
      }
      for (int64_t i = 0; i < s.h; ++i)
        copy_row(buf + (i + s.pad_h) * wp + s.pad_w, dx + (nc * s.h + i) * s.w, s.w);
    });
  }
}

// ---- blocked direct kernel (stride 1): R output channels x 2 vectors of output positions in
// registers, every tap read straight from a zero-padded copy of the input (no column matrix).
// Positions are "wide" (row pitch wp of the padded input, wp - ow junk columns per row, as in
// direct_forward), so tap (c, i, j) of a tile is one pair of contiguous vector loads.

// v in every lane, one broadcast (`V{} + v` would add +0 first, which is not the identity for
// -0, so gcc keeps the add; subtracting +0 is, and folds away).
template <class V, class T>
inline V splat(T v) {
  return v - V{};
}

// out[r, t] = (bias ? bias[r] : 0) + sum_{q < nq} wq[q * R + r] * xp[offs[q] + t] for the
// wide positions t of `tiles` tiles of 2 vectors; out rows are ldo apart. With half_last the
// last tile computes its first vector only (the positions after it are past the plane). Not
// inlined: the 2R accumulators stay in vector registers.
template <int R, class T>
__attribute__((noinline)) void blocked_tiles(const T* __restrict xp, const int64_t* __restrict offs,
                                             int64_t nq, const T* __restrict wq, const T* bias,
                                             T* __restrict out, int64_t ldo, int64_t tiles,
                                             bool half_last) {
  constexpr int L = 32 / sizeof(T);
  typedef T V __attribute__((vector_size(32), aligned(sizeof(T)), may_alias));
  const int64_t full = half_last ? tiles - 1 : tiles;
  for (int64_t tile = 0; tile < full; ++tile) {
    V a0[R], a1[R];
    for (int r = 0; r < R; ++r) {
      a0[r] = splat<V>(bias ? bias[r] : T(0));
      a1[r] = a0[r];
    }
    const T* xt = xp + tile * 2 * L;
    const T* wr = wq;
    for (int64_t q = 0; q < nq; ++q, wr += R) {
      const T* xq = xt + offs[q];
      const V x0 = *reinterpret_cast<const V*>(xq);
      const V x1 = *reinterpret_cast<const V*>(xq + L);
      for (int r = 0; r < R; ++r) {
        const V wb = splat<V>(wr[r]);
        a0[r] += wb * x0;
        a1[r] += wb * x1;
      }
    }
    for (int r = 0; r < R; ++r) {
      *reinterpret_cast<V*>(out + r * ldo + tile * 2 * L) = a0[r];
      *reinterpret_cast<V*>(out + r * ldo + tile * 2 * L + L) = a1[r];
    }
  }
  if (full < tiles) {
    // NOTE: a 14x14 plane's wide positions fill 13 tiles and 2 positions of a 14th: its
    // second vector would be all junk (3.6% of the layer's forward and dx).
    V a0[R];
    for (int r = 0; r < R; ++r) a0[r] = splat<V>(bias ? bias[r] : T(0));
    const T* xt = xp + full * 2 * L;
    const T* wr = wq;
    for (int64_t q = 0; q < nq; ++q, wr += R) {
      const V x0 = *reinterpret_cast<const V*>(xt + offs[q]);
      for (int r = 0; r < R; ++r) a0[r] += splat<V>(wr[r]) * x0;
    }
    for (int r = 0; r < R; ++r) *reinterpret_cast<V*>(out + r * ldo + full * 2 * L) = a0[r];
  }
}

// Output channels per register tile: 2R accumulators + 2 inputs + 1 weight fit the 16 vector
// registers of AVX2.
constexpr int kBlockRows = 6;

// Input bytes (all input channels) of the positions one chunk of tiles covers: with the rows the
// taps reach around them, they stay in L2 while every block of output channels reads them.
constexpr int64_t kChunkBytes = 64 << 10;

template <int R>
struct BlockedTiles {
  template <class T>
  static void run(const T* xp, const int64_t* offs, int64_t nq, const T* wq, const T* bias,
                  T* out, int64_t ldo, int64_t tiles, bool half_last) {
    blocked_tiles<R>(xp, offs, nq, wq, bias, out, ldo, tiles, half_last);
  }
};

// A stride-1 correlation of one group's planes, as the blocked kernel runs it: `cin` input
// planes [h, w] padded by (pad_h, pad_w) on each side, taps (c, i, j) at dilation (dil_h, dil_w),
// `cout` output planes [oh, ow]. The padded planes are [hp, wp] with the data at column col0
// of each row, the first plane `lead` elements into the buffer (see data()).
// NOTE: when the padding is no wider than the kernel's reach (padding 1 on a 3x3: the common
// case), a row's right padding doubles as the next row's left one: wp = w + pad_w instead of
// w + 2 pad_w, so the wide rows carry half the junk columns (14x14 planes: 15 positions a row for
// 14 outputs instead of 16). Taps left of a row read the previous row's zeros.
struct BlockedConv {
  int64_t groups, cin, h, w, pad_h, pad_w, hp, wp, col0, lead, cout, oh, ow, nq, tiles, padded;
  std::vector<int64_t> offs;
  BlockedConv(int64_t groups_, int64_t cin_, int64_t h_, int64_t w_, int64_t pad_h_,
              int64_t pad_w_, int64_t cout_, int64_t kh, int64_t kw, int64_t dil_h,
              int64_t dil_w, size_t elem)
      : groups(groups_), cin(cin_), h(h_), w(w_), pad_h(pad_h_), pad_w(pad_w_),
        hp(h_ + 2 * pad_h_), cout(cout_), oh(hp - (kh - 1) * dil_h),
        ow(w_ + 2 * pad_w_ - (kw - 1) * dil_w), nq(cin_ * kh * kw) {
    const bool shared = pad_w <= (kw - 1) * dil_w;
    wp = shared ? w + pad_w : w + 2 * pad_w;
    col0 = shared ? 0 : pad_w;
    lead = shared ? pad_w : 0;
    for (int64_t c = 0; c < cin; ++c)
      for (int64_t i = 0; i < kh; ++i)
        for (int64_t j = 0; j < kw; ++j)
          offs.push_back(c * hp * wp + i * dil_h * wp + j * dil_w + col0 - pad_w);
    const int64_t per_tile = 2 * 32 / int64_t(elem);
    tiles = (oh * wp + per_tile - 1) / per_tile;
    // The last tile reads past the last plane (into junk outputs only): zeros, not garbage.
    padded = lead + std::max(cin * hp * wp, offs.back() + tiles * per_tile);
  }
  // Where input row r of plane c goes in a padded buffer (xp: the buffer plus lead).
  int64_t data(int64_t c, int64_t r) const { return (c * hp + r + pad_h) * wp + col0; }
  int64_t blocks() const { return (cout + kBlockRows - 1) / kBlockRows; }
  // Output channels [o0, o0 + rows) of block b: the blocks differ by at most one row (32
  // channels as 6,6,5,5,5,5 rather than 6,6,6,6,6,2, whose 2-row tile runs at a third of the
  // speed: 8% of a 32-channel dx in one tile).
  void block(int64_t b, int64_t& o0, int& rows) const {
    const int64_t nb = blocks(), base = cout / nb, extra = cout % nb;
    o0 = b * base + std::min(b, extra);
    rows = int(base + (b < extra ? 1 : 0));
  }
};

// y[n, g*cout + o] = bias + sum_q wpk[...] * (x's group g of image n, padded)[offs[q] + t]
// for every image n: wpk holds, per group and block of output channels, the block's
// weights tap-major (q, r). Threading: the pool over (image, group) pairs handed out dynamically
// when there are two per thread or more, else over (image, group, chunk of tiles) items in static
// runs; a thread pads an image once for the items of it that it owns.
// NOTE: every block of output channels of a chunk runs before the next chunk, so the chunk's
// input rows stay in L2 (on a 64-channel 56x56 image, channels outer re-read the whole padded
// image, 0.9 MB, from L3 for each block).
template <class T>
void blocked_conv(const T* x, const T* wpk, const T* bias, T* y, int64_t n,
                  const BlockedConv& bc) {
  const int64_t per_tile = 2 * 32 / int64_t(sizeof(T));
  const int64_t chunk =
      std::max<int64_t>(1, kChunkBytes / (bc.cin * int64_t(sizeof(T)) * per_tile));
  const int64_t chunks = (bc.tiles + chunk - 1) / chunk, items = n * bc.groups * chunks;
  const int64_t in_plane = bc.h * bc.w, out_plane = bc.oh * bc.ow, wide = bc.oh * bc.wp;
  const int64_t work = n * bc.groups * bc.cout * bc.nq * wide;
  const int threads = items > 1 && run_parallel(work) ? get_num_threads() : 1;
  const int64_t ldo = std::min(chunk, bc.tiles) * per_tile;
  std::vector<T> xpv(threads * bc.padded, T(0));
  std::vector<T> outv(threads * kBlockRows * ldo);
  auto run = [&](int t, int64_t i0, int64_t i1) {
    T* xp = xpv.data() + t * bc.padded + bc.lead;
    T* out = outv.data() + t * kBlockRows * ldo;
    int64_t padded_for = -1;  // the (image, group) now in xp
    for (int64_t item = i0; item < i1; ++item) {
      const int64_t ng = item / chunks, g = ng % bc.groups, tile0 = item % chunks * chunk;
      const int64_t tiles = std::min(chunk, bc.tiles - tile0);
      if (ng != padded_for) {
        const T* xg = x + ng * bc.cin * in_plane;
        for (int64_t c = 0; c < bc.cin; ++c)
          for (int64_t r = 0; r < bc.h; ++r)
            copy_row(xg + (c * bc.h + r) * bc.w, xp + bc.data(c, r), bc.w);
        padded_for = ng;
      }
      // The chunk's wide positions [p0, p1), and the output rows they cross.
      const int64_t p0 = tile0 * per_tile, p1 = std::min(wide, p0 + tiles * per_tile);
      const bool half_last = p1 - p0 <= (tiles - 1) * per_tile + per_tile / 2;
      for (int64_t blk = 0; blk < bc.blocks(); ++blk) {
        int64_t o0;
        int rows;
        bc.block(blk, o0, rows);
        with_count<1, kBlockRows, BlockedTiles>(
            rows, static_cast<const T*>(xp + p0), bc.offs.data(), bc.nq,
            wpk + (g * bc.cout + o0) * bc.nq, bias ? bias + g * bc.cout + o0 : nullptr, out, ldo,
            tiles, half_last);
        T* yb = y + (ng * bc.cout + o0) * out_plane;
        for (int64_t orow = p0 / bc.wp; orow * bc.wp < p1; ++orow) {
          const int64_t row0 = orow * bc.wp;
          const int64_t c0 = std::max(p0, row0), c1 = std::min(p1, row0 + bc.ow);
          if (c1 <= c0) continue;
          for (int r = 0; r < rows; ++r)
            copy_row(out + r * ldo + (c0 - p0), yb + r * out_plane + orow * bc.ow + (c0 - row0),
                     c1 - c0);
        }
      }
    }
  };
  const int64_t images = n * bc.groups;
  if (threads > 1 && images >= 2 * threads) {
    // NOTE: images handed out one at a time (with all their chunks, so each is padded once),
    // not in fixed halves: on these shared 2-core machines one thread often runs slower for a
    // while, and the other then waited at the end (dynamic: 14x14 forward and dx 15-18% faster
    // at 2 threads, 56x56 forward 11%). Each output depends only on its item: the same bits.
    parallel_for(images, threads,
                 [&](int64_t ng, int slot) { run(slot, ng * chunks, (ng + 1) * chunks); });
  } else if (threads > 1) {
    const int64_t runs = std::min<int64_t>(items, 4 * int64_t(threads));
    parallel_for(runs, threads, [&](int64_t r, int slot) {
      run(slot, items * r / runs, items * (r + 1) / runs);
    });
  } else {
    run(0, 0, items);
  }
}

// Packs weights for blocked_conv: per group g and block [o0, o0 + rows) of output channels
// (BlockedConv::block), wpk[(g * cout + o0) * nq + q * rows + r] = weight(g, o0 + r, q).
template <class T, class F>
std::vector<T> pack_blocked_weights(const BlockedConv& bc, const F& weight) {
  std::vector<T> wpk(bc.groups * bc.cout * bc.nq);
  for (int64_t g = 0; g < bc.groups; ++g)
    for (int64_t blk = 0; blk < bc.blocks(); ++blk) {
      int64_t o0;
      int rows;
      bc.block(blk, o0, rows);
      T* dst = wpk.data() + (g * bc.cout + o0) * bc.nq;
      for (int64_t q = 0; q < bc.nq; ++q)
        for (int64_t r = 0; r < rows; ++r) dst[q * rows + r] = weight(g, o0 + r, q);
    }
  return wpk;
}

// NOTE: stride 1 only (the wide positions need it). Chosen where the junk columns of the wide
// rows cost less than im2col's column matrix: see use_blocked.
template <class T>
void blocked_forward(const T* x, const T* w, const T* b, T* y, const Conv2dShape& s) {
  const int64_t cg = s.c / s.groups, kg = s.k / s.groups;
  const BlockedConv bc(s.groups, cg, s.h, s.w, s.pad_h, s.pad_w, kg, s.kh, s.kw, s.dil_h,
                       s.dil_w, sizeof(T));
  const std::vector<T> wpk = pack_blocked_weights<T>(
      bc, [&](int64_t g, int64_t o, int64_t q) { return w[(g * kg + o) * bc.nq + q]; });
  blocked_conv(x, wpk.data(), b, y, s.n, bc);
}

// dx of a stride-1 conv is a stride-1 correlation of dy, padded by (k - 1) * d - p, with the
// weights flipped and in/out channels swapped: dx[c] = sum_{k,i,j} w[k, c, kh-1-i, kw-1-j] *
// dyp[k, ih + i*d, iw + j*d].
template <class T>
void blocked_input_grad(const T* dy, const T* w, T* dx, const Conv2dShape& s) {
  const int64_t cg = s.c / s.groups, kg = s.k / s.groups, taps = s.kh * s.kw;
  const BlockedConv bc(s.groups, kg, s.oh, s.ow, (s.kh - 1) * s.dil_h - s.pad_h,
                       (s.kw - 1) * s.dil_w - s.pad_w, cg, s.kh, s.kw, s.dil_h, s.dil_w,
                       sizeof(T));
  const std::vector<T> wpk =
      pack_blocked_weights<T>(bc, [&](int64_t g, int64_t c, int64_t q) {
        const int64_t k = g * kg + q / taps, tap = taps - 1 - q % taps;  // flipped (i, j)
        return w[(k * cg + c) * taps + tap];
      });
  blocked_conv(dy, wpk.data(), static_cast<const T*>(nullptr), dx, s.n, bc);
}

// ---- im2col + gemm: col[(c*kh + i)*kw + j, oh*ow + o] = x[c, oh*s-p+i*d, o*s-p+j*d] (or 0).

inline bool is_pointwise(const Conv2dShape& s) {
  return s.kh == 1 && s.kw == 1 && s.stride_h == 1 && s.stride_w == 1 && s.pad_h == 0 &&
         s.pad_w == 0;
}

// NOTE: a 3x3 layer on 56x56 has a 7 MB column matrix per image (576 x 3136 floats): written by
// im2col, then read by the GEMM, it streams through memory twice. Blocks of output positions
// (all rows, nb columns) keep the block in L2 between im2col and the GEMM (and for col2im).
constexpr int64_t kColBlockBytes = 256 << 10;

inline int64_t col_block(const Conv2dShape& s, int64_t rows, int64_t elem) {
  const int64_t plane = s.oh * s.ow;
  const int64_t nb = std::max<int64_t>(64, kColBlockBytes / (elem * rows) / 16 * 16);
  return nb >= plane ? plane : nb;
}

// Visits the output rows crossed by positions [p0, p0 + nb): f(oh, o0, o1, t0) for the columns
// [o0, o1) of output row oh, which land at block column t0.
template <class F>
void for_segments(const Conv2dShape& s, int64_t p0, int64_t nb, const F& f) {
  int64_t oh = p0 / s.ow, o0 = p0 % s.ow;
  for (int64_t t = 0; t < nb; ++oh, o0 = 0) {
    const int64_t o1 = std::min(s.ow, o0 + nb - t);
    f(oh, o0, o1, t);
    t += o1 - o0;
  }
}

// col[r, t] for the nb positions p0 + t of one image; rows `pitch` apart.
template <class T>
void im2col(const T* xg, T* col, const Conv2dShape& s, int64_t p0, int64_t nb, int64_t pitch) {
  const int64_t cg = s.c / s.groups;
  for (int64_t cc = 0; cc < cg; ++cc)
    for (int64_t i = 0; i < s.kh; ++i)
      for (int64_t j = 0; j < s.kw; ++j) {
        T* dst = col + ((cc * s.kh + i) * s.kw + j) * pitch;
        const int64_t off = j * s.dil_w - s.pad_w;
        int64_t lo, hi;
        valid_range(off, s.stride_w, s.w, s.ow, lo, hi);
        for_segments(s, p0, nb, [&](int64_t oh, int64_t o0, int64_t o1, int64_t t0) {
          T* d = dst + t0 - o0;  // d[o] for o in [o0, o1)
          const int64_t ih = oh * s.stride_h - s.pad_h + i * s.dil_h;
          if (ih < 0 || ih >= s.h) {
            zero_row(d + o0, o1 - o0);
            return;
          }
          const T* xr = xg + (cc * s.h + ih) * s.w + off;
          // Zeros left of the input, the copied run [a, e), zeros right of it.
          const int64_t a = std::clamp(lo, o0, o1), e = std::clamp(hi, a, o1);
          zero_row(d + o0, a - o0);
          if (s.stride_w == 1) {
            copy_row(xr + a, d + a, e - a);
          } else {
            for (int64_t o = a; o < e; ++o) d[o] = xr[o * s.stride_w];
          }
          zero_row(d + e, o1 - e);
        });
      }
}

// dxg[c, ih, iw] += col[...] for every (tap, output) of the block that reads it: the adjoint of
// im2col.
template <class T>
void col2im(const T* col, T* dxg, const Conv2dShape& s, int64_t p0, int64_t nb, int64_t pitch) {
  const int64_t cg = s.c / s.groups;
  for (int64_t cc = 0; cc < cg; ++cc)
    for (int64_t i = 0; i < s.kh; ++i)
      for (int64_t j = 0; j < s.kw; ++j) {
        const T* src = col + ((cc * s.kh + i) * s.kw + j) * pitch;
        const int64_t off = j * s.dil_w - s.pad_w;
        int64_t lo, hi;
        valid_range(off, s.stride_w, s.w, s.ow, lo, hi);
        for_segments(s, p0, nb, [&](int64_t oh, int64_t o0, int64_t o1, int64_t t0) {
          const int64_t ih = oh * s.stride_h - s.pad_h + i * s.dil_h;
          if (ih < 0 || ih >= s.h) return;
          const T* __restrict c = src + t0 - o0;
          T* __restrict xr = dxg + (cc * s.h + ih) * s.w + off;
          const int64_t a = std::max(o0, lo), e = std::min(o1, hi);
          if (s.stride_w == 1) {
            for (int64_t o = a; o < e; ++o) xr[o] += c[o];
          } else {
            for (int64_t o = a; o < e; ++o) xr[o * s.stride_w] += c[o];
          }
        });
      }
}

// NOTE: runs of images go to threads (serial GEMMs inside, each thread its own column buffer)
// when the batch covers the threads; a smaller batch runs image by image with gemm()'s own
// threading.
inline int batch_threads(const Conv2dShape& s, int64_t work) {
  const int threads = get_num_threads();
  return s.n >= threads && run_parallel(work) ? threads : 1;
}

// NOTE: a 14x14 plane makes GEMMs only 196 columns wide (196 deep for dw), where Eigen ran
// 10-20% slower than on wider ones (measured alone: 64x196x288 against 64x784x288). Planes that
// fit one column block go through the GEMMs several images at a time, about this many columns.
// (Stride-1 layers now take the blocked kernel; this serves strided ones.)
constexpr int64_t kGroupColumns = 1024;

inline int64_t images_per_gemm(const Conv2dShape& s, int64_t nb) {
  const int64_t plane = s.oh * s.ow;
  if (is_pointwise(s) || nb < plane) return 1;
  return std::clamp<int64_t>(kGroupColumns / plane, 1, 8);
}

// Per-thread scratch of the im2col kernels: the column block and an output (or dy) block.
template <class T>
struct ColScratch {
  std::vector<T> buf;
  int64_t col_size, out_size;
  ColScratch(int threads, int64_t col, int64_t out)
      : buf(threads * (col + out)), col_size(col), out_size(out) {}
  T* col(int t) { return buf.data() + t * (col_size + out_size); }
  T* out(int t) { return col(t) + col_size; }
};

// Column blocking of one im2col call: nb positions per block within an image, or `group` whole
// images side by side (width = group * plane columns).
struct ColPlan {
  int64_t nb, group, width;
  bool pointwise, staged;  // staged: GEMM outputs (or dy) go through a scratch block
};

inline ColPlan col_plan(const Conv2dShape& s, int64_t rows, size_t elem) {
  const int64_t plane = s.oh * s.ow;
  const bool pointwise = is_pointwise(s);
  const int64_t nb = pointwise ? plane : col_block(s, rows, int64_t(elem));
  const int64_t group = images_per_gemm(s, nb);
  return {nb, group, group > 1 ? group * plane : nb, pointwise, nb < plane || group > 1};
}

template <class T>
void im2col_forward(const T* x, const T* w, const T* b, T* y, const Conv2dShape& s) {
  const int64_t cg = s.c / s.groups, kg = s.k / s.groups, plane = s.oh * s.ow;
  const int64_t rows = cg * s.kh * s.kw, in_plane = s.h * s.w;
  const ColPlan plan = col_plan(s, rows, sizeof(T));
  const int threads = batch_threads(s, s.n * s.k * plane * rows);
  ColScratch<T> scratch(threads, plan.pointwise ? 0 : rows * plan.width,
                        plan.staged ? kg * plan.width : 0);
  // out[k, q] (pitch `cols`) plus the bias into y's plane k of image n from position p0 on.
  auto unstage = [&](const T* out, int64_t cols, int64_t n, int64_t g, int64_t p0, int64_t len) {
    for (int64_t k = 0; k < kg; ++k) {
      const T bias = b ? b[g * kg + k] : T(0);
      const T* __restrict src = out + k * cols;
      T* __restrict dst = y + (n * s.k + g * kg + k) * plane + p0;
      for (int64_t q = 0; q < len; ++q) dst[q] = src[q] + bias;
    }
  };
  auto run = [&](int t, int64_t n0, int64_t n1) {
    T* col = scratch.col(t);
    T* out = scratch.out(t);
    for (int64_t na = n0; na < n1; na += plan.group) {
      const int64_t count = std::min(plan.group, n1 - na);
      for (int64_t g = 0; g < s.groups; ++g) {
        const T* wg = w + g * kg * rows;
        if (plan.group > 1) {
          const int64_t cols = count * plane;
          for (int64_t i = 0; i < count; ++i)
            im2col(x + ((na + i) * s.c + g * cg) * in_plane, col + i * plane, s, 0, plane, cols);
          gemm<T>(false, false, kg, cols, rows, wg, col, out, false);
          for (int64_t i = 0; i < count; ++i) unstage(out + i * plane, cols, na + i, g, 0, plane);
          continue;
        }
        const T* xg = x + (na * s.c + g * cg) * in_plane;
        T* yg = y + (na * s.k + g * kg) * plane;
        for (int64_t p0 = 0; p0 < plane; p0 += plan.nb) {
          const int64_t cols = std::min(plan.nb, plane - p0);
          if (!plan.pointwise) im2col(xg, col, s, p0, cols, cols);
          const T* bmat = plan.pointwise ? xg : col;
          if (plan.staged) {
            gemm<T>(false, false, kg, cols, rows, wg, bmat, out, false);
            unstage(out, cols, na, g, p0, cols);
            continue;
          }
          if (b)
            for (int64_t k = 0; k < kg; ++k) std::fill_n(yg + k * plane, plane, b[g * kg + k]);
          gemm<T>(false, false, kg, cols, rows, wg, bmat, yg, b != nullptr);
        }
      }
    }
  };
  // No sums across images here, and image groups start at multiples of plan.group (see
  // for_image_runs): any run count gives the same bits.
  const int64_t runs = threads > 1 ? std::min<int64_t>(s.n, 4 * int64_t(threads)) : 1;
  for_image_runs(
      s.n, runs, threads, [&](int64_t, int slot, int64_t n0, int64_t n1) { run(slot, n0, n1); },
      plan.group);
}

template <class T>
void im2col_backward(const T* dy, const T* x, const T* w, T* dx, T* dw, const Conv2dShape& s) {
  const int64_t cg = s.c / s.groups, kg = s.k / s.groups, plane = s.oh * s.ow;
  const int64_t rows = cg * s.kh * s.kw, wsize = s.k * rows, in_plane = s.h * s.w;
  const ColPlan plan = col_plan(s, rows, sizeof(T));
  const int threads = batch_threads(s, 2 * s.n * s.k * plane * rows);
  ColScratch<T> scratch(threads, plan.pointwise ? 0 : rows * plan.width,
                        plan.staged ? kg * plan.width : 0);
  // NOTE: each run of images (image_runs) sums dw into its own partial (the first into dw); the
  // partials are then added in run order, so dw is the same bits at any thread count.
  const int64_t runs = dw ? image_runs(s.n, wsize) : std::min<int64_t>(s.n, 4 * int64_t(threads));
  std::vector<T> partv(dw ? (runs - 1) * wsize : 0);
  auto run = [&](int t, int64_t r, int64_t n0, int64_t n1) {
    T* col = scratch.col(t);
    T* dwt = r == 0 ? dw : partv.data() + (r - 1) * wsize;
    for (int64_t na = n0; na < n1; na += plan.group) {
      const int64_t count = std::min(plan.group, n1 - na);
      for (int64_t g = 0; g < s.groups; ++g) {
        const T* wg = w + g * kg * rows;
        T* dwg = dwt + g * kg * rows;
        if (plan.group > 1) {
          // dy of `count` images side by side, then the two GEMMs over all their columns.
          const int64_t cols = count * plane;
          T* dyb = scratch.out(t);
          for (int64_t i = 0; i < count; ++i)
            for (int64_t k = 0; k < kg; ++k)
              copy_row(dy + ((na + i) * s.k + g * kg + k) * plane, dyb + k * cols + i * plane,
                       plane);
          if (dw) {
            for (int64_t i = 0; i < count; ++i)
              im2col(x + ((na + i) * s.c + g * cg) * in_plane, col + i * plane, s, 0, plane,
                     cols);
            gemm<T>(false, true, kg, rows, cols, dyb, col, dwg, na > n0);
          }
          if (dx) {
            gemm<T>(true, false, rows, cols, kg, wg, dyb, col, false);
            for (int64_t i = 0; i < count; ++i) {
              T* dxg = dx + ((na + i) * s.c + g * cg) * in_plane;
              std::fill_n(dxg, cg * in_plane, T(0));
              col2im(col + i * plane, dxg, s, 0, plane, cols);
            }
          }
          continue;
        }
        const T* xg = x + (na * s.c + g * cg) * in_plane;
        const T* dyg = dy + (na * s.k + g * kg) * plane;
        T* dxg = dx ? dx + (na * s.c + g * cg) * in_plane : nullptr;
        if (plan.pointwise) {
          if (dw) gemm<T>(false, true, kg, rows, plane, dyg, xg, dwg, na > n0);
          if (dx) gemm<T>(true, false, rows, plane, kg, wg, dyg, dxg, false);
          continue;
        }
        if (dx) std::fill_n(dxg, cg * in_plane, T(0));
        for (int64_t p0 = 0; p0 < plane; p0 += plan.nb) {
          const int64_t cols = std::min(plan.nb, plane - p0);
          // dy's block columns, contiguous (the GEMMs take no leading dimension).
          const T* dyb = dyg;
          if (plan.staged) {
            T* out = scratch.out(t);
            for (int64_t k = 0; k < kg; ++k) copy_row(dyg + k * plane + p0, out + k * cols, cols);
            dyb = out;
          }
          if (dw) {
            im2col(xg, col, s, p0, cols, cols);
            gemm<T>(false, true, kg, rows, cols, dyb, col, dwg, na > n0 || p0 > 0);
          }
          if (dx) {
            gemm<T>(true, false, rows, cols, kg, wg, dyb, col, false);
            col2im(col, dxg, s, p0, cols, cols);
          }
        }
      }
    }
    if (dw && n0 == n1) std::fill_n(dwt, wsize, T(0));
  };
  for_image_runs(
      s.n, runs, threads,
      [&](int64_t r, int slot, int64_t n0, int64_t n1) { run(slot, r, n0, n1); }, plan.group);
  if (dw && runs > 1)
    // Blocks of dw's elements, each adding the partials in run order.
    parallel_blocks(wsize, 4096, wsize * runs, [&](int64_t e0, int64_t e1) {
      for (int64_t p = 1; p < runs; ++p) {
        const T* part = partv.data() + (p - 1) * wsize;
        for (int64_t e = e0; e < e1; ++e) dw[e] += part[e];
      }
    });
}

// acc[j, 0 .. 2L) += sum over the positions (r, o) of dyt[(r * ow + o) * ldk + (0 .. 2L)] *
// x[j][r * wp + o] for the RQ taps j: an RQ x 2L tile of dw^T (taps x output channels) in
// registers, vectors along the output channels, so no lane sums. Not inlined: the 2RQ
// accumulators stay in vector registers.
template <int RQ, class T>
__attribute__((noinline)) void blocked_grad_tile(const T* const* x, const T* __restrict dyt,
                                                 int64_t ldk, int64_t oh, int64_t ow, int64_t wp,
                                                 T* __restrict acc, int64_t ldacc) {
  constexpr int L = 32 / sizeof(T);
  typedef T V __attribute__((vector_size(32), aligned(sizeof(T)), may_alias));
  V a0[RQ], a1[RQ];
  const T* xs[RQ];
  for (int j = 0; j < RQ; ++j) {
    a0[j] = *reinterpret_cast<const V*>(acc + j * ldacc);
    a1[j] = *reinterpret_cast<const V*>(acc + j * ldacc + L);
    xs[j] = x[j];
  }
  for (int64_t r = 0; r < oh; ++r) {
    const T* d = dyt + r * ow * ldk;
    const int64_t row = r * wp;
    for (int64_t o = 0; o < ow; ++o, d += ldk) {
      const V d0 = *reinterpret_cast<const V*>(d);
      const V d1 = *reinterpret_cast<const V*>(d + L);
      for (int j = 0; j < RQ; ++j) {
        const V xb = splat<V>(xs[j][row + o]);
        a0[j] += xb * d0;
        a1[j] += xb * d1;
      }
    }
  }
  for (int j = 0; j < RQ; ++j) {
    *reinterpret_cast<V*>(acc + j * ldacc) = a0[j];
    *reinterpret_cast<V*>(acc + j * ldacc + L) = a1[j];
  }
}

template <int R>
struct BlockedGradTile {
  template <class T>
  static void run(const T* const* x, const T* dyt, int64_t ldk, int64_t oh, int64_t ow,
                  int64_t wp, T* acc, int64_t ldacc) {
    blocked_grad_tile<R>(x, dyt, ldk, oh, ow, wp, acc, ldacc);
  }
};

// dw[k, q] = sum over images n and output positions (r, o) of dy[n, k, r, o] *
// xp[n][offs[q] + r * wp + o], x zero-padded; dy transposed per image to [position, channel]
// (channels padded with zeros to whole tiles). db (if asked) rides along as one more tap whose
// input is all ones. Threading: each run of images (image_runs) sums into its own dw^T partial,
// the partials added in run order: the same bits at any thread count.
// dst[c * ldd + r] = src[r * lds + c] for r < rows, c < cols.
// NOTE: square blocks through register shuffles for float (simd.h: 16x16 with AVX-512, 8x8 with
// AVX2): the scalar loop took a third of a 14x14 layer's dw pass.
template <class T>
void transpose_block(const T* src, int64_t lds, int64_t rows, int64_t cols, T* dst,
                     int64_t ldd) {
  int64_t r0 = 0, c0 = 0;
  if constexpr (std::is_same_v<T, float> && simd::kVector) {
    constexpr int64_t b = simd::kFloats;
    for (; r0 + b <= rows; r0 += b) {
      for (c0 = 0; c0 + b <= cols; c0 += b)
        simd::transpose_tile(src + r0 * lds + c0, lds, dst + c0 * ldd + r0, ldd);
      for (int64_t r = r0; r < r0 + b; ++r)
        for (int64_t c = c0; c < cols; ++c) dst[c * ldd + r] = src[r * lds + c];
    }
  }
  for (int64_t r = r0; r < rows; ++r)
    for (int64_t c = 0; c < cols; ++c) dst[c * ldd + r] = src[r * lds + c];
}

template <class T>
void blocked_weight_grad(const T* dy, const T* x, T* dw, T* db, const Conv2dShape& s) {
  const int64_t cg = s.c / s.groups, kg = s.k / s.groups;
  const BlockedConv bc(s.groups, cg, s.h, s.w, s.pad_h, s.pad_w, kg, s.kh, s.kw, s.dil_h,
                       s.dil_w, sizeof(T));
  constexpr int64_t tile_k = 2 * 32 / sizeof(T), tile_p = 16;
  const int64_t nq = bc.nq, taps = nq + (db ? 1 : 0), ldk = (kg + tile_k - 1) / tile_k * tile_k;
  const int64_t in_plane = s.h * s.w, out_plane = s.oh * s.ow, part_size = s.groups * taps * ldk;
  const int threads = batch_threads(s, s.n * s.k * nq * out_plane);
  std::vector<T> xpv(threads * bc.padded, T(0)), dytv(threads * out_plane * ldk, T(0));
  const int64_t runs = image_runs(s.n, part_size);
  std::vector<T> partv(runs * part_size, T(0)), ones(db ? s.oh * bc.wp : 0, T(1));
  for_image_runs(s.n, runs, threads, [&](int64_t run, int slot, int64_t n0, int64_t n1) {
    T* xp = xpv.data() + slot * bc.padded + bc.lead;
    T* dyt = dytv.data() + slot * out_plane * ldk;
    T* part = partv.data() + run * part_size;
    for (int64_t n = n0; n < n1; ++n)
      for (int64_t g = 0; g < s.groups; ++g) {
        const T* xg = x + (n * s.c + g * cg) * in_plane;
        for (int64_t c = 0; c < cg; ++c)
          for (int64_t r = 0; r < s.h; ++r)
            copy_row(xg + (c * s.h + r) * s.w, xp + bc.data(c, r), s.w);
        // The transpose in strips of tile_p positions: their rows of dyt stay in L1 while every
        // channel writes them.
        const T* dyg = dy + (n * s.k + g * kg) * out_plane;
        for (int64_t p0 = 0; p0 < out_plane; p0 += tile_p)
          transpose_block(dyg + p0, out_plane, kg, std::min(tile_p, out_plane - p0),
                          dyt + p0 * ldk, ldk);
        T* pg = part + g * taps * ldk;
        for (int64_t q0 = 0; q0 < taps; q0 += kBlockRows) {
          const int rows = int(std::min<int64_t>(kBlockRows, taps - q0));
          const T* xs[kBlockRows];
          for (int j = 0; j < rows; ++j) xs[j] = q0 + j < nq ? xp + bc.offs[q0 + j] : ones.data();
          for (int64_t k0 = 0; k0 < ldk; k0 += tile_k)
            with_count<1, kBlockRows, BlockedGradTile>(rows, static_cast<const T* const*>(xs),
                                                       static_cast<const T*>(dyt + k0), ldk, s.oh,
                                                       s.ow, bc.wp, pg + q0 * ldk + k0, ldk);
        }
      }
  });
  for (int64_t g = 0; g < s.groups; ++g)
    for (int64_t k = 0; k < kg; ++k)
      for (int64_t q = 0; q < taps; ++q) {
        const int64_t e = (g * taps + q) * ldk + k;
        T sum = partv[e];
        for (int64_t r = 1; r < runs; ++r) sum += partv[r * part_size + e];
        if (q < nq)
          dw[(g * kg + k) * nq + q] = sum;
        else
          db[g * kg + k] = sum;
      }
}

// NOTE: measured (bench/bench_cnn.py, 2-core Zen 3): with few input taps per output (the
// 1-channel first layer of an MNIST net, cg*kh*kw = 9) the GEMM's inner dimension is too short
// for Eigen to reach speed, and the direct row kernel runs 2-4x faster than im2col + gemm; from
// a few channels on, the blocked kernel (stride 1) or im2col + gemm wins. kDirectTaps is the
// crossover.
constexpr int64_t kDirectTaps = 16;

inline bool use_direct(const Conv2dShape& s) {
  return (s.c / s.groups) * s.kh * s.kw <= kDirectTaps;
}

// NOTE: measured (bench/bench_cnn.py shapes and 7x7 planes, 1 and 2 threads, alternating runs):
// the blocked kernel ran 1.25-1.5x faster than im2col + gemm on 14x14 and 7x7 planes (forward,
// dx and dw) and level to 1.2x on 56x56, even with junk columns in its wide rows. Pointwise
// layers need no im2col and keep the GEMM; outputs much narrower than the padded rows would
// waste most of the kernel's work on junk columns.
inline bool use_blocked(const Conv2dShape& s, bool input_grad) {
  if (s.stride_h != 1 || s.stride_w != 1 || is_pointwise(s)) return false;
  if (s.w + 2 * s.pad_w > 2 * s.ow) return false;
  if (input_grad && (s.pad_h > (s.kh - 1) * s.dil_h || s.pad_w > (s.kw - 1) * s.dil_w))
    return false;
  return true;
}

}  // namespace

template <class T>
void conv2d_forward(const T* x, const T* w, const T* b, T* y, const Conv2dShape& s) {
  if (use_direct(s))
    direct_forward(x, w, b, y, s);
  else if (use_blocked(s, false))
    blocked_forward(x, w, b, y, s);
  else
    im2col_forward(x, w, b, y, s);
}

template <class T>
void conv2d_backward(const T* dy, const T* x, const T* w, T* dx, T* dw, T* db,
                     const Conv2dShape& s) {
  if (use_direct(s)) {
    direct_backward(dy, x, w, dx, dw, db, s);
    return;
  }
  if (dx && use_blocked(s, true)) {
    blocked_input_grad(dy, w, dx, s);
    dx = nullptr;
  }
  if (dw && use_blocked(s, false)) {
    blocked_weight_grad(dy, x, dw, db, s);
    dw = db = nullptr;
  }
  if (dx || dw) im2col_backward(dy, x, w, dx, dw, s);
  if (db) bias_grad(dy, db, s);
}

// ---- pooling ----------------------------------------------------------------------------------

namespace {

// PyTorch's pooling_output_shape: floor or ceil division, and a last window must start inside
// the input or its left padding.
// Checked: a huge kernel, dilation or stride is an error, never a wrapped output size.
int64_t pool_out(const char* op, int64_t in, int64_t k, int64_t pad, int64_t stride, int64_t dil,
                 bool ceil_mode) {
  const int64_t span = checked_mul(op, "dilation", dil, k - 1);
  const int64_t padded = checked_add(op, "padding", in, checked_mul(op, "padding", 2, pad));
  const int64_t num = checked_add(op, "stride", padded - span - 1, ceil_mode ? stride - 1 : 0);
  int64_t out = (num >= 0 ? num / stride : -((-num + stride - 1) / stride)) + 1;
  if (ceil_mode && (out - 1) * stride >= in + pad) --out;
  return out;
}

template <class F>
void for_planes(const Pool2dShape& s, int64_t window, const F& f) {
  for_each(s.planes, s.planes * s.oh * s.ow * window, f);
}

// Window of output (o) along one axis for avg pooling, PyTorch's CPU rules: the divisor counts
// the window clipped to the padded input; the summed range is clipped to the input.
struct AvgWindow {
  int64_t h0, h1, w0, w1, divisor;
};

inline AvgWindow avg_window(const Pool2dShape& s, int64_t oh, int64_t ow, bool include_pad,
                            int64_t divisor_override) {
  int64_t h0 = oh * s.stride_h - s.pad_h, w0 = ow * s.stride_w - s.pad_w;
  int64_t h1 = std::min(h0 + s.kh, s.h + s.pad_h), w1 = std::min(w0 + s.kw, s.w + s.pad_w);
  const int64_t pool = (h1 - h0) * (w1 - w0);
  h0 = std::max<int64_t>(h0, 0);
  w0 = std::max<int64_t>(w0, 0);
  h1 = std::min(h1, s.h);
  w1 = std::min(w1, s.w);
  const int64_t div = divisor_override > 0 ? divisor_override
                      : include_pad          ? pool
                                             : (h1 - h0) * (w1 - w0);
  return {h0, h1, w0, w1, div};
}

}  // namespace

Pool2dShape pool2d_shape(const char* op, int64_t planes, int64_t h, int64_t w, int64_t kh,
                         int64_t kw, int64_t stride_h, int64_t stride_w, int64_t pad_h,
                         int64_t pad_w, int64_t dil_h, int64_t dil_w, bool ceil_mode) {
  NNC_CHECK(planes > 0 && h > 0 && w > 0, op, "empty input: ", planes, " planes of (", h, ", ",
            w, ")");
  NNC_CHECK(kh > 0 && kw > 0, op, "kernel_size must be positive, got (", kh, ", ", kw, ")");
  NNC_CHECK(stride_h > 0 && stride_w > 0, op, "stride must be positive, got (", stride_h, ", ",
            stride_w, ")");
  NNC_CHECK(dil_h > 0 && dil_w > 0, op, "dilation must be positive, got (", dil_h, ", ", dil_w,
            ")");
  NNC_CHECK(pad_h >= 0 && pad_w >= 0 && pad_h <= kh / 2 && pad_w <= kw / 2, op, "padding (",
            pad_h, ", ", pad_w, ") must be non-negative and at most half the kernel (", kh, ", ",
            kw, ")");
  // NOTE: a stride past the padded input gives one window either way; clamped so the window
  // arithmetic (o * stride - pad, stride - 1 in ceil mode) cannot overflow.
  const int64_t hp = checked_add(op, "padding", h, checked_mul(op, "padding", 2, pad_h));
  const int64_t wp = checked_add(op, "padding", w, checked_mul(op, "padding", 2, pad_w));
  stride_h = std::min(stride_h, hp);
  stride_w = std::min(stride_w, wp);
  const int64_t oh = pool_out(op, h, kh, pad_h, stride_h, dil_h, ceil_mode);
  const int64_t ow = pool_out(op, w, kw, pad_w, stride_w, dil_w, ceil_mode);
  NNC_CHECK(oh > 0 && ow > 0, op, "kernel (", kh, ", ", kw, ") with dilation (", dil_h, ", ",
            dil_w, ") and padding (", pad_h, ", ", pad_w, ") is larger than the input (", h, ", ",
            w, "): output size (", oh, ", ", ow, ") is too small");
  // NOTE: bounds the work estimates (planes * oh * ow * window) and avg pooling's divisor.
  checked_numel(op, "kernel_size", {planes, oh, ow, kh, kw});
  return {planes, h, w, oh, ow, kh, kw, stride_h, stride_w, pad_h, pad_w, dil_h, dil_w};
}

namespace {

// One output row of a 2x2 stride-2 window over input rows r0 and r1 = r0 + w, in the general
// path's order (row-major taps, first max, a NaN replaces the max): branch-free selects that gcc
// vectorises. base is the plane offset of r0[0], reported in idx.
template <class T>
void max_pool_2x2_row(const T* __restrict r0, const T* __restrict r1, T* __restrict y,
                      int64_t* __restrict idx, int64_t ow, int64_t base, int64_t w) {
  for (int64_t o = 0; o < ow; ++o) {
    const T a = r0[2 * o], b = r0[2 * o + 1], c = r1[2 * o], d = r1[2 * o + 1];
    T val = a;
    int64_t at = 0;
    const bool tb = b > val || b != b;
    val = tb ? b : val;
    at = tb ? 1 : at;
    const bool tc = c > val || c != c;
    val = tc ? c : val;
    at = tc ? w : at;
    const bool td = d > val || d != d;
    val = td ? d : val;
    at = td ? w + 1 : at;
    y[o] = val;
    idx[o] = base + 2 * o + at;
  }
}

inline bool is_2x2_stride_2(const Pool2dShape& s) {
  return s.kh == 2 && s.kw == 2 && s.stride_h == 2 && s.stride_w == 2 && s.pad_h == 0 &&
         s.pad_w == 0 && s.dil_h == 1 && s.dil_w == 1 && 2 * s.oh <= s.h && 2 * s.ow <= s.w;
}

}  // namespace

// NOTE: the 2x2 stride-2 window of nearly every CNN takes the fast row kernel above (5-6x faster
// than the general loop, whose per-window bounds and isnan branch defeat vectorisation).
template <class T>
void max_pool2d_forward(const T* x, T* y, int64_t* idx, const Pool2dShape& s) {
  if (is_2x2_stride_2(s)) {
    for_planes(s, 4, [&](int64_t p) {
      const T* xp = x + p * s.h * s.w;
      for (int64_t oh = 0; oh < s.oh; ++oh) {
        const int64_t o = (p * s.oh + oh) * s.ow, base = 2 * oh * s.w;
        max_pool_2x2_row(xp + base, xp + base + s.w, y + o, idx + o, s.ow, base, s.w);
      }
    });
    return;
  }
  for_planes(s, s.kh * s.kw, [&](int64_t p) {
    const T* xp = x + p * s.h * s.w;
    for (int64_t oh = 0; oh < s.oh; ++oh) {
      int64_t h0 = oh * s.stride_h - s.pad_h;
      const int64_t h1 = std::min(h0 + (s.kh - 1) * s.dil_h + 1, s.h);
      while (h0 < 0) h0 += s.dil_h;
      for (int64_t ow = 0; ow < s.ow; ++ow) {
        int64_t w0 = ow * s.stride_w - s.pad_w;
        const int64_t w1 = std::min(w0 + (s.kw - 1) * s.dil_w + 1, s.w);
        while (w0 < 0) w0 += s.dil_w;
        int64_t best = h0 * s.w + w0;
        T val = -std::numeric_limits<T>::infinity();
        for (int64_t ih = h0; ih < h1; ih += s.dil_h)
          for (int64_t iw = w0; iw < w1; iw += s.dil_w) {
            const T v = xp[ih * s.w + iw];
            if (v > val || std::isnan(v)) {
              val = v;
              best = ih * s.w + iw;
            }
          }
        const int64_t o = (p * s.oh + oh) * s.ow + ow;
        y[o] = val;
        idx[o] = best;
      }
    }
  });
}

// ---- max_pool2d, 2x2 stride 2 over even planes: one byte per window -------------------------
// NOTE: LeNet-style networks pool every conv layer 2x2. An int64 index per window cost more than
// the maxima, and a 14x14 plane's rows give 7 outputs, too few for a row's vector loop. Here each
// window keeps the tap of its maximum (0..3, row-major) in one byte, and both passes run a
// register's width of windows at a time (simd.h: 16 or 8) across output rows (pool2x2_rows). The backward writes dx's four values of
// each window directly: no zero fill, no scatter.

namespace {

// The window's winning tap in the general path's order: row-major taps, first max, a NaN
// replaces the max. Sets *val to the maximum.
template <class T>
inline uint8_t window_tap(T a, T b, T c, T d, T* val) {
  T v = a;
  uint8_t at = 0;
  if (b > v || b != b) v = b, at = 1;
  if (c > v || c != c) v = c, at = 2;
  if (d > v || d != d) v = d, at = 3;
  *val = v;
  return at;
}

// Each plane's windows in order: f8(p, r, o, half) for windows [o, o + kFloats) of output row r
// of plane p (only when `vector`), f1(p, r, o0, o1) one at a time for the rest of the row. With
// halves = 2 each row's vector steps run twice (half 0, then 1), for a backward that writes
// dx's two input rows in turn.
// NOTE: a vector step may run past its row's end. As w = 2 * ow, windows and outputs are laid
// out row after row, so its extra lanes read and write whole windows of the following rows,
// which their own steps write again later (a backward must finish input row 2r before writing
// 2r + 1 for that: hence the halves). A step runs only while its last window is inside the
// plane, so no access leaves it (planes belong to different threads).
template <class F8, class F1>
void pool2x2_rows(const Pool2dShape& s, bool vector, int halves, const F8& f8, const F1& f1) {
  const int64_t windows = s.oh * s.ow, step = simd::kFloats;
  for_planes(s, 4, [&](int64_t p) {
    for (int64_t r = 0; r < s.oh; ++r) {
      int64_t o = 0;
      for (int half = 0; half < halves; ++half)
        for (o = 0; vector && o < s.ow && r * s.ow + o + step <= windows; o += step)
          f8(p, r, o, half);
      if (o < s.ow) f1(p, r, o, s.ow);
    }
  });
}

}  // namespace

bool max_pool2d_is_even_2x2(const Pool2dShape& s) {
  return s.kh == 2 && s.kw == 2 && s.stride_h == 2 && s.stride_w == 2 && s.pad_h == 0 &&
         s.pad_w == 0 && s.dil_h == 1 && s.dil_w == 1 && s.h == 2 * s.oh && s.w == 2 * s.ow;
}

template <class T>
void max_pool2d_2x2_forward(const T* x, T* y, uint8_t* tap, const Pool2dShape& s) {
  const int64_t plane_x = s.h * s.w, plane_y = s.oh * s.ow;
  auto one_by_one = [&](int64_t p, int64_t r, int64_t o0, int64_t o1) {
    const T* r0 = x + p * plane_x + 2 * r * s.w;
    const T* r1 = r0 + s.w;
    const int64_t q = p * plane_y + r * s.ow;
    for (int64_t o = o0; o < o1; ++o)
      tap[q + o] = window_tap(r0[2 * o], r0[2 * o + 1], r1[2 * o], r1[2 * o + 1], y + q + o);
  };
  if constexpr (std::is_same_v<T, float> && simd::kVector) {
    pool2x2_rows(s, true, 1, [&](int64_t p, int64_t r, int64_t o, int) {
      const float* r0 = x + p * plane_x + 2 * r * s.w + 2 * o;
      const int64_t q = p * plane_y + r * s.ow + o;
      simd::max_pool_2x2_step(r0, r0 + s.w, y + q, tap + q);
    }, one_by_one);
    return;
  }
  pool2x2_rows(s, false, 1, [](int64_t, int64_t, int64_t, int) {}, one_by_one);
}

template <class T>
void max_pool2d_2x2_backward(const T* dy, const uint8_t* tap, T* dx, const Pool2dShape& s) {
  const int64_t plane_x = s.h * s.w, plane_y = s.oh * s.ow;
  auto one_by_one = [&](int64_t p, int64_t r, int64_t o0, int64_t o1) {
    T* d0 = dx + p * plane_x + 2 * r * s.w;
    T* d1 = d0 + s.w;
    const int64_t q = p * plane_y + r * s.ow;
    for (int64_t o = o0; o < o1; ++o) {
      const T g = dy[q + o];
      const int at = tap[q + o] & 3;
      d0[2 * o] = at == 0 ? g : T(0);
      d0[2 * o + 1] = at == 1 ? g : T(0);
      d1[2 * o] = at == 2 ? g : T(0);
      d1[2 * o + 1] = at == 3 ? g : T(0);
    }
  };
  if constexpr (std::is_same_v<T, float> && simd::kVector) {
    pool2x2_rows(s, true, 2, [&](int64_t p, int64_t r, int64_t o, int half) {
      const int64_t q = p * plane_y + r * s.ow + o;
      float* d = dx + p * plane_x + (2 * r + half) * s.w + 2 * o;
      simd::max_pool_2x2_grad_step(dy + q, tap + q, 2 * half, d);
    }, one_by_one);
    return;
  }
  pool2x2_rows(s, false, 1, [](int64_t, int64_t, int64_t, int) {}, one_by_one);
}

template <class T>
void max_pool2d_backward(const T* dy, const int64_t* idx, T* dx, const Pool2dShape& s) {
  for_planes(s, 1, [&](int64_t p) {
    T* dxp = dx + p * s.h * s.w;
    std::fill_n(dxp, s.h * s.w, T(0));
    const int64_t o0 = p * s.oh * s.ow;
    for (int64_t o = 0; o < s.oh * s.ow; ++o) dxp[idx[o0 + o]] += dy[o0 + o];
  });
}

template <class T>
void avg_pool2d_forward(const T* x, T* y, const Pool2dShape& s, bool count_include_pad,
                        int64_t divisor_override) {
  for_planes(s, s.kh * s.kw, [&](int64_t p) {
    const T* xp = x + p * s.h * s.w;
    for (int64_t oh = 0; oh < s.oh; ++oh)
      for (int64_t ow = 0; ow < s.ow; ++ow) {
        const AvgWindow a = avg_window(s, oh, ow, count_include_pad, divisor_override);
        T sum = 0;
        for (int64_t ih = a.h0; ih < a.h1; ++ih)
          for (int64_t iw = a.w0; iw < a.w1; ++iw) sum += xp[ih * s.w + iw];
        y[(p * s.oh + oh) * s.ow + ow] =
            a.h0 < a.h1 && a.w0 < a.w1 ? sum / static_cast<T>(a.divisor) : T(0);
      }
  });
}

template <class T>
void avg_pool2d_backward(const T* dy, T* dx, const Pool2dShape& s, bool count_include_pad,
                         int64_t divisor_override) {
  for_planes(s, s.kh * s.kw, [&](int64_t p) {
    T* dxp = dx + p * s.h * s.w;
    std::fill_n(dxp, s.h * s.w, T(0));
    for (int64_t oh = 0; oh < s.oh; ++oh)
      for (int64_t ow = 0; ow < s.ow; ++ow) {
        const AvgWindow a = avg_window(s, oh, ow, count_include_pad, divisor_override);
        if (a.h0 >= a.h1 || a.w0 >= a.w1) continue;
        const T g = dy[(p * s.oh + oh) * s.ow + ow] / static_cast<T>(a.divisor);
        for (int64_t ih = a.h0; ih < a.h1; ++ih)
          for (int64_t iw = a.w0; iw < a.w1; ++iw) dxp[ih * s.w + iw] += g;
      }
  });
}

namespace {

inline int64_t adaptive_start(int64_t o, int64_t out, int64_t in) { return o * in / out; }
inline int64_t adaptive_end(int64_t o, int64_t out, int64_t in) {
  return ((o + 1) * in + out - 1) / out;
}

}  // namespace

template <class T>
void adaptive_avg_pool2d_forward(const T* x, T* y, const Pool2dShape& s) {
  const int64_t window = (s.h + s.oh - 1) / s.oh * ((s.w + s.ow - 1) / s.ow);
  for_planes(s, window, [&](int64_t p) {
    const T* xp = x + p * s.h * s.w;
    for (int64_t oh = 0; oh < s.oh; ++oh) {
      const int64_t h0 = adaptive_start(oh, s.oh, s.h), h1 = adaptive_end(oh, s.oh, s.h);
      for (int64_t ow = 0; ow < s.ow; ++ow) {
        const int64_t w0 = adaptive_start(ow, s.ow, s.w), w1 = adaptive_end(ow, s.ow, s.w);
        T sum = 0;
        for (int64_t ih = h0; ih < h1; ++ih)
          for (int64_t iw = w0; iw < w1; ++iw) sum += xp[ih * s.w + iw];
        y[(p * s.oh + oh) * s.ow + ow] = sum / static_cast<T>((h1 - h0) * (w1 - w0));
      }
    }
  });
}

template <class T>
void adaptive_avg_pool2d_backward(const T* dy, T* dx, const Pool2dShape& s) {
  const int64_t window = (s.h + s.oh - 1) / s.oh * ((s.w + s.ow - 1) / s.ow);
  for_planes(s, window, [&](int64_t p) {
    T* dxp = dx + p * s.h * s.w;
    std::fill_n(dxp, s.h * s.w, T(0));
    for (int64_t oh = 0; oh < s.oh; ++oh) {
      const int64_t h0 = adaptive_start(oh, s.oh, s.h), h1 = adaptive_end(oh, s.oh, s.h);
      for (int64_t ow = 0; ow < s.ow; ++ow) {
        const int64_t w0 = adaptive_start(ow, s.ow, s.w), w1 = adaptive_end(ow, s.ow, s.w);
        const T g = dy[(p * s.oh + oh) * s.ow + ow] / static_cast<T>((h1 - h0) * (w1 - w0));
        for (int64_t ih = h0; ih < h1; ++ih)
          for (int64_t iw = w0; iw < w1; ++iw) dxp[ih * s.w + iw] += g;
      }
    }
  });
}

#define NNC_INSTANTIATE(T)                                                                     \
  template void conv2d_forward<T>(const T*, const T*, const T*, T*, const Conv2dShape&);       \
  template void conv2d_backward<T>(const T*, const T*, const T*, T*, T*, T*,                   \
                                   const Conv2dShape&);                                        \
  template void max_pool2d_forward<T>(const T*, T*, int64_t*, const Pool2dShape&);             \
  template void max_pool2d_backward<T>(const T*, const int64_t*, T*, const Pool2dShape&);      \
  template void max_pool2d_2x2_forward<T>(const T*, T*, uint8_t*, const Pool2dShape&);         \
  template void max_pool2d_2x2_backward<T>(const T*, const uint8_t*, T*, const Pool2dShape&);  \
  template void avg_pool2d_forward<T>(const T*, T*, const Pool2dShape&, bool, int64_t);        \
  template void avg_pool2d_backward<T>(const T*, T*, const Pool2dShape&, bool, int64_t);       \
  template void adaptive_avg_pool2d_forward<T>(const T*, T*, const Pool2dShape&);              \
  template void adaptive_avg_pool2d_backward<T>(const T*, T*, const Pool2dShape&);
NNC_INSTANTIATE(float)
NNC_INSTANTIATE(double)
#undef NNC_INSTANTIATE

}  // namespace nnc
