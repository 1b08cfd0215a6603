// The loss family: cross-entropy (class indices and probabilities), nll, mse, l1 and
// binary cross-entropy with logits, with PyTorch's reductions, weights and label smoothing.
// Forward writes one loss per row/element (reduction none) or one scalar; backward takes the
// matching dloss and fills nullable gradient outputs (null = not needed).
#pragma once
#include <cstdint>

namespace nnc {

enum class Reduction { kNone, kMean, kSum };

struct ClassLossShape {
  int64_t rows, classes;  // scores: [rows, classes], class-index targets: [rows]
};

struct ClassTargetOptions {
  int64_t ignore_index;
  double label_smoothing;  // in [0, 1]; nll_loss ignores it
  Reduction reduction;
};

// Validates class-index targets (each in [0, classes) or == ignore_index) and returns the mean
// reduction's divisor: sum over kept rows of weight[target] (count of kept rows without weights).
// Serial; throws std::invalid_argument("[op] ...") naming the bad value and the class count.
template <class T>
double class_target_weight(const char* op, const int64_t* target, const T* weight,
                           const ClassLossShape& s, int64_t ignore_index);

// loss_i = (1-e)*(-w[y_i]*logp[i,y_i]) + e/C*(-sum_c w_c*logp[i,c]), logp = z - lse_i, 0 on
// ignored rows; mean divides by sum of w[y_i] over kept rows. Saves lse [rows] for backward.
// Threading: OpenMP over rows above the work threshold.
template <class T>
void cross_entropy_forward(const T* logits, const int64_t* target, const T* weight, T* loss,
                           T* lse, const ClassLossShape& s, const ClassTargetOptions& o);

// dz[i,j] = scale_i*(p_ij*((1-e)*w[y_i] + e/C*sum(w)) - (1-e)*w[y_i]*[j == y_i] - e/C*w_j),
// p = exp(z - lse); 0 on ignored rows. Threading: OpenMP over rows above the work threshold.
template <class T>
void cross_entropy_backward(const T* dloss, const T* logits, const int64_t* target,
                            const T* weight, const T* lse, T* dlogits, const ClassLossShape& s,
                            const ClassTargetOptions& o);

// loss_i = -sum_c w_c*t'_ic*logp_ic, t' = (1-e)*t + e/C (probability targets [rows, classes]);
// mean divides by rows. Saves lse [rows]. Threading: OpenMP over rows above the threshold.
template <class T>
void soft_cross_entropy_forward(const T* logits, const T* target, const T* weight, T* loss,
                                T* lse, const ClassLossShape& s, double label_smoothing,
                                Reduction reduction);

// dz_ij = scale_i*(p_ij*sum_c w_c*t'_ic - w_j*t'_ij), dt_ij = -scale_i*(1-e)*w_j*logp_ij.
// Threading: OpenMP over rows above the work threshold.
template <class T>
void soft_cross_entropy_backward(const T* dloss, const T* logits, const T* target,
                                 const T* weight, const T* lse, T* dlogits, T* dtarget,
                                 const ClassLossShape& s, double label_smoothing,
                                 Reduction reduction);

// loss_i = -w[y_i]*x[i,y_i] (0 on ignored rows) over log-probabilities x [rows, classes]; mean
// divides by sum of w[y_i] over kept rows. Threading: OpenMP over rows above the threshold.
template <class T>
void nll_loss_forward(const T* input, const int64_t* target, const T* weight, T* loss,
                      const ClassLossShape& s, int64_t ignore_index, Reduction reduction);

// dx[i,y_i] = -scale_i*w[y_i], 0 elsewhere and on ignored rows. Threading: OpenMP over rows.
template <class T>
void nll_loss_backward(const T* dloss, const int64_t* target, const T* weight, T* dinput,
                       const ClassLossShape& s, int64_t ignore_index, Reduction reduction);

// loss_k = (x_k - t_k)^2 over n elements. Threading: OpenMP over elements above the threshold.
template <class T>
void mse_loss_forward(const T* input, const T* target, T* loss, int64_t n, Reduction reduction);

// dx_k = 2*scale_k*(x_k - t_k), dt_k = -dx_k. Threading: OpenMP over elements.
template <class T>
void mse_loss_backward(const T* dloss, const T* input, const T* target, T* dinput, T* dtarget,
                       int64_t n, Reduction reduction);

// loss_k = |x_k - t_k| over n elements. Threading: OpenMP over elements above the threshold.
template <class T>
void l1_loss_forward(const T* input, const T* target, T* loss, int64_t n, Reduction reduction);

// dx_k = scale_k*sign(x_k - t_k) (0 at a tie), dt_k = -dx_k. Threading: OpenMP over elements.
template <class T>
void l1_loss_backward(const T* dloss, const T* input, const T* target, T* dinput, T* dtarget,
                      int64_t n, Reduction reduction);

struct BceShape {
  int64_t rows, cols;  // x, t, weight: [rows, cols]; pos_weight: [cols]
};

// loss = w*((1-t)*x + (1+(pw-1)*t)*softplus(-x)), softplus(-x) = max(-x,0) + log1p(exp(-|x|));
// weight and pos_weight nullable. Threading: OpenMP over elements above the threshold.
template <class T>
void bce_with_logits_forward(const T* input, const T* target, const T* weight,
                             const T* pos_weight, T* loss, const BceShape& s,
                             Reduction reduction);

// dx = scale*w*((1-t) - (1+(pw-1)*t)*sigmoid(-x)), dt = scale*w*(-x + (pw-1)*softplus(-x)).
// Threading: OpenMP over elements above the threshold.
template <class T>
void bce_with_logits_backward(const T* dloss, const T* input, const T* target, const T* weight,
                              const T* pos_weight, T* dinput, T* dtarget, const BceShape& s,
                              Reduction reduction);

}  // namespace nnc
