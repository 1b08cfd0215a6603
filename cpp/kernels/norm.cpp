#include "kernels/norm.h"

#include <cmath>

#include "common/parallel.h"

namespace nnc {

// ==== batch_norm ===============================================================================

namespace {

// sum_i a[i] * (b ? b[i] - shift : 1) over fixed lanes (i mod 8), then the lanes in order:
// vectorisable, and the result depends on the values only (not on the address or threads).
template <class T>
double bn_lane_sum(const T* a, const T* b, T shift, int64_t len) {
  T acc[8] = {};
  int64_t i = 0;
  if (b) {
    for (; i + 8 <= len; i += 8)
      for (int l = 0; l < 8; ++l) acc[l] += a[i + l] * (b[i + l] - shift);
    for (int l = 0; i + l < len; ++l) acc[l] += a[i + l] * (b[i + l] - shift);
  } else {
    for (; i + 8 <= len; i += 8)
      for (int l = 0; l < 8; ++l) acc[l] += a[i + l];
    for (int l = 0; i + l < len; ++l) acc[l] += a[i + l];
  }
  double s = 0;
  for (int l = 0; l < 8; ++l) s += acc[l];
  return s;
}

// Sum over the channel's (n, l) elements, row by row in double: f(row pointer(s), len).
template <class T, class F>
double bn_channel_sum(const BatchNormShape& s, int64_t c, const F& f) {
  double total = 0;
  for (int64_t n = 0; n < s.n; ++n) total += f((n * s.c + c) * s.l);
  return total;
}

template <class F>
void bn_for_channels(const BatchNormShape& s, int64_t cost, const F& f) {
  if (s.c > 1 && run_parallel(s.n * s.c * s.l * cost)) {
#pragma omp parallel for schedule(static)
    for (int64_t c = 0; c < s.c; ++c) f(c);
  } else {
    for (int64_t c = 0; c < s.c; ++c) f(c);
  }
}

}  // namespace

template <class T>
void batch_norm_forward(const T* x, const T* w, const T* b, T* running_mean, T* running_var,
                        T* y, T* save_mean, T* save_invstd, const BatchNormShape& s,
                        bool training, double momentum, double eps) {
  const double count = double(s.n) * double(s.l);
  bn_for_channels(s, 4, [&](int64_t c) {
    T mean, invstd;
    if (training) {
      const double m = bn_channel_sum<T>(s, c, [&](int64_t o) {
        return bn_lane_sum<T>(x + o, nullptr, T(0), s.l);
      }) / count;
      mean = static_cast<T>(m);
      // Two passes: sum (x - mean)^2 with the mean removed first keeps float32 accurate.
      const double sq = bn_channel_sum<T>(s, c, [&](int64_t o) {
        double acc = 0;
        const T* p = x + o;
        for (int64_t i = 0; i < s.l; ++i) {
          const double d = double(p[i]) - m;
          acc += d * d;
        }
        return acc;
      });
      const double var = sq / count;
      invstd = static_cast<T>(1.0 / std::sqrt(var + eps));
      if (running_mean)
        running_mean[c] = static_cast<T>((1 - momentum) * running_mean[c] + momentum * m);
      if (running_var) {
        const double unbiased = count > 1 ? sq / (count - 1) : var;
        running_var[c] = static_cast<T>((1 - momentum) * running_var[c] + momentum * unbiased);
      }
    } else {
      mean = running_mean[c];
      invstd = static_cast<T>(1.0 / std::sqrt(double(running_var[c]) + eps));
    }
    save_mean[c] = mean;
    save_invstd[c] = invstd;
    const T scale = w ? w[c] * invstd : invstd, shift = b ? b[c] : T(0);
    for (int64_t n = 0; n < s.n; ++n) {
      const T* __restrict p = x + (n * s.c + c) * s.l;
      T* __restrict q = y + (n * s.c + c) * s.l;
      for (int64_t i = 0; i < s.l; ++i) q[i] = (p[i] - mean) * scale + shift;
    }
  });
}

template <class T>
void batch_norm_backward(const T* dy, const T* x, const T* w, const T* save_mean,
                         const T* save_invstd, T* dx, T* dw, T* db, const BatchNormShape& s,
                         bool training) {
  const double count = double(s.n) * double(s.l);
  bn_for_channels(s, 6, [&](int64_t c) {
    const T mean = save_mean[c], invstd = save_invstd[c];
    const double sum_dy = bn_channel_sum<T>(s, c, [&](int64_t o) {
      return bn_lane_sum<T>(dy + o, nullptr, T(0), s.l);
    });
    const double sum_dy_xc = bn_channel_sum<T>(s, c, [&](int64_t o) {
      return bn_lane_sum<T>(dy + o, x + o, mean, s.l);
    });
    if (db) db[c] = static_cast<T>(sum_dy);
    if (dw) dw[c] = static_cast<T>(sum_dy_xc * invstd);
    if (!dx) return;
    const T scale = (w ? w[c] : T(1)) * invstd;
    const T mean_dy = training ? static_cast<T>(sum_dy / count) : T(0);
    // xhat * mean(dy * xhat) = (x - mean) * invstd^2 * mean(dy * (x - mean)).
    const T k = training ? static_cast<T>(sum_dy_xc / count * invstd * invstd) : T(0);
    for (int64_t n = 0; n < s.n; ++n) {
      const int64_t o = (n * s.c + c) * s.l;
      const T* __restrict g = dy + o;
      const T* __restrict p = x + o;
      T* __restrict q = dx + o;
      for (int64_t i = 0; i < s.l; ++i) q[i] = (g[i] - mean_dy - (p[i] - mean) * k) * scale;
    }
  });
}

#define NNC_INSTANTIATE(T)                                                                     \
  template void batch_norm_forward<T>(const T*, const T*, const T*, T*, T*, T*, T*, T*,        \
                                      const BatchNormShape&, bool, double, double);            \
  template void batch_norm_backward<T>(const T*, const T*, const T*, const T*, const T*, T*,   \
                                       T*, T*, const BatchNormShape&, bool);
NNC_INSTANTIATE(float)
NNC_INSTANTIATE(double)
#undef NNC_INSTANTIATE

// ==== end batch_norm ===========================================================================

}  // namespace nnc
