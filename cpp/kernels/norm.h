// The norm family: normalisation layers over row-major arrays.
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
// Threading: OpenMP over channels; each channel sums in a fixed order.
template <class T>
void batch_norm_forward(const T* x, const T* w, const T* b, T* running_mean, T* running_var,
                        T* y, T* save_mean, T* save_invstd, const BatchNormShape& s,
                        bool training, double momentum, double eps);

// db = sum dy, dw = sum dy * xhat (xhat = (x - mean) * invstd), dx = w * invstd * (dy - db / M -
// xhat * dw / M) in training (M = n * l), w * invstd * dy in eval; null outputs skipped.
// Threading: OpenMP over channels.
template <class T>
void batch_norm_backward(const T* dy, const T* x, const T* w, const T* save_mean,
                         const T* save_invstd, T* dx, T* dw, T* db, const BatchNormShape& s,
                         bool training);

// ==== end batch_norm ===========================================================================

}  // namespace nnc
