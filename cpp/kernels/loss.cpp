#include "kernels/loss.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "common/check.h"
#include "common/lanes.h"
#include "common/parallel.h"

namespace nnc {

namespace {

// NOTE: sums run in double: a float32 mean over a large batch otherwise drifts past PyTorch's
// pairwise summation by more than 1e-5.
constexpr int64_t kSumBlock = 4096;

template <class F>
void for_each_index(int64_t n, int64_t work, F&& f) {
  parallel_blocks(n, kSumBlock, work, [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i) f(i);
  });
}

template <class F>
double sum_over(int64_t n, int64_t work, F&& f) {
  // NOTE: fixed blocks of kSumBlock terms, each summed in order, then the blocks in order: the
  // same bits at any thread count (OpenMP's reduction clause combined per-thread sums).
  const int64_t blocks = (n + kSumBlock - 1) / kSumBlock;
  std::vector<double> partial(static_cast<size_t>(std::max<int64_t>(blocks, 1)), 0.0);
  parallel_blocks(n, kSumBlock, work, [&](int64_t i0, int64_t i1) {
    double sum = 0;
    for (int64_t i = i0; i < i1; ++i) sum += f(i);
    partial[i0 / kSumBlock] = sum;
  });
  double total = 0;
  for (const double p : partial) total += p;
  return total;
}

// Writes f(i) for every i (reduction none) or their sum / mean into loss[0].
template <class T, class F>
void reduce_into(T* loss, int64_t n, int64_t work, Reduction r, double divisor, F&& f) {
  if (r == Reduction::kNone) {
    for_each_index(n, work, [&](int64_t i) { loss[i] = static_cast<T>(f(i)); });
    return;
  }
  const double total = sum_over(n, work, f);
  loss[0] = static_cast<T>(r == Reduction::kMean ? total / divisor : total);
}

// d(loss)/d(loss_i): dloss[i] for reduction none, else dloss[0] (divided by the mean's divisor).
template <class T>
struct Scale {
  const T* per_item;
  double uniform;
  double operator()(int64_t i) const { return per_item ? double(per_item[i]) : uniform; }
};

template <class T>
Scale<T> make_scale(const T* dloss, Reduction r, double divisor) {
  if (r == Reduction::kNone) return {dloss, 0.0};
  return {nullptr, r == Reduction::kMean ? double(dloss[0]) / divisor : double(dloss[0])};
}

// NOTE: the exponentials in fixed 16-lane blocks (lanes.h), summed lane by lane in a fixed
// order; the tail block is padded with -inf (exp gives 0 or Eigen's clamped ~1e-38, nothing next
// to the max's 1). Scalar std::exp in double made cross-entropy over nanoGPT's 65 classes 2.5x
// slower than PyTorch's.
template <class T>
T row_logsumexp(const T* z, int64_t c) {
  const T m = *std::max_element(z, z + c);
  Lanes<T> acc = Lanes<T>::Zero(), v;
  int64_t j = 0;
  for (; j + kLanes <= c; j += kLanes) {
    v = Eigen::Map<const Lanes<T>>(z + j);
    acc += (v - m).exp();
  }
  if (j < c) {
    v.setConstant(-std::numeric_limits<T>::infinity());
    v.head(c - j) = MapConstArr<T>(z + j, c - j);
    acc += (v - m).exp();
  }
  return static_cast<T>(m + std::log(acc.sum()));
}

template <class T>
double weight_sum(const T* weight, int64_t classes) {
  if (!weight) return double(classes);
  double s = 0;
  for (int64_t j = 0; j < classes; ++j) s += weight[j];
  return s;
}

template <class T>
double w_at(const T* weight, int64_t j) {
  return weight ? double(weight[j]) : 1.0;
}

template <class T>
T softplus_neg(T x) {  // log(1 + exp(-x)), stable for both signs
  return std::max(-x, T(0)) + std::log1p(std::exp(-std::abs(x)));
}

template <class T>
T sigmoid_neg(T x) {  // 1 / (1 + exp(x)) without overflow
  if (x >= 0) {
    const T e = std::exp(-x);
    return e / (1 + e);
  }
  return 1 / (1 + std::exp(x));
}

}  // namespace

template <class T>
double class_target_weight(const char* op, const int64_t* target, const T* weight,
                           const ClassLossShape& s, int64_t ignore_index) {
  double total = 0;
  for (int64_t i = 0; i < s.rows; ++i) {
    const int64_t y = target[i];
    if (y == ignore_index) continue;
    NNC_CHECK(y >= 0 && y < s.classes, op, "target ", y, " (at index ", i,
              ") is out of range for ", s.classes, " classes (expected 0 <= target < ",
              s.classes, " or ignore_index ", ignore_index, ")");
    total += w_at(weight, y);
  }
  return total;
}

template <class T>
void cross_entropy_forward(const T* logits, const int64_t* target, const T* weight, T* loss,
                           T* lse, const ClassLossShape& s, const ClassTargetOptions& o) {
  const double kept = class_target_weight("cross_entropy", target, weight, s, o.ignore_index);
  const int64_t c = s.classes;
  const double eps = o.label_smoothing;
  reduce_into(loss, s.rows, s.rows * c, o.reduction, kept, [&](int64_t i) -> double {
    const T* z = logits + i * c;
    const T l = row_logsumexp(z, c);
    lse[i] = l;
    const int64_t y = target[i];
    if (y == o.ignore_index) return 0.0;
    double out = -(1 - eps) * w_at(weight, y) * double(z[y] - l);
    if (eps > 0) {
      double smooth = 0;
      for (int64_t j = 0; j < c; ++j) smooth += w_at(weight, j) * double(z[j] - l);
      out -= eps / double(c) * smooth;
    }
    return out;
  });
}

template <class T>
void cross_entropy_backward(const T* dloss, const T* logits, const int64_t* target,
                            const T* weight, const T* lse, T* dlogits, const ClassLossShape& s,
                            const ClassTargetOptions& o) {
  const double kept = class_target_weight("cross_entropy", target, weight, s, o.ignore_index);
  const Scale<T> scale = make_scale(dloss, o.reduction, kept);
  const int64_t c = s.classes;
  const double eps = o.label_smoothing;
  const double smooth_each = eps / double(c);
  const double smooth_total = smooth_each * weight_sum(weight, c);
  for_each_index(s.rows, s.rows * c, [&](int64_t i) {
    T* d = dlogits + i * c;
    const int64_t y = target[i];
    if (y == o.ignore_index) {
      std::fill(d, d + c, T(0));
      return;
    }
    const T* z = logits + i * c;
    const double sc = scale(i);
    const double hit = (1 - eps) * w_at(weight, y);
    const double a = hit + smooth_total;
    const T l = lse[i];
    lanewise(z, d, c, [l](const Lanes<T>& v) { return (v - l).exp(); });
    for (int64_t j = 0; j < c; ++j)
      d[j] = static_cast<T>(sc * (double(d[j]) * a - smooth_each * w_at(weight, j)));
    d[y] = static_cast<T>(d[y] - sc * hit);
  });
}

template <class T>
void soft_cross_entropy_forward(const T* logits, const T* target, const T* weight, T* loss,
                                T* lse, const ClassLossShape& s, double label_smoothing,
                                Reduction reduction) {
  const int64_t c = s.classes;
  const double keep = 1 - label_smoothing, spread = label_smoothing / double(c);
  reduce_into(loss, s.rows, s.rows * c, reduction, double(s.rows), [&](int64_t i) -> double {
    const T* z = logits + i * c;
    const T* t = target + i * c;
    const T l = row_logsumexp(z, c);
    lse[i] = l;
    double out = 0;
    for (int64_t j = 0; j < c; ++j)
      out -= w_at(weight, j) * (keep * t[j] + spread) * double(z[j] - l);
    return out;
  });
}

template <class T>
void soft_cross_entropy_backward(const T* dloss, const T* logits, const T* target,
                                 const T* weight, const T* lse, T* dlogits, T* dtarget,
                                 const ClassLossShape& s, double label_smoothing,
                                 Reduction reduction) {
  const Scale<T> scale = make_scale(dloss, reduction, double(s.rows));
  const int64_t c = s.classes;
  const double keep = 1 - label_smoothing, spread = label_smoothing / double(c);
  for_each_index(s.rows, s.rows * c, [&](int64_t i) {
    const T* z = logits + i * c;
    const T* t = target + i * c;
    const double sc = scale(i);
    if (dlogits) {
      T* d = dlogits + i * c;
      double b = 0;
      for (int64_t j = 0; j < c; ++j) b += w_at(weight, j) * (keep * t[j] + spread);
      for (int64_t j = 0; j < c; ++j)
        d[j] = static_cast<T>(sc * (std::exp(double(z[j] - lse[i])) * b -
                                    w_at(weight, j) * (keep * t[j] + spread)));
    }
    if (dtarget) {
      T* d = dtarget + i * c;
      for (int64_t j = 0; j < c; ++j)
        d[j] = static_cast<T>(-sc * keep * w_at(weight, j) * double(z[j] - lse[i]));
    }
  });
}

template <class T>
void nll_loss_forward(const T* input, const int64_t* target, const T* weight, T* loss,
                      const ClassLossShape& s, int64_t ignore_index, Reduction reduction) {
  const double kept = class_target_weight("nll_loss", target, weight, s, ignore_index);
  reduce_into(loss, s.rows, s.rows, reduction, kept, [&](int64_t i) -> double {
    const int64_t y = target[i];
    if (y == ignore_index) return 0.0;
    return -w_at(weight, y) * double(input[i * s.classes + y]);
  });
}

template <class T>
void nll_loss_backward(const T* dloss, const int64_t* target, const T* weight, T* dinput,
                       const ClassLossShape& s, int64_t ignore_index, Reduction reduction) {
  const double kept = class_target_weight("nll_loss", target, weight, s, ignore_index);
  const Scale<T> scale = make_scale(dloss, reduction, kept);
  const int64_t c = s.classes;
  for_each_index(s.rows, s.rows * c, [&](int64_t i) {
    T* d = dinput + i * c;
    std::fill(d, d + c, T(0));
    const int64_t y = target[i];
    if (y != ignore_index) d[y] = static_cast<T>(-scale(i) * w_at(weight, y));
  });
}

template <class T>
void mse_loss_forward(const T* input, const T* target, T* loss, int64_t n, Reduction reduction) {
  reduce_into(loss, n, n, reduction, double(n), [&](int64_t k) -> double {
    const double d = double(input[k]) - double(target[k]);
    return d * d;
  });
}

template <class T>
void mse_loss_backward(const T* dloss, const T* input, const T* target, T* dinput, T* dtarget,
                       int64_t n, Reduction reduction) {
  const Scale<T> scale = make_scale(dloss, reduction, double(n));
  for_each_index(n, n, [&](int64_t k) {
    const double g = 2 * scale(k) * (double(input[k]) - double(target[k]));
    if (dinput) dinput[k] = static_cast<T>(g);
    if (dtarget) dtarget[k] = static_cast<T>(-g);
  });
}

template <class T>
void l1_loss_forward(const T* input, const T* target, T* loss, int64_t n, Reduction reduction) {
  reduce_into(loss, n, n, reduction, double(n),
              [&](int64_t k) -> double { return std::abs(double(input[k]) - double(target[k])); });
}

template <class T>
void l1_loss_backward(const T* dloss, const T* input, const T* target, T* dinput, T* dtarget,
                      int64_t n, Reduction reduction) {
  const Scale<T> scale = make_scale(dloss, reduction, double(n));
  for_each_index(n, n, [&](int64_t k) {
    const double sign = (input[k] > target[k]) - (input[k] < target[k]);
    const double g = scale(k) * sign;
    if (dinput) dinput[k] = static_cast<T>(g);
    if (dtarget) dtarget[k] = static_cast<T>(-g);
  });
}

template <class T>
void bce_with_logits_forward(const T* input, const T* target, const T* weight,
                             const T* pos_weight, T* loss, const BceShape& s,
                             Reduction reduction) {
  const int64_t n = s.rows * s.cols;
  reduce_into(loss, n, n, reduction, double(n), [&](int64_t k) -> double {
    const T x = input[k], t = target[k];
    const T lw = pos_weight ? 1 + (pos_weight[k % s.cols] - 1) * t : T(1);
    return w_at(weight, k) * double((1 - t) * x + lw * softplus_neg(x));
  });
}

template <class T>
void bce_with_logits_backward(const T* dloss, const T* input, const T* target, const T* weight,
                              const T* pos_weight, T* dinput, T* dtarget, const BceShape& s,
                              Reduction reduction) {
  const int64_t n = s.rows * s.cols;
  const Scale<T> scale = make_scale(dloss, reduction, double(n));
  for_each_index(n, n, [&](int64_t k) {
    const T x = input[k], t = target[k];
    const T pw = pos_weight ? pos_weight[k % s.cols] : T(1);
    const double sc = scale(k) * w_at(weight, k);
    if (dinput)
      dinput[k] = static_cast<T>(sc * double((1 - t) - (1 + (pw - 1) * t) * sigmoid_neg(x)));
    if (dtarget) dtarget[k] = static_cast<T>(sc * double(-x + (pw - 1) * softplus_neg(x)));
  });
}

#define NNC_INSTANTIATE(T)                                                                       \
  template double class_target_weight<T>(const char*, const int64_t*, const T*,                 \
                                         const ClassLossShape&, int64_t);                       \
  template void cross_entropy_forward<T>(const T*, const int64_t*, const T*, T*, T*,            \
                                         const ClassLossShape&, const ClassTargetOptions&);     \
  template void cross_entropy_backward<T>(const T*, const T*, const int64_t*, const T*,         \
                                          const T*, T*, const ClassLossShape&,                  \
                                          const ClassTargetOptions&);                           \
  template void soft_cross_entropy_forward<T>(const T*, const T*, const T*, T*, T*,             \
                                              const ClassLossShape&, double, Reduction);        \
  template void soft_cross_entropy_backward<T>(const T*, const T*, const T*, const T*,          \
                                               const T*, T*, T*, const ClassLossShape&, double, \
                                               Reduction);                                      \
  template void nll_loss_forward<T>(const T*, const int64_t*, const T*, T*,                     \
                                    const ClassLossShape&, int64_t, Reduction);                 \
  template void nll_loss_backward<T>(const T*, const int64_t*, const T*, T*,                    \
                                     const ClassLossShape&, int64_t, Reduction);                \
  template void mse_loss_forward<T>(const T*, const T*, T*, int64_t, Reduction);                \
  template void mse_loss_backward<T>(const T*, const T*, const T*, T*, T*, int64_t, Reduction); \
  template void l1_loss_forward<T>(const T*, const T*, T*, int64_t, Reduction);                 \
  template void l1_loss_backward<T>(const T*, const T*, const T*, T*, T*, int64_t, Reduction);  \
  template void bce_with_logits_forward<T>(const T*, const T*, const T*, const T*, T*,          \
                                           const BceShape&, Reduction);                         \
  template void bce_with_logits_backward<T>(const T*, const T*, const T*, const T*, const T*,   \
                                            T*, T*, const BceShape&, Reduction);
NNC_INSTANTIATE(float)
NNC_INSTANTIATE(double)
#undef NNC_INSTANTIATE

}  // namespace nnc
