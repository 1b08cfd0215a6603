// The rnn family: Elman RNN (tanh/relu), LSTM and GRU over a whole sequence, one call per layer
// and direction. The input projection of every step is one GEMM; each step then adds one
// product over the packed gates W_hh [G*H, H] in PyTorch's order (LSTM i,f,g,o; GRU r,z,n),
// W_hh packed once a call (tiled_mm.h), and applies the gate nonlinearities, keeping what
// backpropagation through time needs. The LSTM step is fused: product, gate maths and cell
// update from one tile in L1. The weight gradients of every step are one pass at the end.
//
// Layout: x [T, N, I] (time-major), h0/c0 [N, H], w_ih [G*H, I], w_hh [G*H, H], b_ih/b_hh
// [G*H] (both null for bias=False), y [T, N, H] in time order. With `reverse` the steps run
// from t = T-1 down to 0 (the backward direction of a bidirectional layer), so h_n = y[0].
// Null h0/c0 mean zeros. Backward takes the gradient of y (which already holds h_n's) and of
// c_n, and writes nullable gradients dx, dh0, dc0, dw_ih, dw_hh, db_ih, db_hh (overwritten).
// Threading: the recurrence runs on the pool over tiles of batch rows, each chunk taking its
// rows through every step (serial products, no barrier per step); the input projection uses
// gemm()'s threading, the weight gradients chunks of gate rows. Results depend on the inputs
// alone (not on the thread count).
#pragma once
#include <cstdint>

namespace nnc {

struct RnnShape {
  int64_t steps, batch, input_size, hidden_size;
  bool reverse;
};

// h_t = act(x_t W_ih^T + b_ih + h_{t-1} W_hh^T + b_hh), act = tanh or relu; y[t] = h_t.
template <class T>
void rnn_forward(const T* x, const T* h0, const T* w_ih, const T* w_hh, const T* b_ih,
                 const T* b_hh, T* y, bool relu, const RnnShape& s);

// da_t = (dy_t + dh_t) * act'(h_t); dh_{t-1} = da_t W_hh; dW_ih = sum da^T x, dW_hh = sum
// da^T h_{t-1}, db_ih = db_hh = sum da, dx = da W_ih, dh0 = dh_{-1}.
template <class T>
void rnn_backward(const T* dy, const T* x, const T* h0, const T* w_ih, const T* w_hh,
                  const T* y, T* dx, T* dh0, T* dw_ih, T* dw_hh, T* db_ih, T* db_hh, bool relu,
                  const RnnShape& s);

// [i,f,g,o] = [sig, sig, tanh, sig](x_t W_ih^T + b_ih + h_{t-1} W_hh^T + b_hh);
// c_t = f c_{t-1} + i g; h_t = o tanh(c_t). Saves gates [T, N, 4H] (activated) and cells
// [T, N, H] (c_t) for backward; c_n = cells of the last step run.
template <class T>
void lstm_forward(const T* x, const T* h0, const T* c0, const T* w_ih, const T* w_hh,
                  const T* b_ih, const T* b_hh, T* y, T* c_n, T* gates, T* cells,
                  const RnnShape& s);

// Through time: dc_t += dh_t o (1 - tanh^2 c_t); [di, df, dg, do] = [dc g, dc c_{t-1}, dc i,
// dh tanh c_t] times the gate derivatives; dh_{t-1} = da_t W_hh, dc_{t-1} = dc_t f.
template <class T>
void lstm_backward(const T* dy, const T* dc_n, const T* x, const T* h0, const T* c0,
                   const T* w_ih, const T* w_hh, const T* y, const T* gates, const T* cells,
                   T* dx, T* dh0, T* dc0, T* dw_ih, T* dw_hh, T* db_ih, T* db_hh,
                   const RnnShape& s);

// r = sig(x W_ir^T + b_ir + h W_hr^T + b_hr), z likewise, n = tanh(x W_in^T + b_in +
// r (h W_hn^T + b_hn)), h_t = (1 - z) n + z h_{t-1}. Saves gates [T, N, 4H] = (r, z, n,
// h W_hn^T + b_hn) for backward.
template <class T>
void gru_forward(const T* x, const T* h0, const T* w_ih, const T* w_hh, const T* b_ih,
                 const T* b_hh, T* y, T* gates, const RnnShape& s);

// Through time: dn = dh (1 - z), dz = dh (h_{t-1} - n), dh_{t-1} = dh z + [dar, daz, dan r]
// W_hh, with the input side [dar, daz, dan] for dW_ih, db_ih and dx.
template <class T>
void gru_backward(const T* dy, const T* x, const T* h0, const T* w_ih, const T* w_hh,
                  const T* y, const T* gates, T* dx, T* dh0, T* dw_ih, T* dw_hh, T* db_ih,
                  T* db_hh, const RnnShape& s);

}  // namespace nnc
