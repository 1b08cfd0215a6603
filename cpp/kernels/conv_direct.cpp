// The direct conv kernels: a zero-padded copy of x, then multiply-add loops along output rows
// (few taps per output: the 1-channel first layer; any stride).
#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <type_traits>
#include <vector>

#include "common/parallel.h"
#include "kernels/conv_util.h"

namespace nnc::conv_impl {

namespace {


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

}  // namespace

// NOTE: with stride 1, output row oh and tap (i, j) read the padded input at a fixed offset, so
// computing each output plane with the padded row pitch wp ("wide", wp - ow junk columns per
// row) turns every tap into one long vectorised loop over the whole plane instead of oh short
// ones (measured 3-5x faster on 28x28 planes, whose 28-float rows are mostly loop overhead).
// NOTE: each thread pads the images of its own items into its own buffer (items are
// image-major, so once per image a run crosses): one parallel region per call. Padding the whole
// batch first took a second region, whose wake-up and barrier cost more than the padding on the
// 1-channel layer at 2 threads (2 threads then ran slower than 1).
template <class T>
void direct_forward(const T* x, const T* w, const T* b, T* y, const Conv2dShape& s) {
  const int64_t hp = s.h + 2 * s.pad_h, wp = s.w + 2 * s.pad_w;
  const int64_t cg = s.c / s.groups, kg = s.k / s.groups, taps = s.kh * s.kw;
  const int64_t ow = s.ow, sw = s.stride_w;
  const bool wide = s.stride_h == 1 && s.stride_w == 1;
  const int64_t len = (s.oh - 1) * wp + ow;
  const int64_t work = s.n * s.k * s.oh * ow * cg * taps;
  const int threads = s.n * s.k > 1 && run_parallel(work) ? get_num_threads() : 1;
  std::vector<T> widev(wide ? threads * s.oh * wp : 0);
  const std::vector<int64_t> offs = tap_offsets(s);
  const int64_t nq = cg * taps, image = s.c * hp * wp + 8;  // + slack for whole-vector reads
  std::vector<T> xpv(threads * image, T(0));
  std::vector<int64_t> padded_for(threads, -1);
  for_each_slot(s.n * s.k, threads, [&](int64_t nk, int slot) {
    const int64_t n = nk / s.k, k = nk % s.k, g = k / kg;
    T* yplane = y + nk * s.oh * ow;
    T* xi = xpv.data() + slot * image;  // image n, padded
    if (padded_for[slot] != n) {
      pad_image(x + n * s.c * s.h * s.w, xi, s);
      padded_for[slot] = n;
    }
    if (wide) {
      T* __restrict buf = widev.data() + slot * s.oh * wp;
      const T bias = b ? b[k] : T(0);
      const T* xg = xi + g * cg * hp * wp;
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
        const T* xpl = xi + (g * cg + cc) * hp * wp;
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
void direct_weight_grad_wide(const T* dy, const T* x, T* dw, T* db, const Conv2dShape& s,
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
  // Each thread pads its images into its own buffer (one parallel region: see direct_forward).
  const int64_t image = s.c * hp * wp + len;  // + slack: the dot products read whole vectors
  std::vector<T> xpv(threads * image, T(0));
  for_image_runs(s.n, runs, threads, [&](int64_t run, int slot, int64_t n0, int64_t n1) {
    T* lanes = partv.data() + run * per_thread;
    T* bias_lanes = lanes + s.k * nq * 8;
    T* dyw = dywv.data() + slot * wide_size;
    for (int64_t n = n0; n < n1; ++n) {
      T* xi = xpv.data() + slot * image;  // image n, padded
      pad_image(x + n * s.c * s.h * s.w, xi, s);
      for (int64_t k = 0; k < s.k; ++k) {
        const T* dyk = dy + (n * s.k + k) * plane;
        for (int64_t oh = 0; oh < s.oh; ++oh) copy_row(dyk + oh * s.ow, dyw + oh * wp, s.ow);
        if (db) lane_accumulate(bias_lanes + k * 8, dyw, len);  // the junk columns are zero
        const T* xg = xi + (k / kg) * cg * hp * wp;
        for (int64_t q0 = 0; q0 < nq; q0 += kTapChunk) {
          const int nt = int(std::min<int64_t>(kTapChunk, nq - q0));
          const T* xs[kTapChunk];
          for (int q = 0; q < nt; ++q) xs[q] = xg + offs[q0 + q];
          with_taps<TapsDot>(nt, lanes + (k * nq + q0) * 8, static_cast<const T*>(dyw),
                             static_cast<const T* const*>(xs), len);
        }
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
    if (wide) {
      direct_weight_grad_wide(dy, x, dw, db, s, threads);
    } else {
      const std::vector<T> xpv = padded_input(x, s);
      const T* xp = xpv.data();
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

template void direct_forward<float>(const float*, const float*, const float*, float*,
                                    const Conv2dShape&);
template void direct_forward<double>(const double*, const double*, const double*, double*,
                                     const Conv2dShape&);
template void direct_backward<float>(const float*, const float*, const float*, float*, float*,
                                     float*, const Conv2dShape&);
template void direct_backward<double>(const double*, const double*, const double*, double*,
                                      double*, double*, const Conv2dShape&);

}  // namespace nnc::conv_impl
