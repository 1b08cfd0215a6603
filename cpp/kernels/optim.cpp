#include "kernels/optim.h"

#include <algorithm>
#include <cmath>

#include "common/parallel.h"

// NOTE: PyTorch's CPU kernels fuse some multiply-adds (add with alpha, addcmul, lerp) and not
// others (addcdiv, mul then add). Nearly cancelling sums (g + wd*p, s - ga^2 in centered RMSprop)
// are rounded differently by each choice, and the normalised updates of Adam, RMSprop and
// Adagrad amplify that; so this file fuses with explicit std::fma exactly where PyTorch does and
// stops the compiler from contracting anything else (-ffp-contract=off on this file, CMakeLists).

namespace nnc {

namespace {

// Runs f(i) for i in [0, n): OpenMP over elements when n * flops_per_element is large.
template <class F>
void for_each_element(int64_t n, int64_t flops_per_element, const F& f) {
  if (run_parallel(n * flops_per_element)) {
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < n; ++i) f(i);
  } else {
    for (int64_t i = 0; i < n; ++i) f(i);
  }
}

// PyTorch's lerp: the formula switches at weight 0.5 to stay exact at both ends.
template <class T>
inline T lerp(T self, T end, T weight) {
  return std::abs(weight) < T(0.5) ? std::fma(weight, end - self, self)
                                    : std::fma(self - end, T(1) - weight, end);
}

}  // namespace

template <class T>
void sgd_step(T* param, const T* grad, T* momentum_buffer, bool fresh_buffer, int64_t n,
              const SgdOptions& o) {
  const T neg_lr = T(-o.lr), momentum = T(o.momentum), keep = T(1 - o.dampening);
  const T wd = T(o.weight_decay);
  const bool use_wd = o.weight_decay != 0, use_momentum = o.momentum != 0;
  const bool nesterov = o.nesterov, maximize = o.maximize;
  for_each_element(n, 6, [&](int64_t i) {
    T g = maximize ? -grad[i] : grad[i];
    if (use_wd) g = std::fma(wd, param[i], g);
    if (use_momentum) {
      const T buf = fresh_buffer ? g : std::fma(keep, g, momentum_buffer[i] * momentum);
      momentum_buffer[i] = buf;
      g = nesterov ? std::fma(momentum, buf, g) : buf;
    }
    param[i] = std::fma(neg_lr, g, param[i]);
  });
}

template <class T>
void adam_step(T* param, const T* grad, T* exp_avg, T* exp_avg_sq, T* max_exp_avg_sq,
               double step, int64_t n, const AdamOptions& o) {
  const double bias_correction1 = 1 - std::pow(o.beta1, step);
  const double bias_correction2 = 1 - std::pow(o.beta2, step);
  const T neg_step_size = T(-(o.lr / bias_correction1));
  const T bc2_sqrt = T(std::sqrt(bias_correction2));
  const T beta2 = T(o.beta2), one_minus_beta1 = T(1 - o.beta1), one_minus_beta2 = T(1 - o.beta2);
  const T eps = T(o.eps), wd = T(o.weight_decay), decay = T(1 - o.lr * o.weight_decay);
  const bool use_wd = o.weight_decay != 0, decoupled = o.decoupled_weight_decay;
  const bool amsgrad = o.amsgrad, maximize = o.maximize;
  for_each_element(n, 14, [&](int64_t i) {
    T g = maximize ? -grad[i] : grad[i];
    T p = param[i];
    if (use_wd) {
      if (decoupled)
        p = p * decay;
      else
        g = std::fma(wd, p, g);
    }
    const T m = lerp(exp_avg[i], g, one_minus_beta1);
    T v = std::fma(one_minus_beta2 * g, g, exp_avg_sq[i] * beta2);
    exp_avg[i] = m;
    exp_avg_sq[i] = v;
    if (amsgrad) {
      v = std::max(max_exp_avg_sq[i], v);
      max_exp_avg_sq[i] = v;
    }
    const T denom = std::sqrt(v) / bc2_sqrt + eps;
    param[i] = p + neg_step_size * m / denom;
  });
}

template <class T>
void rmsprop_step(T* param, const T* grad, T* square_avg, T* momentum_buffer, T* grad_avg,
                  int64_t n, const RmspropOptions& o) {
  const T alpha = T(o.alpha), one_minus_alpha = T(1 - o.alpha), eps = T(o.eps);
  const T wd = T(o.weight_decay), momentum = T(o.momentum), neg_lr = T(-o.lr);
  const bool use_wd = o.weight_decay != 0, use_momentum = o.momentum > 0;
  const bool centered = o.centered, maximize = o.maximize;
  for_each_element(n, 12, [&](int64_t i) {
    T g = maximize ? -grad[i] : grad[i];
    if (use_wd) g = std::fma(wd, param[i], g);
    const T s = std::fma(one_minus_alpha * g, g, square_avg[i] * alpha);
    square_avg[i] = s;
    T avg;
    if (centered) {
      const T ga = lerp(grad_avg[i], g, one_minus_alpha);
      grad_avg[i] = ga;
      avg = std::sqrt(std::fma(-ga, ga, s));
    } else {
      avg = std::sqrt(s);
    }
    avg = avg + eps;
    if (use_momentum) {
      const T buf = momentum_buffer[i] * momentum + g / avg;
      momentum_buffer[i] = buf;
      param[i] = std::fma(neg_lr, buf, param[i]);
    } else {
      param[i] = param[i] + neg_lr * g / avg;
    }
  });
}

template <class T>
void adagrad_step(T* param, const T* grad, T* state_sum, double step, int64_t n,
                  const AdagradOptions& o) {
  const T neg_clr = T(-(o.lr / (1 + (step - 1) * o.lr_decay)));
  const T wd = T(o.weight_decay), eps = T(o.eps);
  const bool use_wd = o.weight_decay != 0, maximize = o.maximize;
  for_each_element(n, 8, [&](int64_t i) {
    T g = maximize ? -grad[i] : grad[i];
    if (use_wd) g = std::fma(wd, param[i], g);
    const T s = std::fma(g, g, state_sum[i]);
    state_sum[i] = s;
    param[i] = param[i] + neg_clr * g / (std::sqrt(s) + eps);
  });
}

#define NNC_INSTANTIATE(T)                                                                   \
  template void sgd_step<T>(T*, const T*, T*, bool, int64_t, const SgdOptions&);            \
  template void adam_step<T>(T*, const T*, T*, T*, T*, double, int64_t, const AdamOptions&); \
  template void rmsprop_step<T>(T*, const T*, T*, T*, T*, int64_t, const RmspropOptions&);  \
  template void adagrad_step<T>(T*, const T*, T*, double, int64_t, const AdagradOptions&);
NNC_INSTANTIATE(float)
NNC_INSTANTIATE(double)
#undef NNC_INSTANTIATE

}  // namespace nnc
