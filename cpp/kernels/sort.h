// The sort family: top-k selection along the last axis of a row-major [rows, n] array.
// Results follow one total order, so ties come out the same on every run and thread count:
// by value (NaN ranks above +inf, as PyTorch's topk), then by index, the lower index first
// (PyTorch leaves tie order unspecified; this is the order its stable sort gives).
#pragma once
#include <cstdint>

namespace nnc {

struct TopkShape {
  int64_t rows, n, k;  // x: [rows, n], values and indices: [rows, k], 0 <= k <= n
  bool largest;        // the k largest (true) or the k smallest
};

// values[r, :k], indices[r, :k] = the k best of x[r, :], best first (largest: descending).
// Partial selection: when k is small against n, a vectorisable threshold scan feeding the k
// best so far (a sorted array up to k = 16, a heap above); else nth_element then a sort of the
// k. Threading: the pool over rows above the work grain (dynamic chunks of rows).
template <class T>
void topk_forward(const T* x, T* values, int64_t* indices, const TopkShape& s);

// dx[r, :] = 0, then dx[r, indices[r, j]] = dy[r, j] (indices distinct within a row, each in
// [0, n): checked by the caller). Threading: the pool over rows above the work grain.
template <class T>
void topk_backward(const T* dy, const int64_t* indices, T* dx, const TopkShape& s);

}  // namespace nnc
