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
// momentum*buf : buf (g when momentum == 0); p -= lr*d. Threading: OpenMP over elements when large.
template <class T>
void sgd_step(T* param, const T* grad, T* momentum_buffer, bool fresh_buffer, int64_t n,
              const SgdOptions& o);

struct AdamOptions {
  double lr, beta1, beta2, eps, weight_decay;
  bool amsgrad, maximize, decoupled_weight_decay;
};

// p *= 1-lr*wd (AdamW) or g = ±grad + wd*p; m = lerp(m, g, 1-b1); v = b2*v + (1-b2)*g^2;
// vmax = max(vmax, v) (amsgrad); p -= lr/(1-b1^t) * m / (sqrt(v or vmax)/sqrt(1-b2^t) + eps).
// Threading: OpenMP over elements when large.
template <class T>
void adam_step(T* param, const T* grad, T* exp_avg, T* exp_avg_sq, T* max_exp_avg_sq,
               double step, int64_t n, const AdamOptions& o);

struct RmspropOptions {
  double lr, alpha, eps, weight_decay, momentum;
  bool centered, maximize;
};

// g = ±grad + wd*p; s = alpha*s + (1-alpha)*g^2; ga = lerp(ga, g, 1-alpha) (centered);
// a = sqrt(s - ga^2 or s) + eps; buf = momentum*buf + g/a, p -= lr*buf (momentum > 0) or
// p -= lr*g/a. Threading: OpenMP over elements when large.
template <class T>
void rmsprop_step(T* param, const T* grad, T* square_avg, T* momentum_buffer, T* grad_avg,
                  int64_t n, const RmspropOptions& o);

struct AdagradOptions {
  double lr, lr_decay, weight_decay, eps;
  bool maximize;
};

// g = ±grad + wd*p; sum += g^2; p -= lr/(1+(t-1)*lr_decay) * g / (sqrt(sum) + eps).
// Threading: OpenMP over elements when large.
template <class T>
void adagrad_step(T* param, const T* grad, T* state_sum, double step, int64_t n,
                  const AdagradOptions& o);

}  // namespace nnc
