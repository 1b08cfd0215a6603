#include "kernels/activation.h"

#include <algorithm>
#include <cmath>
#include <unsupported/Eigen/SpecialFunctions>  // the vectorised erf

#include "common/eigen_map.h"
#include "common/lanes.h"
#include "common/parallel.h"

namespace nnc {

namespace {

// NOTE: work estimates for run_parallel: an exp/tanh/erf or a 64-bit hash costs roughly ten
// simple operations, so those kernels go parallel on ten times fewer elements than relu.
constexpr int64_t kCheap = 1;
constexpr int64_t kCostly = 10;
// Elements per work item (chunk): large enough to amortise the loop, small enough to balance.
constexpr int64_t kBlock = 4096;

// Calls f(begin, end) over [0, n) in blocks, in parallel when n * cost is worth threads.
template <class F>
void for_blocks(int64_t n, int64_t cost, const F& f) {
  if (!run_parallel(n * cost)) {
    if (n > 0) f(int64_t{0}, n);
    return;
  }
  parallel_blocks(n, kBlock, n * cost, f);
}

// Calls f(row) for every row, in parallel when the whole problem is worth threads.
template <class F>
void for_rows(const SoftmaxShape& s, const F& f) {
  if (s.cols == 0) return;
  // Runs of rows of about 4096 elements: a chunk is worth claiming.
  const int64_t per = std::max<int64_t>(1, 4096 / s.cols);
  parallel_blocks(s.rows, per, s.rows * s.cols * kCostly, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) f(r);
  });
}

template <class T>
T row_max(const T* x, int64_t n) {
  T m = x[0];
  for (int64_t i = 1; i < n; ++i) m = x[i] > m ? x[i] : m;
  return m;
}

constexpr double kSqrt2OverPi = 0.79788456080286535588;   // sqrt(2 / pi)
constexpr double kInvSqrt2 = 0.70710678118654752440;      // 1 / sqrt(2)
constexpr double kInvSqrt2Pi = 0.39894228040143267794;    // 1 / sqrt(2 pi)
constexpr double kGeluCubic = 0.044715;

// Forward and backward of dropout are the same map: scale what the mask keeps, zero the rest.
// NOTE: u = (h >> 11) * 2^-53 >= p  <=>  (h >> 11) >= ceil(p * 2^53), exactly (p * 2^53 only
// shifts the exponent), so the loop stays in integers.
template <class T>
void dropout_apply(const T* src, T* dst, int64_t n, double p, uint64_t seed) {
  const T scale = p < 1.0 ? static_cast<T>(1.0 / (1.0 - p)) : T(0);
  const uint64_t threshold = static_cast<uint64_t>(std::ceil(p * 0x1.0p53));
  for_blocks(n, kCostly, [=](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) {
      // NOTE: branch-free (the mask is a coin flip, so a branch mispredicts half the time).
      const bool keep = (splitmix64(seed, static_cast<uint64_t>(i)) >> 11) >= threshold;
      dst[i] = src[i] * (static_cast<T>(keep) * scale);
    }
  });
}

}  // namespace

template <class T>
void relu_forward(const T* x, T* y, int64_t n) {
  for_blocks(n, kCheap, [&](int64_t b, int64_t e) {
    // NOTE: written so that NaN propagates, as in PyTorch.
    for (int64_t i = b; i < e; ++i) y[i] = x[i] < T(0) ? T(0) : x[i];
  });
}

template <class T>
void relu_backward(const T* dy, const T* x, T* dx, int64_t n) {
  for_blocks(n, kCheap, [&](int64_t b, int64_t e) {
    // NOTE: dy is loaded unconditionally so GCC can vectorise the select (5x faster). Written
    // as "x <= 0 gives 0" so that a NaN input passes its gradient, as PyTorch's
    // threshold_backward does.
    for (int64_t i = b; i < e; ++i) {
      const T g = dy[i];
      dx[i] = x[i] <= T(0) ? T(0) : g;
    }
  });
}

template <class T>
void leaky_relu_forward(const T* x, T* y, int64_t n, T negative_slope) {
  for_blocks(n, kCheap, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) y[i] = x[i] > T(0) ? x[i] : negative_slope * x[i];
  });
}

template <class T>
void leaky_relu_backward(const T* dy, const T* x, T* dx, int64_t n, T negative_slope) {
  for_blocks(n, kCheap, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) {
      const T g = dy[i];
      dx[i] = x[i] > T(0) ? g : negative_slope * g;
    }
  });
}

template <class T>
void sigmoid_forward(const T* x, T* y, int64_t n) {
  // NOTE: exp(-x) overflows to inf for very negative x, and 1 / inf = 0 is the right limit.
  for_blocks(n, kCostly, [&](int64_t b, int64_t e) {
    lanewise(x + b, y + b, e - b, [](const Lanes<T>& v) { return T(1) / (T(1) + (-v).exp()); });
  });
}

template <class T>
void sigmoid_backward(const T* dy, const T* y, T* dx, int64_t n) {
  for_blocks(n, kCheap, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) dx[i] = dy[i] * y[i] * (T(1) - y[i]);
  });
}

template <class T>
void tanh_forward(const T* x, T* y, int64_t n) {
  for_blocks(n, kCostly, [&](int64_t b, int64_t e) {
    lanewise(x + b, y + b, e - b, [](const Lanes<T>& v) { return v.tanh(); });
  });
}

template <class T>
void tanh_backward(const T* dy, const T* y, T* dx, int64_t n) {
  for_blocks(n, kCheap, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) dx[i] = dy[i] * (T(1) - y[i] * y[i]);
  });
}

template <class T>
void gelu_forward(const T* x, T* y, int64_t n, bool tanh_approx) {
  const T half(0.5), one(1), c(kSqrt2OverPi), k(kGeluCubic), r2(kInvSqrt2);
  for_blocks(n, kCostly, [&](int64_t b, int64_t e) {
    if (tanh_approx)
      lanewise(x + b, y + b, e - b, [&](const Lanes<T>& v) {
        return half * v * (one + (c * (v + k * v * v * v)).tanh());
      });
    else
      lanewise(x + b, y + b, e - b,
               [&](const Lanes<T>& v) { return half * v * (one + (v * r2).erf()); });
  });
}

template <class T>
void gelu_backward(const T* dy, const T* x, T* dx, int64_t n, bool tanh_approx) {
  const T half(0.5), one(1), three(3), c(kSqrt2OverPi), k(kGeluCubic), r2(kInvSqrt2),
      r2pi(kInvSqrt2Pi);
  for_blocks(n, kCostly, [&](int64_t b, int64_t e) {
    // dx = gelu'(x) first, then times dy.
    if (tanh_approx)
      // NOTE: returns a Lanes<T>, not an expression, which would refer to the local t.
      lanewise(x + b, dx + b, e - b, [&](const Lanes<T>& v) -> Lanes<T> {
        const Lanes<T> t = (c * (v + k * v * v * v)).tanh();
        return half * (one + t) + half * v * (one - t * t) * c * (one + three * k * v * v);
      });
    else
      lanewise(x + b, dx + b, e - b, [&](const Lanes<T>& v) {
        return half * (one + (v * r2).erf()) + r2pi * v * (-half * v * v).exp();
      });
    for (int64_t i = b; i < e; ++i) dx[i] *= dy[i];
  });
}

template <class T>
void softmax_forward(const T* x, T* y, const SoftmaxShape& s) {
  for_rows(s, [&](int64_t r) {
    const T* xr = x + r * s.cols;
    T* yr = y + r * s.cols;
    const T m = row_max(xr, s.cols);
    lanewise(xr, yr, s.cols, [m](const Lanes<T>& v) { return (v - m).exp(); });
    const T sum = lane_dot<T>(yr, nullptr, s.cols);
    for (int64_t j = 0; j < s.cols; ++j) yr[j] /= sum;
  });
}

template <class T>
void softmax_backward(const T* dy, const T* y, T* dx, const SoftmaxShape& s) {
  for_rows(s, [&](int64_t r) {
    const int64_t o = r * s.cols;
    const T dot = lane_dot(dy + o, y + o, s.cols);
    for (int64_t j = o; j < o + s.cols; ++j) dx[j] = y[j] * (dy[j] - dot);
  });
}

template <class T>
void log_softmax_forward(const T* x, T* y, const SoftmaxShape& s) {
  for_rows(s, [&](int64_t r) {
    const T* xr = x + r * s.cols;
    T* yr = y + r * s.cols;
    const T m = row_max(xr, s.cols);
    lanewise(xr, yr, s.cols, [m](const Lanes<T>& v) { return (v - m).exp(); });
    const T log_sum = std::log(lane_dot<T>(yr, nullptr, s.cols));
    for (int64_t j = 0; j < s.cols; ++j) yr[j] = (xr[j] - m) - log_sum;
  });
}

template <class T>
void log_softmax_backward(const T* dy, const T* y, T* dx, const SoftmaxShape& s) {
  for_rows(s, [&](int64_t r) {
    const int64_t o = r * s.cols;
    const T sum = lane_dot<T>(dy + o, nullptr, s.cols);
    lanewise(y + o, dx + o, s.cols, [](const Lanes<T>& v) { return v.exp(); });
    for (int64_t j = o; j < o + s.cols; ++j) dx[j] = dy[j] - dx[j] * sum;
  });
}

template <class T>
void softplus_forward(const T* x, T* y, int64_t n, double beta, double threshold) {
  const T b = static_cast<T>(beta), th = static_cast<T>(threshold);
  for_blocks(n, kCostly, [&](int64_t lo, int64_t hi) {
    for (int64_t i = lo; i < hi; ++i) {
      const T z = x[i] * b;
      y[i] = z > th ? x[i] : std::log1p(std::exp(z)) / b;
    }
  });
}

template <class T>
void softplus_backward(const T* dy, const T* x, T* dx, int64_t n, double beta, double threshold) {
  const T b = static_cast<T>(beta), th = static_cast<T>(threshold);
  for_blocks(n, kCostly, [&](int64_t lo, int64_t hi) {
    for (int64_t i = lo; i < hi; ++i) {
      const T z = x[i] * b;
      // NOTE: sigmoid(z) as 1 / (1 + exp(-z)): exp(-z) overflows to inf for very negative z,
      // and 1 / inf = 0 is the right limit.
      dx[i] = z > th ? dy[i] : dy[i] / (T(1) + std::exp(-z));
    }
  });
}

template <class T>
void dropout_forward(const T* x, T* y, int64_t n, double p, uint64_t seed) {
  dropout_apply(x, y, n, p, seed);
}

template <class T>
void dropout_backward(const T* dy, T* dx, int64_t n, double p, uint64_t seed) {
  dropout_apply(dy, dx, n, p, seed);
}

#define NNC_INSTANTIATE(T)                                                                     \
  template void relu_forward<T>(const T*, T*, int64_t);                                       \
  template void relu_backward<T>(const T*, const T*, T*, int64_t);                            \
  template void leaky_relu_forward<T>(const T*, T*, int64_t, T);                              \
  template void leaky_relu_backward<T>(const T*, const T*, T*, int64_t, T);                   \
  template void sigmoid_forward<T>(const T*, T*, int64_t);                                    \
  template void sigmoid_backward<T>(const T*, const T*, T*, int64_t);                         \
  template void tanh_forward<T>(const T*, T*, int64_t);                                       \
  template void tanh_backward<T>(const T*, const T*, T*, int64_t);                            \
  template void gelu_forward<T>(const T*, T*, int64_t, bool);                                 \
  template void gelu_backward<T>(const T*, const T*, T*, int64_t, bool);                      \
  template void softplus_forward<T>(const T*, T*, int64_t, double, double);                   \
  template void softplus_backward<T>(const T*, const T*, T*, int64_t, double, double);        \
  template void softmax_forward<T>(const T*, T*, const SoftmaxShape&);                        \
  template void softmax_backward<T>(const T*, const T*, T*, const SoftmaxShape&);             \
  template void log_softmax_forward<T>(const T*, T*, const SoftmaxShape&);                    \
  template void log_softmax_backward<T>(const T*, const T*, T*, const SoftmaxShape&);         \
  template void dropout_forward<T>(const T*, T*, int64_t, double, uint64_t);                  \
  template void dropout_backward<T>(const T*, T*, int64_t, double, uint64_t);
NNC_INSTANTIATE(float)
NNC_INSTANTIATE(double)
#undef NNC_INSTANTIATE

}  // namespace nnc
