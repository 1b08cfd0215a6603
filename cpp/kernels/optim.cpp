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

// NOTE: the steps work on blocks with one simple loop per stage (a local gradient buffer) rather
// than one loop with every option inside: GCC vectorises these loops, and did not vectorise the
// branchy single loop (7x slower on a 100k-parameter model). Per element the arithmetic is the same.
constexpr int64_t kBlock = 256;

// Runs f(lo, hi) over [0, n) in blocks: the pool over blocks when n * flops_per_element is large.
template <class F>
void for_each_block(int64_t n, int64_t flops_per_element, const F& f) {
  // Runs of 16 blocks per chunk: one claim per 4096 elements.
  parallel_blocks(n, 16 * kBlock, n * flops_per_element, [&](int64_t lo, int64_t hi) {
    for (int64_t b = lo; b < hi; b += kBlock) f(b, std::min(hi, b + kBlock));
  });
}

// g = ±grad (+ wd * param): the first stage of every optimizer.
template <class T>
void effective_grad(T* g, const T* grad, const T* param, int64_t len, bool maximize, bool use_wd,
                    T wd) {
  if (maximize)
    for (int64_t i = 0; i < len; ++i) g[i] = -grad[i];
  else
    for (int64_t i = 0; i < len; ++i) g[i] = grad[i];
  if (use_wd)
    for (int64_t i = 0; i < len; ++i) g[i] = std::fma(wd, param[i], g[i]);
}

// avg = lerp(avg, g, weight) with PyTorch's formula, which switches at weight 0.5 to stay exact
// at both ends.
template <class T>
void lerp_into(T* avg, const T* g, T weight, int64_t len) {
  if (std::abs(weight) < T(0.5)) {
    for (int64_t i = 0; i < len; ++i) avg[i] = std::fma(weight, g[i] - avg[i], avg[i]);
  } else {
    const T rest = T(1) - weight;
    for (int64_t i = 0; i < len; ++i) avg[i] = std::fma(avg[i] - g[i], rest, g[i]);
  }
}

// p *= 1 - lr*wd (decoupled) or g += wd*p (L2): the weight decay of Adam, NAdam and RAdam.
template <class T>
void decay_or_l2(T* g, const T* grad, T* p, int64_t len, bool maximize, double lr, double wd,
                 bool decoupled) {
  const bool use_wd = wd != 0;
  effective_grad(g, grad, p, len, maximize, use_wd && !decoupled, T(wd));
  if (use_wd && decoupled) {
    const T decay = T(1 - lr * wd);
    for (int64_t i = 0; i < len; ++i) p[i] = p[i] * decay;
  }
}

// s = beta*s + (1-beta)*g^2 as PyTorch's mul_ then addcmul_ (the product fused into the add).
template <class T>
void square_average(T* s, const T* g, T beta, T one_minus_beta, int64_t len) {
  for (int64_t i = 0; i < len; ++i) s[i] = std::fma(one_minus_beta * g[i], g[i], s[i] * beta);
}

}  // namespace

template <class T>
void sgd_step(T* param, const T* grad, T* momentum_buffer, bool fresh_buffer, int64_t n,
              const SgdOptions& o) {
  const T neg_lr = T(-o.lr), momentum = T(o.momentum), keep = T(1 - o.dampening);
  const T wd = T(o.weight_decay);
  const bool use_wd = o.weight_decay != 0, use_momentum = o.momentum != 0;
  for_each_block(n, 6, [&](int64_t lo, int64_t hi) {
    const int64_t len = hi - lo;
    T g[kBlock];
    T* p = param + lo;
    effective_grad(g, grad + lo, p, len, o.maximize, use_wd, wd);
    if (use_momentum) {
      T* buf = momentum_buffer + lo;
      if (fresh_buffer)
        for (int64_t i = 0; i < len; ++i) buf[i] = g[i];
      else
        for (int64_t i = 0; i < len; ++i) buf[i] = std::fma(keep, g[i], buf[i] * momentum);
      if (o.nesterov)
        for (int64_t i = 0; i < len; ++i) g[i] = std::fma(momentum, buf[i], g[i]);
      else
        for (int64_t i = 0; i < len; ++i) g[i] = buf[i];
    }
    for (int64_t i = 0; i < len; ++i) p[i] = std::fma(neg_lr, g[i], p[i]);
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
  for_each_block(n, 14, [&](int64_t lo, int64_t hi) {
    const int64_t len = hi - lo;
    T g[kBlock];
    T *p = param + lo, *m = exp_avg + lo, *v = exp_avg_sq + lo;
    effective_grad(g, grad + lo, p, len, o.maximize, use_wd && !decoupled, wd);
    if (use_wd && decoupled)
      for (int64_t i = 0; i < len; ++i) p[i] = p[i] * decay;
    lerp_into(m, g, one_minus_beta1, len);
    for (int64_t i = 0; i < len; ++i) v[i] = std::fma(one_minus_beta2 * g[i], g[i], v[i] * beta2);
    const T* v_used = v;
    if (o.amsgrad) {
      T* vmax = max_exp_avg_sq + lo;
      for (int64_t i = 0; i < len; ++i) vmax[i] = std::max(vmax[i], v[i]);
      v_used = vmax;
    }
    for (int64_t i = 0; i < len; ++i)
      p[i] = p[i] + neg_step_size * m[i] / (std::sqrt(v_used[i]) / bc2_sqrt + eps);
  });
}

template <class T>
void rmsprop_step(T* param, const T* grad, T* square_avg, T* momentum_buffer, T* grad_avg,
                  int64_t n, const RmspropOptions& o) {
  const T alpha = T(o.alpha), one_minus_alpha = T(1 - o.alpha), eps = T(o.eps);
  const T wd = T(o.weight_decay), momentum = T(o.momentum), neg_lr = T(-o.lr);
  const bool use_wd = o.weight_decay != 0, use_momentum = o.momentum > 0;
  for_each_block(n, 12, [&](int64_t lo, int64_t hi) {
    const int64_t len = hi - lo;
    T g[kBlock], avg[kBlock];
    T *p = param + lo, *s = square_avg + lo;
    effective_grad(g, grad + lo, p, len, o.maximize, use_wd, wd);
    for (int64_t i = 0; i < len; ++i) s[i] = std::fma(one_minus_alpha * g[i], g[i], s[i] * alpha);
    if (o.centered) {
      T* ga = grad_avg + lo;
      lerp_into(ga, g, one_minus_alpha, len);
      for (int64_t i = 0; i < len; ++i) avg[i] = std::sqrt(std::fma(-ga[i], ga[i], s[i])) + eps;
    } else {
      for (int64_t i = 0; i < len; ++i) avg[i] = std::sqrt(s[i]) + eps;
    }
    if (use_momentum) {
      T* buf = momentum_buffer + lo;
      for (int64_t i = 0; i < len; ++i) buf[i] = buf[i] * momentum + g[i] / avg[i];
      for (int64_t i = 0; i < len; ++i) p[i] = std::fma(neg_lr, buf[i], p[i]);
    } else {
      for (int64_t i = 0; i < len; ++i) p[i] = p[i] + neg_lr * g[i] / avg[i];
    }
  });
}

template <class T>
void adagrad_step(T* param, const T* grad, T* state_sum, double step, int64_t n,
                  const AdagradOptions& o) {
  const T neg_clr = T(-(o.lr / (1 + (step - 1) * o.lr_decay)));
  const T wd = T(o.weight_decay), eps = T(o.eps);
  for_each_block(n, 8, [&](int64_t lo, int64_t hi) {
    const int64_t len = hi - lo;
    T g[kBlock];
    T *p = param + lo, *s = state_sum + lo;
    effective_grad(g, grad + lo, p, len, o.maximize, o.weight_decay != 0, wd);
    for (int64_t i = 0; i < len; ++i) s[i] = std::fma(g[i], g[i], s[i]);
    for (int64_t i = 0; i < len; ++i) p[i] = p[i] + neg_clr * g[i] / (std::sqrt(s[i]) + eps);
  });
}

template <class T>
void adadelta_step(T* param, const T* grad, T* square_avg, T* acc_delta, int64_t n,
                   const AdadeltaOptions& o) {
  const T rho = T(o.rho), one_minus_rho = T(1 - o.rho), eps = T(o.eps), neg_lr = T(-o.lr);
  for_each_block(n, 14, [&](int64_t lo, int64_t hi) {
    const int64_t len = hi - lo;
    T g[kBlock];
    T *p = param + lo, *s = square_avg + lo, *acc = acc_delta + lo;
    effective_grad(g, grad + lo, p, len, o.maximize, o.weight_decay != 0, T(o.weight_decay));
    square_average(s, g, rho, one_minus_rho, len);
    // g becomes the update delta.
    for (int64_t i = 0; i < len; ++i)
      g[i] = std::sqrt(acc[i] + eps) / std::sqrt(s[i] + eps) * g[i];
    square_average(acc, g, rho, one_minus_rho, len);
    for (int64_t i = 0; i < len; ++i) p[i] = std::fma(neg_lr, g[i], p[i]);
  });
}

template <class T>
void adamax_step(T* param, const T* grad, T* exp_avg, T* exp_inf, double step, int64_t n,
                 const AdamaxOptions& o) {
  const T neg_clr = T(-(o.lr / (1 - std::pow(o.beta1, step))));
  const T beta2 = T(o.beta2), one_minus_beta1 = T(1 - o.beta1), eps = T(o.eps);
  for_each_block(n, 10, [&](int64_t lo, int64_t hi) {
    const int64_t len = hi - lo;
    T g[kBlock];
    T *p = param + lo, *m = exp_avg + lo, *u = exp_inf + lo;
    effective_grad(g, grad + lo, p, len, o.maximize, o.weight_decay != 0, T(o.weight_decay));
    lerp_into(m, g, one_minus_beta1, len);
    for (int64_t i = 0; i < len; ++i) {
      // NOTE: torch.maximum propagates NaN from either side; std::max would drop one.
      const T a = u[i] * beta2, b = std::abs(g[i]) + eps;
      u[i] = (a > b || a != a) ? a : b;
    }
    for (int64_t i = 0; i < len; ++i) p[i] = p[i] + neg_clr * m[i] / u[i];
  });
}

template <class T>
void nadam_step(T* param, const T* grad, T* exp_avg, T* exp_avg_sq, double step,
                double mu_product, int64_t n, const NadamOptions& o) {
  const double bias_correction2 = 1 - std::pow(o.beta2, step);
  const double mu = o.beta1 * (1.0 - 0.5 * std::pow(0.96, step * o.momentum_decay));
  const double mu_next = o.beta1 * (1.0 - 0.5 * std::pow(0.96, (step + 1) * o.momentum_decay));
  const T grad_coef = T(-o.lr * (1.0 - mu) / (1.0 - mu_product));
  const T avg_coef = T((-o.lr * mu_next) / (1.0 - mu_product * mu_next));
  const T beta2 = T(o.beta2), one_minus_beta1 = T(1 - o.beta1), one_minus_beta2 = T(1 - o.beta2);
  const T bc2 = T(bias_correction2), eps = T(o.eps);
  for_each_block(n, 18, [&](int64_t lo, int64_t hi) {
    const int64_t len = hi - lo;
    T g[kBlock], denom[kBlock];
    T *p = param + lo, *m = exp_avg + lo, *v = exp_avg_sq + lo;
    decay_or_l2(g, grad + lo, p, len, o.maximize, o.lr, o.weight_decay, o.decoupled_weight_decay);
    lerp_into(m, g, one_minus_beta1, len);
    square_average(v, g, beta2, one_minus_beta2, len);
    for (int64_t i = 0; i < len; ++i) denom[i] = std::sqrt(v[i] / bc2) + eps;
    // Two separate updates, each rounded, as PyTorch's two addcdiv_ calls.
    for (int64_t i = 0; i < len; ++i) p[i] = p[i] + grad_coef * g[i] / denom[i];
    for (int64_t i = 0; i < len; ++i) p[i] = p[i] + avg_coef * m[i] / denom[i];
  });
}

template <class T>
void radam_step(T* param, const T* grad, T* exp_avg, T* exp_avg_sq, double step, int64_t n,
                const RadamOptions& o) {
  const double bias_correction1 = 1 - std::pow(o.beta1, step);
  const double bias_correction2 = 1 - std::pow(o.beta2, step);
  const double rho_inf = 2 / (1 - o.beta2) - 1;
  const double rho_t = rho_inf - 2 * step * std::pow(o.beta2, step) / bias_correction2;
  const bool rectify = rho_t > 5.0;
  // NOTE: pow(x, 0.5), not sqrt: the same libm call as Python's x ** 0.5 in PyTorch.
  const double rect =
      rectify ? std::pow((rho_t - 4) * (rho_t - 2) * rho_inf /
                             ((rho_inf - 4) * (rho_inf - 2) * rho_t), 0.5)
              : 1.0;
  const T bc1 = T(bias_correction1), bc2_sqrt = T(std::pow(bias_correction2, 0.5));
  const T lr = T(o.lr), rect_t = T(rect), eps = T(o.eps);
  const T beta2 = T(o.beta2), one_minus_beta1 = T(1 - o.beta1), one_minus_beta2 = T(1 - o.beta2);
  for_each_block(n, 18, [&](int64_t lo, int64_t hi) {
    const int64_t len = hi - lo;
    T g[kBlock];
    T *p = param + lo, *m = exp_avg + lo, *v = exp_avg_sq + lo;
    decay_or_l2(g, grad + lo, p, len, o.maximize, o.lr, o.weight_decay, o.decoupled_weight_decay);
    lerp_into(m, g, one_minus_beta1, len);
    square_average(v, g, beta2, one_minus_beta2, len);
    // The product is rounded left to right as PyTorch's chain of tensor products.
    if (rectify) {
      for (int64_t i = 0; i < len; ++i) {
        const T adaptive = T(1) / (std::sqrt(v[i]) + eps) * bc2_sqrt;
        p[i] = p[i] - m[i] / bc1 * lr * adaptive * rect_t;
      }
    } else {
      for (int64_t i = 0; i < len; ++i) p[i] = p[i] - m[i] / bc1 * lr;
    }
  });
}

template <class T>
void asgd_step(T* param, const T* grad, T* ax, double eta, double mu, int64_t n,
               const AsgdOptions& o) {
  const T decay = T(1 - o.lambd * eta), neg_eta = T(-eta), mu_t = T(mu);
  for_each_block(n, 8, [&](int64_t lo, int64_t hi) {
    const int64_t len = hi - lo;
    T g[kBlock];
    T *p = param + lo, *a = ax + lo;
    effective_grad(g, grad + lo, p, len, o.maximize, o.weight_decay != 0, T(o.weight_decay));
    for (int64_t i = 0; i < len; ++i) p[i] = std::fma(neg_eta, g[i], p[i] * decay);
    if (mu != 1)
      for (int64_t i = 0; i < len; ++i) a[i] = a[i] + (p[i] - a[i]) * mu_t;
    else
      for (int64_t i = 0; i < len; ++i) a[i] = p[i];
  });
}

template <class T>
void rprop_step(T* param, const T* grad, T* prev, T* step_size, int64_t n,
                const RpropOptions& o) {
  const T etaminus = T(o.etaminus), etaplus = T(o.etaplus);
  const T lo_step = T(o.step_size_min), hi_step = T(o.step_size_max);
  for_each_block(n, 8, [&](int64_t lo, int64_t hi) {
    const int64_t len = hi - lo;
    T g[kBlock];
    T *p = param + lo, *pv = prev + lo, *ss = step_size + lo;
    effective_grad(g, grad + lo, p, len, o.maximize, false, T(0));
    for (int64_t i = 0; i < len; ++i) {
      const T sign_change = g[i] * pv[i];
      // NaN products keep NaN, as PyTorch's sign() does.
      const T factor = sign_change > 0 ? etaplus
                       : sign_change < 0 ? etaminus
                       : sign_change == 0 ? T(1) : sign_change;
      // NOTE: min(max(x, lo), hi) keeps a NaN x, as clamp_ does.
      ss[i] = std::min(std::max(ss[i] * factor, lo_step), hi_step);
      if (sign_change < 0) g[i] = T(0);
      const T s = g[i] > 0 ? T(1) : g[i] < 0 ? T(-1) : g[i];
      p[i] = p[i] - s * ss[i];
      pv[i] = g[i];
    }
  });
}

#define NNC_INSTANTIATE(T)                                                                   \
  template void sgd_step<T>(T*, const T*, T*, bool, int64_t, const SgdOptions&);            \
  template void adam_step<T>(T*, const T*, T*, T*, T*, double, int64_t, const AdamOptions&); \
  template void rmsprop_step<T>(T*, const T*, T*, T*, T*, int64_t, const RmspropOptions&);  \
  template void adagrad_step<T>(T*, const T*, T*, double, int64_t, const AdagradOptions&);  \
  template void adadelta_step<T>(T*, const T*, T*, T*, int64_t, const AdadeltaOptions&);    \
  template void adamax_step<T>(T*, const T*, T*, T*, double, int64_t, const AdamaxOptions&); \
  template void nadam_step<T>(T*, const T*, T*, T*, double, double, int64_t,                \
                              const NadamOptions&);                                          \
  template void radam_step<T>(T*, const T*, T*, T*, double, int64_t, const RadamOptions&);  \
  template void asgd_step<T>(T*, const T*, T*, double, double, int64_t, const AsgdOptions&); \
  template void rprop_step<T>(T*, const T*, T*, T*, int64_t, const RpropOptions&);
NNC_INSTANTIATE(float)
NNC_INSTANTIATE(double)
#undef NNC_INSTANTIATE

}  // namespace nnc
