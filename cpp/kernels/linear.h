// The linear family: GEMM, (batched) matmul, linear layer. Every dense product in nncore goes
// through gemm() here, so Eigen's product code is compiled once (design.md: build time); tall
// products with A untransposed (a linear layer's forward and input gradient over many rows) run
// a tiled GEMM of our own (tiled_mm.h), measured faster there (see use_tiled in linear.cpp).
#pragma once
#include <cstdint>

namespace nnc {

// C[m,n] (+)= op(A) @ op(B); op(A) is [m,k] (A stored [k,m] when trans_a), op(B) is [k,n].
// Threading: chunks of C's rows or columns (fixed by the shape, so the bits do not depend on the
// thread count) on the pool; serial inside another parallel_for.
template <class T>
void gemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, const T* a, const T* b,
          T* c, bool accumulate);

struct MatmulShape {
  int64_t batch, m, k, n;  // a: [batch, m, k], b: [batch, k, n], y: [batch, m, n]
};

// y[i] = a[i] @ b[i]. Threading: over the batch when it is large, else gemm()'s.
template <class T>
void matmul_forward(const T* a, const T* b, T* y, const MatmulShape& s);

// da[i] = dy[i] @ b[i]^T, db[i] = a[i]^T @ dy[i]; null outputs are skipped.
template <class T>
void matmul_backward(const T* dy, const T* a, const T* b, T* da, T* db, const MatmulShape& s);

struct LinearShape {
  int64_t rows, in_features, out_features;  // x: [rows, in], w: [out, in], b: [out]
};

// y[rows,out] = x @ w^T + b (the bias starts the GEMM's sums). Threading: gemm()'s.
template <class T>
void linear_forward(const T* x, const T* w, const T* b, T* y, const LinearShape& s);

// dx = dy @ w, dw = dy^T @ x, db = sum_rows(dy); null outputs are skipped.
template <class T>
void linear_backward(const T* dy, const T* x, const T* w, T* dx, T* dw, T* db,
                     const LinearShape& s);

// y = relu(x @ w^T + b): linear_forward with the ReLU applied as the tiled GEMM stores y (or in
// place after it, on Eigen's path) (PyTorch's feed-forward block; one array less than linear
// then relu). Threading: gemm()'s, then the pool over rows above the work threshold.
template <class T>
void linear_relu_forward(const T* x, const T* w, const T* b, T* y, const LinearShape& s);

// dz = dy * (y > 0) into the caller's workspace dz [rows, out], then linear_backward from dz;
// y is the forward's output. Null outputs are skipped.
template <class T>
void linear_relu_backward(const T* dy, const T* y, const T* x, const T* w, T* dz, T* dx, T* dw,
                          T* db, const LinearShape& s);

}  // namespace nnc
