// The pool family: max, average and adaptive average 2-D pooling, NCHW (planes = n * c).
#include "kernels/pool.h"

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

namespace nnc {

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

// f(p) for every plane p, in runs of consecutive planes (about 8 per thread) when the work is
// worth threads; each plane writes only its own outputs, so the thread count changes nothing.
template <class F>
void for_planes(const Pool2dShape& s, int64_t window, const F& f) {
  const int64_t n = s.planes;
  const int threads = n > 1 && run_parallel(n * s.oh * s.ow * window) ? get_num_threads() : 1;
  const int64_t per = threads > 1 ? std::max<int64_t>(1, n / (8 * int64_t(threads))) : n;
  parallel_for((n + per - 1) / per, threads, [&](int64_t r, int) {
    for (int64_t p = r * per; p < std::min(n, (r + 1) * per); ++p) f(p);
  });
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

// The windows of every output row in order, rows numbered across planes (R = p * oh + r: with
// h = 2 oh and w = 2 ow, row R reads input rows 2R and 2R + 1 of the flat array and writes
// outputs from R * ow): f8(R, o, half) for windows [o, o + kFloats) of row R (only when
// `vector`), f1(R, o0, o1) one at a time for the rest of the row. With halves = 2 each row's
// vector steps run twice (half 0, then 1), for a backward that writes dx's two input rows in
// turn.
// NOTE: a vector step may run past its row's end. As w = 2 * ow, windows and outputs are laid
// out row after row (and plane after plane), so its extra lanes read and write whole windows of
// the following rows, which their own steps write again later (a backward must finish input row
// 2R before writing 2R + 1 for that: hence the halves). A step runs only while its last window
// is inside this thread's run of planes, so no access reaches another thread's planes.
// NOTE: rows numbered across the run, not per plane: with 14x14 planes (7 windows a row) only
// the last rows of a run take the scalar loop, not the last two rows of every plane (those took
// most of a 64-channel 14x14 pool's time).
template <class F8, class F1>
void pool2x2_rows(const Pool2dShape& s, bool vector, int halves, const F8& f8, const F1& f1) {
  const int64_t n = s.planes, step = simd::kFloats;
  const int threads = n > 1 && run_parallel(n * s.oh * s.ow * 4) ? get_num_threads() : 1;
  const int64_t per = threads > 1 ? std::max<int64_t>(1, n / (8 * int64_t(threads))) : n;
  parallel_for((n + per - 1) / per, threads, [&](int64_t run, int) {
    const int64_t r0 = run * per * s.oh, r1 = std::min(n, (run + 1) * per) * s.oh;
    const int64_t end = r1 * s.ow;  // the run's last window + 1
    for (int64_t r = r0; r < r1; ++r) {
      int64_t o = 0;
      for (int half = 0; half < halves; ++half)
        for (o = 0; vector && o < s.ow && r * s.ow + o + step <= end; o += step)
          f8(r, o, half);
      if (o < s.ow) f1(r, o, s.ow);
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
  auto one_by_one = [&](int64_t r, int64_t o0, int64_t o1) {
    const T* r0 = x + 2 * r * s.w;
    const T* r1 = r0 + s.w;
    const int64_t q = r * s.ow;
    for (int64_t o = o0; o < o1; ++o)
      tap[q + o] = window_tap(r0[2 * o], r0[2 * o + 1], r1[2 * o], r1[2 * o + 1], y + q + o);
  };
  if constexpr (std::is_same_v<T, float> && simd::kVector) {
    pool2x2_rows(s, true, 1, [&](int64_t r, int64_t o, int) {
      const float* r0 = x + 2 * r * s.w + 2 * o;
      const int64_t q = r * s.ow + o;
      simd::max_pool_2x2_step(r0, r0 + s.w, y + q, tap + q);
    }, one_by_one);
    return;
  }
  pool2x2_rows(s, false, 1, [](int64_t, int64_t, int) {}, one_by_one);
}

template <class T>
void max_pool2d_2x2_backward(const T* dy, const uint8_t* tap, T* dx, const Pool2dShape& s) {
  auto one_by_one = [&](int64_t r, int64_t o0, int64_t o1) {
    T* d0 = dx + 2 * r * s.w;
    T* d1 = d0 + s.w;
    const int64_t q = r * s.ow;
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
    pool2x2_rows(s, true, 2, [&](int64_t r, int64_t o, int half) {
      const int64_t q = r * s.ow + o;
      float* d = dx + (2 * r + half) * s.w + 2 * o;
      simd::max_pool_2x2_grad_step(dy + q, tap + q, 2 * half, d);
    }, one_by_one);
    return;
  }
  pool2x2_rows(s, false, 1, [](int64_t, int64_t, int) {}, one_by_one);
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
