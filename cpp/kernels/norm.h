// The norm family: normalisation layers (batch_norm and layer_norm), forward and backward.
#pragma once
#include <cstdint>

namespace nnc {

// ==== layer_norm =================================================================================

struct LayerNormShape {
  int64_t rows, cols;  // x, y: [rows, cols], cols = the normalised trailing dims flattened
};

// y[r,:] = (x[r,:] - mean_r) * rstd_r * w + b, mean_r and rstd_r = 1 / sqrt(var_r + eps) (biased
// variance) saved in mean[rows], rstd[rows]; w, b [cols] nullable. Threading: OpenMP over rows.
template <class T>
void layer_norm_forward(const T* x, const T* w, const T* b, T* y, T* mean, T* rstd,
                        const LayerNormShape& s, double eps);

// With xh = (x - mean) rstd and g = dy * w: dx = rstd (g - mean_row(g) - xh mean_row(g xh)),
// dw = sum_rows(dy xh), db = sum_rows(dy); null outputs are skipped. Threading: OpenMP over
// rows for dx, over column blocks for dw and db (row order fixed: thread-count independent).
template <class T>
void layer_norm_backward(const T* dy, const T* x, const T* w, const T* mean, const T* rstd, T* dx,
                         T* dw, T* db, const LayerNormShape& s);

// ==== end layer_norm =============================================================================

}  // namespace nnc
