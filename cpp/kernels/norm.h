// The norm family: normalisation layers (batch_norm and layer_norm), forward and backward.
#pragma once
#include <cstdint>

namespace nnc {

// ==== batch_norm ===============================================================================

struct BatchNormShape {
  int64_t n, c, l;  // x: [n, c, l] ((N, C) is l = 1, (N, C, H, W) is l = H * W)
};

// Training: mean/var over (n, l) per channel, y = (x - mean) * invstd * w + b with invstd =
// 1 / sqrt(var + eps) (biased var); running_mean/var (nullable) <- (1 - m) * old + m * batch
// (unbiased var). Eval: mean, invstd from the running statistics. save_mean/save_invstd: [c].
// Threading: the pool over channels; each channel sums in a fixed order.
template <class T>
void batch_norm_forward(const T* x, const T* w, const T* b, T* running_mean, T* running_var,
                        T* y, T* save_mean, T* save_invstd, const BatchNormShape& s,
                        bool training, double momentum, double eps);

// db = sum dy, dw = sum dy * xhat (xhat = (x - mean) * invstd), dx = w * invstd * (dy - db / M -
// xhat * dw / M) in training (M = n * l), w * invstd * dy in eval; null outputs skipped.
// Threading: the pool over channels.
template <class T>
void batch_norm_backward(const T* dy, const T* x, const T* w, const T* save_mean,
                         const T* save_invstd, T* dx, T* dw, T* db, const BatchNormShape& s,
                         bool training);

// ==== end batch_norm ===========================================================================

// ==== layer_norm =================================================================================

struct LayerNormShape {
  int64_t rows, cols;  // x, y: [rows, cols], cols = the normalised trailing dims flattened
};

// y[r,:] = (x[r,:] - mean_r) * rstd_r * w + b, mean_r and rstd_r = 1 / sqrt(var_r + eps) (biased
// variance) saved in mean[rows], rstd[rows]; w, b [cols] nullable. Threading: the pool over rows.
template <class T>
void layer_norm_forward(const T* x, const T* w, const T* b, T* y, T* mean, T* rstd,
                        const LayerNormShape& s, double eps);

// layer_norm_forward of x + r (a residual connection then its LayerNorm, the post-norm
// Transformer's step), the sum written to sum [rows, cols] for backward (layer_norm_backward
// with x = sum; d(x) = d(r) = its dx). Each row is summed and normalised while in cache.
// Threading: the pool over rows.
template <class T>
void add_layer_norm_forward(const T* x, const T* r, const T* w, const T* b, T* sum, T* y, T* mean,
                            T* rstd, const LayerNormShape& s, double eps);

// With xh = (x - mean) rstd and g = dy * w: dx = rstd (g - mean_row(g) - xh mean_row(g xh)),
// dw = sum_rows(dy xh), db = sum_rows(dy); null outputs are skipped. Threading: the pool over
// rows for dx, over column blocks for dw and db (row order fixed: thread-count independent).
template <class T>
void layer_norm_backward(const T* dy, const T* x, const T* w, const T* mean, const T* rstd, T* dx,
                         T* dw, T* db, const LayerNormShape& s);

// ==== end layer_norm =============================================================================

}  // namespace nnc
