#include "kernels/norm.h"

#include <omp.h>

#include <algorithm>
#include <cmath>

#include "common/parallel.h"

namespace nnc {

// ==== layer_norm =================================================================================

namespace {

// NOTE: sums run in kLnLanes fixed accumulators (a fixed-count inner loop GCC vectorises without
// peeling by address), then in order, so a result depends on the values alone.
constexpr int64_t kLnLanes = 16;

// sum_{j < n} f(j) in a fixed order.
template <class T, class F>
T ln_sum(int64_t n, const F& f) {
  T acc[kLnLanes] = {};
  int64_t j = 0;
  for (; j + kLnLanes <= n; j += kLnLanes)
    for (int64_t l = 0; l < kLnLanes; ++l) acc[l] += f(j + l);
  for (int64_t l = 0; j < n; ++j, ++l) acc[l] += f(j);
  T total = 0;
  for (int64_t l = 0; l < kLnLanes; ++l) total += acc[l];
  return total;
}

// Calls f(begin, end) over [0, n) in parallel chunks when `work` is worth threads.
template <class F>
void ln_for(int64_t n, int64_t work, const F& f) {
  if (!run_parallel(work) || n < 2) {
    if (n > 0) f(int64_t{0}, n);
    return;
  }
#pragma omp parallel
  {
    const int64_t nt = omp_get_num_threads(), t = omp_get_thread_num();
    const int64_t per = (n + nt - 1) / nt;
    const int64_t b = std::min(n, t * per), e = std::min(n, b + per);
    if (e > b) f(b, e);
  }
}

}  // namespace

template <class T>
void layer_norm_forward(const T* x, const T* w, const T* b, T* y, T* mean, T* rstd,
                        const LayerNormShape& s, double eps) {
  const int64_t n = s.cols;
  ln_for(s.rows, s.rows * n * 4, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const T* xr = x + r * n;
      T* yr = y + r * n;
      const T mu = ln_sum<T>(n, [xr](int64_t j) { return xr[j]; }) / T(n);
      const T var = ln_sum<T>(n, [xr, mu](int64_t j) {
                      const T c = xr[j] - mu;
                      return c * c;
                    }) / T(n);
      const T rs = T(1) / std::sqrt(var + static_cast<T>(eps));
      mean[r] = mu;
      rstd[r] = rs;
      if (w && b)
        for (int64_t j = 0; j < n; ++j) yr[j] = (xr[j] - mu) * rs * w[j] + b[j];
      else if (w)
        for (int64_t j = 0; j < n; ++j) yr[j] = (xr[j] - mu) * rs * w[j];
      else if (b)
        for (int64_t j = 0; j < n; ++j) yr[j] = (xr[j] - mu) * rs + b[j];
      else
        for (int64_t j = 0; j < n; ++j) yr[j] = (xr[j] - mu) * rs;
    }
  });
}

template <class T>
void layer_norm_backward(const T* dy, const T* x, const T* w, const T* mean, const T* rstd, T* dx,
                         T* dw, T* db, const LayerNormShape& s) {
  const int64_t n = s.cols;
  if (dx)
    ln_for(s.rows, s.rows * n * 6, [&](int64_t r0, int64_t r1) {
      for (int64_t r = r0; r < r1; ++r) {
        const T* xr = x + r * n;
        const T* gr = dy + r * n;
        T* dxr = dx + r * n;
        const T mu = mean[r], rs = rstd[r];
        T a, c;
        if (w) {
          a = ln_sum<T>(n, [=](int64_t j) { return gr[j] * w[j]; });
          c = ln_sum<T>(n, [=](int64_t j) { return gr[j] * w[j] * ((xr[j] - mu) * rs); });
        } else {
          a = ln_sum<T>(n, [=](int64_t j) { return gr[j]; });
          c = ln_sum<T>(n, [=](int64_t j) { return gr[j] * ((xr[j] - mu) * rs); });
        }
        a /= T(n);
        c /= T(n);
        for (int64_t j = 0; j < n; ++j) {
          const T g = w ? gr[j] * w[j] : gr[j];
          dxr[j] = rs * (g - a - (xr[j] - mu) * rs * c);
        }
      }
    });
  if (!dw && !db) return;
  // Column blocks per thread, every block summing rows in order 0..rows-1.
  ln_for(n, s.rows * n * 3, [&](int64_t c0, int64_t c1) {
    if (dw) std::fill(dw + c0, dw + c1, T(0));
    if (db) std::fill(db + c0, db + c1, T(0));
    for (int64_t r = 0; r < s.rows; ++r) {
      const T* xr = x + r * n;
      const T* gr = dy + r * n;
      const T mu = mean[r], rs = rstd[r];
      if (dw)
        for (int64_t j = c0; j < c1; ++j) dw[j] += gr[j] * ((xr[j] - mu) * rs);
      if (db)
        for (int64_t j = c0; j < c1; ++j) db[j] += gr[j];
    }
  });
}

#define NNC_INSTANTIATE(T)                                                                      \
  template void layer_norm_forward<T>(const T*, const T*, const T*, T*, T*, T*,                \
                                      const LayerNormShape&, double);                          \
  template void layer_norm_backward<T>(const T*, const T*, const T*, const T*, const T*, T*, T*, \
                                       T*, const LayerNormShape&);
NNC_INSTANTIATE(float)
NNC_INSTANTIATE(double)
#undef NNC_INSTANTIATE

// ==== end layer_norm =============================================================================

}  // namespace nnc
