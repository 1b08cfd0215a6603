#include "kernels/norm.h"

#include <algorithm>
#include <cmath>

#include "common/parallel.h"

namespace nnc {

// ==== batch_norm ===============================================================================

namespace {

// sum_i f(i) over 16 fixed lanes (i mod 16), then the lanes in order: vectorisable, and the
// result depends on the values only (not on the address or threads). Sixteen lanes give the
// adds four independent vector chains.
template <class T, class F>
double bn_lanes(int64_t len, const F& f) {
  T acc[16] = {};
  int64_t i = 0;
  for (; i + 16 <= len; i += 16)
    for (int l = 0; l < 16; ++l) acc[l] += f(i + l);
  for (int l = 0; i + l < len; ++l) acc[l] += f(i + l);
  double s = 0;
  for (int l = 0; l < 16; ++l) s += acc[l];
  return s;
}

// Both sums of the backward pass in one read of dy and x: sum dy and sum dy * (x - shift), over
// 8 fixed lanes (GCC vector extension), then the lanes in order.
template <class T>
void bn_lanes2(const T* __restrict a, const T* __restrict b, T shift, int64_t len, double& sa,
               double& sab) {
  typedef T V __attribute__((vector_size(8 * sizeof(T)), aligned(sizeof(T)), may_alias));
  V acc = {}, accb = {};
  const V sh = V{} + shift;
  int64_t i = 0;
  for (; i + 8 <= len; i += 8) {
    const V av = *reinterpret_cast<const V*>(a + i), bv = *reinterpret_cast<const V*>(b + i);
    acc += av;
    accb += av * (bv - sh);
  }
  for (int l = 0; i + l < len; ++l) {
    acc[l] += a[i + l];
    accb[l] += a[i + l] * (b[i + l] - shift);
  }
  for (int l = 0; l < 8; ++l) {
    sa += acc[l];
    sab += accb[l];
  }
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
  // Each channel's statistics are summed whole by one thread, in a fixed order.
  parallel_for_work(s.c, s.n * s.c * s.l * cost, [&](int64_t c, int) { f(c); });
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
        const T* __restrict p = x + o;
        return bn_lanes<T>(s.l, [&](int64_t i) { return p[i]; });
      }) / count;
      mean = static_cast<T>(m);
      // Two passes: sum (x - mean)^2 with the mean removed first keeps float32 accurate (a row's
      // lanes in T, rows added in double). The channel's rows are still in L2 from the first.
      const double sq = bn_channel_sum<T>(s, c, [&](int64_t o) {
        const T* __restrict p = x + o;
        return bn_lanes<T>(s.l, [&](int64_t i) {
          const T d = p[i] - mean;
          return d * d;
        });
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
    double sum_dy = 0, sum_dy_xc = 0;
    for (int64_t n = 0; n < s.n; ++n) {
      const int64_t o = (n * s.c + c) * s.l;
      double a = 0, ab = 0;
      bn_lanes2<T>(dy + o, x + o, mean, s.l, a, ab);
      sum_dy += a;
      sum_dy_xc += ab;
    }
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
  // About 8 chunks a thread; every element's result is computed whole inside one chunk.
  const int64_t threads = get_num_threads();
  parallel_blocks(n, std::max<int64_t>(1, n / (8 * threads)), work, f);
}

}  // namespace

namespace {

// One row of layer_norm_forward.
template <class T>
void ln_row(const T* xr, const T* w, const T* b, T* yr, T* mean, T* rstd, int64_t n, double eps) {
  const T mu = ln_sum<T>(n, [xr](int64_t j) { return xr[j]; }) / T(n);
  const T var = ln_sum<T>(n, [xr, mu](int64_t j) {
                  const T c = xr[j] - mu;
                  return c * c;
                }) / T(n);
  const T rs = T(1) / std::sqrt(var + static_cast<T>(eps));
  *mean = mu;
  *rstd = rs;
  if (w && b)
    for (int64_t j = 0; j < n; ++j) yr[j] = (xr[j] - mu) * rs * w[j] + b[j];
  else if (w)
    for (int64_t j = 0; j < n; ++j) yr[j] = (xr[j] - mu) * rs * w[j];
  else if (b)
    for (int64_t j = 0; j < n; ++j) yr[j] = (xr[j] - mu) * rs + b[j];
  else
    for (int64_t j = 0; j < n; ++j) yr[j] = (xr[j] - mu) * rs;
}

}  // namespace

template <class T>
void layer_norm_forward(const T* x, const T* w, const T* b, T* y, T* mean, T* rstd,
                        const LayerNormShape& s, double eps) {
  const int64_t n = s.cols;
  ln_for(s.rows, s.rows * n * 4, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) ln_row(x + r * n, w, b, y + r * n, mean + r, rstd + r, n, eps);
  });
}

template <class T>
void add_layer_norm_forward(const T* x, const T* res, const T* w, const T* b, T* sum, T* y,
                            T* mean, T* rstd, const LayerNormShape& s, double eps) {
  const int64_t n = s.cols;
  ln_for(s.rows, s.rows * n * 5, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      T* sr = sum + r * n;
      for (int64_t j = 0; j < n; ++j) sr[j] = x[r * n + j] + res[r * n + j];
      ln_row(static_cast<const T*>(sr), w, b, y + r * n, mean + r, rstd + r, n, eps);
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
  // Column blocks, every block summing rows in order 0..rows-1 (so a column's sum does not
  // depend on the blocks). NOTE: blocks of kLnColumnBlock columns, whole cache lines of dw/db:
  // ln_for's blocks of n / (8 threads) columns were 8 floats wide for d_model 128, so two
  // threads wrote halves of one cache line of dw every row (768x128 fwd+bwd: 2 threads 0.69x of
  // 1), and each row's read was too short for a full vector.
  constexpr int64_t kLnColumnBlock = 64;
  parallel_blocks(n, kLnColumnBlock, s.rows * n * 3, [&](int64_t c0, int64_t c1) {
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
  template void add_layer_norm_forward<T>(const T*, const T*, const T*, const T*, T*, T*, T*, T*, \
                                          const LayerNormShape&, double);                        \
  template void layer_norm_forward<T>(const T*, const T*, const T*, T*, T*, T*,                \
                                      const LayerNormShape&, double);                          \
  template void layer_norm_backward<T>(const T*, const T*, const T*, const T*, const T*, T*, T*, \
                                       T*, const LayerNormShape&);
NNC_INSTANTIATE(float)
NNC_INSTANTIATE(double)
#undef NNC_INSTANTIATE

// ==== end layer_norm =============================================================================

}  // namespace nnc
