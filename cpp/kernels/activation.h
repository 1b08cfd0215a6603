// The activation family: elementwise nonlinearities, softmax/log-softmax over the last axis, and
// dropout with a counter-based RNG (the mask is a pure function of seed and element index, so
// backward regenerates it instead of storing it, and it does not depend on the thread count).
#pragma once
#include <cstdint>

namespace nnc {

// y = max(x, 0). Threading: the pool over elements above the work threshold.
template <class T>
void relu_forward(const T* x, T* y, int64_t n);

// dx = dy * (x > 0). Threading: the pool over elements above the work threshold.
template <class T>
void relu_backward(const T* dy, const T* x, T* dx, int64_t n);

// y = x > 0 ? x : slope * x. Threading: the pool over elements above the work threshold.
template <class T>
void leaky_relu_forward(const T* x, T* y, int64_t n, T negative_slope);

// dx = dy * (x > 0 ? 1 : slope). Threading: the pool over elements above the work threshold.
template <class T>
void leaky_relu_backward(const T* dy, const T* x, T* dx, int64_t n, T negative_slope);

// y = 1 / (1 + exp(-x)). Threading: the pool over elements above the work threshold.
template <class T>
void sigmoid_forward(const T* x, T* y, int64_t n);

// dx = dy * y * (1 - y), from the saved output y. Threading: the pool over elements.
template <class T>
void sigmoid_backward(const T* dy, const T* y, T* dx, int64_t n);

// y = tanh(x). Threading: the pool over elements above the work threshold.
template <class T>
void tanh_forward(const T* x, T* y, int64_t n);

// dx = dy * (1 - y^2), from the saved output y. Threading: the pool over elements.
template <class T>
void tanh_backward(const T* dy, const T* y, T* dx, int64_t n);

// y = x * Phi(x) (exact, erf), or 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))) when
// tanh_approx. Threading: the pool over elements above the work threshold.
template <class T>
void gelu_forward(const T* x, T* y, int64_t n, bool tanh_approx);

// dx = dy * d gelu(x)/dx (Phi(x) + x phi(x) when exact). Threading: the pool over elements.
template <class T>
void gelu_backward(const T* dy, const T* x, T* dx, int64_t n, bool tanh_approx);

// y = x where beta * x > threshold, else log(1 + exp(beta * x)) / beta (PyTorch's softplus).
// Threading: OpenMP over elements above the work threshold.
template <class T>
void softplus_forward(const T* x, T* y, int64_t n, double beta, double threshold);

// dx = dy where beta * x > threshold, else dy * sigmoid(beta * x). Threading: OpenMP over
// elements above the work threshold.
template <class T>
void softplus_backward(const T* dy, const T* x, T* dx, int64_t n, double beta, double threshold);

struct SoftmaxShape {
  int64_t rows, cols;  // x, y: [rows, cols]; the softmax runs over cols
};

// y[r,:] = exp(x[r,:] - max) / sum(exp(x[r,:] - max)). Threading: the pool over rows.
template <class T>
void softmax_forward(const T* x, T* y, const SoftmaxShape& s);

// dx[r,:] = y[r,:] * (dy[r,:] - sum(dy[r,:] * y[r,:])), from the saved output y.
// Threading: the pool over rows.
template <class T>
void softmax_backward(const T* dy, const T* y, T* dx, const SoftmaxShape& s);

// y[r,:] = x[r,:] - max - log(sum(exp(x[r,:] - max))). Threading: the pool over rows.
template <class T>
void log_softmax_forward(const T* x, T* y, const SoftmaxShape& s);

// dx[r,:] = dy[r,:] - exp(y[r,:]) * sum(dy[r,:]), from the saved output y.
// Threading: the pool over rows.
template <class T>
void log_softmax_backward(const T* dy, const T* y, T* dx, const SoftmaxShape& s);

// keep(seed, i): u = the top 53 bits of splitmix64 output number i of the stream seeded with
// seed, as a double in [0, 1); element i is kept when u >= p.
// y = x * keep(seed, i) / (1 - p), p in [0, 1] (p = 1: y = x * 0). Threading: the pool over
// elements above the work threshold.
template <class T>
void dropout_forward(const T* x, T* y, int64_t n, double p, uint64_t seed);

// dx = dy * keep(seed, i) / (1 - p) (the forward's mask, regenerated from the seed).
// Threading: the pool over elements above the work threshold.
template <class T>
void dropout_backward(const T* dy, T* dx, int64_t n, double p, uint64_t seed);

}  // namespace nnc
