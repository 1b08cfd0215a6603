// The weight and bias gradients of the rnn family, shared by RNN, LSTM and GRU: one pass over
// the pre-activation gate gradients of every step, after backpropagation through time.
#pragma once
#include <cstdint>

#include "kernels/rnn.h"

namespace nnc {

// dW_ih = dxg^T x, dW_hh = dhg^T h_prev, db_ih = sum_rows dxg, db_hh = sum_rows dhg (null
// outputs skipped); dxg, dhg [T*N, gh] (the same array for RNN and LSTM), h_prev of each row its
// step's previous state: y shifted by one step in the order the steps ran, h0 (null: zeros) for
// the first. Threading: chunks of features and column blocks of the sums on the pool; each
// element sums its rows in order, so the bits do not depend on the thread count.
template <class T>
void rnn_weight_gradients(const T* dxg, const T* dhg, const T* x, const T* h0, const T* y,
                          int64_t gh, T* dw_ih, T* dw_hh, T* db_ih, T* db_hh, const RnnShape& s);

}  // namespace nnc
