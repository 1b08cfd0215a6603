// The optim family: one optimizer step over one parameter buffer, updated in place. The bindings
// loop over every parameter of a group inside one native call. Formulas are torch.optim 2.x's
// single-tensor path, with scalars rounded to T as PyTorch does, so results agree to rounding.
// All buffers are contiguous, n elements each; a buffer an option does not use may be null.
#pragma once
#include <cstdint>

namespace nnc {

struct SgdOptions {
  double lr, momentum, dampening, weight_decay;
  bool nesterov, maximize;
};

// g = ±grad + wd*p; buf = g (fresh) or momentum*buf + (1-dampening)*g; d = nesterov ? g +
// momentum*buf : buf (g when momentum == 0); p -= lr*d. Threading: the pool over elements when large.
template <class T>
void sgd_step(T* param, const T* grad, T* momentum_buffer, bool fresh_buffer, int64_t n,
              const SgdOptions& o);

struct AdamOptions {
  double lr, beta1, beta2, eps, weight_decay;
  bool amsgrad, maximize, decoupled_weight_decay;
};

// p *= 1-lr*wd (AdamW) or g = ±grad + wd*p; m = lerp(m, g, 1-b1); v = b2*v + (1-b2)*g^2;
// vmax = max(vmax, v) (amsgrad); p -= lr/(1-b1^t) * m / (sqrt(v or vmax)/sqrt(1-b2^t) + eps).
// Threading: the pool over elements when large.
template <class T>
void adam_step(T* param, const T* grad, T* exp_avg, T* exp_avg_sq, T* max_exp_avg_sq,
               double step, int64_t n, const AdamOptions& o);

struct RmspropOptions {
  double lr, alpha, eps, weight_decay, momentum;
  bool centered, maximize;
};

// g = ±grad + wd*p; s = alpha*s + (1-alpha)*g^2; ga = lerp(ga, g, 1-alpha) (centered);
// a = sqrt(s - ga^2 or s) + eps; buf = momentum*buf + g/a, p -= lr*buf (momentum > 0) or
// p -= lr*g/a. Threading: the pool over elements when large.
template <class T>
void rmsprop_step(T* param, const T* grad, T* square_avg, T* momentum_buffer, T* grad_avg,
                  int64_t n, const RmspropOptions& o);

struct AdagradOptions {
  double lr, lr_decay, weight_decay, eps;
  bool maximize;
};

// g = ±grad + wd*p; sum += g^2; p -= lr/(1+(t-1)*lr_decay) * g / (sqrt(sum) + eps).
// Threading: the pool over elements when large.
template <class T>
void adagrad_step(T* param, const T* grad, T* state_sum, double step, int64_t n,
                  const AdagradOptions& o);

struct AdadeltaOptions {
  double lr, rho, eps, weight_decay;
  bool maximize;
};

// g = ±grad + wd*p; s = rho*s + (1-rho)*g^2; d = sqrt(acc + eps) / sqrt(s + eps) * g;
// acc = rho*acc + (1-rho)*d^2; p -= lr*d. Threading: the pool over elements when large.
template <class T>
void adadelta_step(T* param, const T* grad, T* square_avg, T* acc_delta, int64_t n,
                   const AdadeltaOptions& o);

struct AdamaxOptions {
  double lr, beta1, beta2, eps, weight_decay;
  bool maximize;
};

// g = ±grad + wd*p; m = lerp(m, g, 1-b1); u = max(b2*u, |g| + eps);
// p -= lr/(1-b1^t) * m / u. Threading: the pool over elements when large.
template <class T>
void adamax_step(T* param, const T* grad, T* exp_avg, T* exp_inf, double step, int64_t n,
                 const AdamaxOptions& o);

struct NadamOptions {
  double lr, beta1, beta2, eps, weight_decay, momentum_decay;
  bool decoupled_weight_decay, maximize;
};

// mu_t = b1*(1 - 0.5*0.96^(t*psi)); p *= 1-lr*wd (decoupled) or g = ±grad + wd*p;
// m = lerp(m, g, 1-b1); v = b2*v + (1-b2)*g^2; d = sqrt(v/(1-b2^t)) + eps;
// p -= lr*(1-mu_t)/(1-prod) * g/d + lr*mu_{t+1}/(1-prod*mu_{t+1}) * m/d, where prod is the
// product of mu_1..mu_t (kept by the caller). Threading: the pool over elements when large.
template <class T>
void nadam_step(T* param, const T* grad, T* exp_avg, T* exp_avg_sq, double step,
                double mu_product, int64_t n, const NadamOptions& o);

struct RadamOptions {
  double lr, beta1, beta2, eps, weight_decay;
  bool decoupled_weight_decay, maximize;
};

// p *= 1-lr*wd (decoupled) or g = ±grad + wd*p; m = lerp(m, g, 1-b1); v = b2*v + (1-b2)*g^2;
// rho_t = rho_inf - 2t*b2^t/(1-b2^t); p -= lr * m/(1-b1^t) * (rect * sqrt(1-b2^t) /
// (sqrt(v) + eps) when rho_t > 5, else 1). Threading: the pool over elements when large.
template <class T>
void radam_step(T* param, const T* grad, T* exp_avg, T* exp_avg_sq, double step, int64_t n,
                const RadamOptions& o);

struct AsgdOptions {
  double lambd, weight_decay;
  bool maximize;
};

// g = ±grad + wd*p; p = p*(1 - lambd*eta) - eta*g; ax = p (mu == 1) or ax + (p - ax)*mu.
// eta and mu are the parameter's current values (the caller updates them after the step).
// Threading: the pool over elements when large.
template <class T>
void asgd_step(T* param, const T* grad, T* ax, double eta, double mu, int64_t n,
               const AsgdOptions& o);

struct RpropOptions {
  double etaminus, etaplus, step_size_min, step_size_max;
  bool maximize;
};

// g = ±grad; f = etaplus, etaminus or 1 as g*prev is >, < or == 0; step = clamp(step*f, min,
// max); g = 0 where f == etaminus; p -= sign(g)*step; prev = g. Threading: the pool over
// elements when large.
template <class T>
void rprop_step(T* param, const T* grad, T* prev, T* step_size, int64_t n,
                const RpropOptions& o);

}  // namespace nnc
