#include "kernels/rnn.h"

#include <algorithm>
#include <vector>


#include "common/eigen_map.h"
#include "common/lanes.h"
#include "common/parallel.h"
#include "kernels/linear.h"
#include "kernels/tiled_mm.h"

namespace nnc {

namespace {

template <class T>
void sigmoid_inplace(T* p, int64_t n) {
  lanewise(p, p, n, [](const Lanes<T>& v) { return T(1) / (T(1) + (-v).exp()); });
}

template <class T>
void tanh_inplace(T* p, int64_t n) {
  lanewise(p, p, n, [](const Lanes<T>& v) { return lane_tanh<T>(v); });
}

template <class T>
void tanh_into(const T* x, T* y, int64_t n) {
  lanewise(x, y, n, [](const Lanes<T>& v) { return lane_tanh<T>(v); });
}

// NOTE: the sequences of a batch never interact, so each chunk runs the whole recurrence for
// its own block of batch rows: no barrier per step (a per-step parallel GEMM would synchronise
// twice a step, and collapses when the cores are shared). The blocks (whole tiles of rows,
// about 8) depend on the batch size only, at any thread count; chunks are claimed as threads
// come free, and gemm() runs serially inside one.
template <class F>
void over_batch(int64_t batch, int64_t work, const F& f) {
  constexpr int64_t R = tiled::kTileRows;
  const int64_t per = std::max<int64_t>(R, ((batch + 7) / 8 + R - 1) / R * R);
  parallel_blocks(batch, per, batch < 2 ? 0 : work, f);
}

// NOTE: the per-call scratch of a sequence is megabytes; fresh memory every call costs a page
// fault per 4 KiB (measured ~1,500 a call, a sixth of a GRU forward), so each thread keeps its
// buffers between calls. Contents are garbage on entry: callers overwrite before reading.
template <class T>
T* scratch(int slot, int64_t n) {
  thread_local std::vector<T> buffers[3];
  std::vector<T>& v = buffers[slot];
  if (static_cast<int64_t>(v.size()) < n) v.resize(n);
  return v.data();
}

// W_hh packed for the per-step products (slot 2 of the scratch): B = W_hh^T ([H, G*H]) for the
// forward step h_{t-1} W_hh^T, or W_hh itself ([G*H, H]) for the backward step d W_hh.
// NOTE: the steps are [batch / threads, H] x [H, G*H] products; through gemm() Eigen packed
// W_hh again on every step, ~20% of an LSTM's time. tiled::mm_packed reads it packed once a
// call: LSTM forward 10-15% faster, forward+backward ~10%.
template <class T>
tiled::PackedB<T> packed_w_hh(const T* w_hh, int64_t gh, int64_t h, bool transposed) {
  const int64_t k = transposed ? h : gh, n = transposed ? gh : h;
  return tiled::pack(w_hh, k, n, transposed, scratch<T>(2, tiled::PackedB<T>::size(k, n)));
}

// The step run at position i of the recurrence (time order, or reversed).
inline int64_t step_at(const RnnShape& s, int64_t i) { return s.reverse ? s.steps - 1 - i : i; }

// h_{t-1} of step t: y of the step run before it, or h0 (zeros when null) for the first.
template <class T>
const T* prev_state(const RnnShape& s, int64_t t, const T* seq, const T* init) {
  const int64_t nh = s.batch * s.hidden_size;
  if (!s.reverse) return t == 0 ? init : seq + (t - 1) * nh;
  return t == s.steps - 1 ? init : seq + (t + 1) * nh;
}

// out[T*N, G*H] = x W_ih^T + b_ih (+ b_hh): every step's input projection in one GEMM.
template <class T>
void input_projection(const T* x, const T* w_ih, const T* b_ih, const T* b_hh, T* out,
                      int64_t gh, const RnnShape& s) {
  const int64_t rows = s.steps * s.batch;
  if (b_ih) {
    MapArr<T> bias_row(out, gh);
    bias_row = MapConstArr<T>(b_ih, gh);
    if (b_hh) bias_row += MapConstArr<T>(b_hh, gh);
    for (int64_t r = 1; r < rows; ++r) std::copy(out, out + gh, out + r * gh);
  }
  gemm<T>(false, true, rows, gh, s.input_size, x, w_ih, out, b_ih != nullptr);
}

// db[cols] = sum over rows of d[rows, cols], row by row (a fixed order: reproducible bits).
template <class T>
void column_sums(const T* d, int64_t rows, int64_t cols, T* db) {
  MapArr<T> acc(db, cols);
  acc.setZero();
  for (int64_t r = 0; r < rows; ++r) acc += MapConstArr<T>(d + r * cols, cols);
}

// The weight, bias and input gradients shared by every cell, from the pre-activation gate
// gradients of all steps: dxg (input side, [T, N, G*H]) and dhg (hidden side; the same array
// for RNN and LSTM). dW_hh pairs each step with its h_{t-1}: y shifted by one step, plus h0.
template <class T>
void parameter_gradients(const T* dxg, const T* dhg, const T* x, const T* h0, const T* w_ih,
                         const T* y, int64_t gh, T* dx, T* dw_ih, T* dw_hh, T* db_ih, T* db_hh,
                         const RnnShape& s) {
  const int64_t n = s.batch, h = s.hidden_size, rows = s.steps * n;
  if (dx) gemm<T>(false, false, rows, s.input_size, gh, dxg, w_ih, dx, false);
  if (dw_ih) gemm<T>(true, false, gh, s.input_size, rows, dxg, x, dw_ih, false);
  if (dw_hh) {
    const int64_t inner = (s.steps - 1) * n;
    // Forward: steps 1..T-1 pair with y[0..T-2]; reverse: steps 0..T-2 pair with y[1..T-1].
    const T* d_inner = s.reverse ? dhg : dhg + n * gh;
    const T* y_inner = s.reverse ? y + n * h : y;
    gemm<T>(true, false, gh, h, inner, d_inner, y_inner, dw_hh, false);
    if (h0) {
      const T* d_first = dhg + step_at(s, 0) * n * gh;
      gemm<T>(true, false, gh, h, n, d_first, h0, dw_hh, true);
    }
  }
  if (db_ih) column_sums(dxg, rows, gh, db_ih);
  if (db_hh && db_ih && dxg == dhg)
    std::copy(db_ih, db_ih + gh, db_hh);  // RNN and LSTM: both biases enter the same sum
  else if (db_hh)
    column_sums(dhg, rows, gh, db_hh);
}

// One batch row of the LSTM step backward (see lstm_backward); `d` gets the four pre-activation
// gate gradients, `dc` goes from dc_t to dc_{t-1} in place.
// NOTE: a separate function with restrict pointers, so GCC vectorises the loop (it would not
// with eight possibly aliasing pointers).
template <class T>
void lstm_row_backward(int64_t h, const T* __restrict g, const T* __restrict tc,
                       const T* __restrict cp, const T* __restrict dy, const T* __restrict dh_in,
                       T* __restrict dc, T* __restrict d) {
  const T *ig = g, *fg = g + h, *gg = g + 2 * h, *og = g + 3 * h;
  for (int64_t j = 0; j < h; ++j) {
    const T dh = dy[j] + dh_in[j], th = tc[j];
    const T dct = dc[j] + dh * og[j] * (T(1) - th * th);
    d[j] = dct * gg[j] * ig[j] * (T(1) - ig[j]);
    d[h + j] = dct * cp[j] * fg[j] * (T(1) - fg[j]);
    d[2 * h + j] = dct * ig[j] * (T(1) - gg[j] * gg[j]);
    d[3 * h + j] = dh * th * og[j] * (T(1) - og[j]);
    dc[j] = dct * fg[j];
  }
}

// One batch row of the GRU step backward (see gru_backward): input- and hidden-side gate
// gradients, and the direct part dh z of dh_{t-1}.
template <class T>
void gru_row_backward(int64_t h, const T* __restrict g, const T* __restrict hp,
                      const T* __restrict d, T* __restrict dx3, T* __restrict dh3,
                      T* __restrict dh_out) {
  const T *r = g, *z = g + h, *nn = g + 2 * h, *hn = g + 3 * h;
  for (int64_t j = 0; j < h; ++j) {
    const T dan = d[j] * (T(1) - z[j]) * (T(1) - nn[j] * nn[j]);
    const T dar = dan * hn[j] * r[j] * (T(1) - r[j]);
    const T daz = d[j] * (hp[j] - nn[j]) * z[j] * (T(1) - z[j]);
    dx3[j] = dar;
    dh3[j] = dar;
    dx3[h + j] = daz;
    dh3[h + j] = daz;
    dx3[2 * h + j] = dan;
    dh3[2 * h + j] = dan * r[j];
    dh_out[j] = d[j] * z[j];
  }
}

}  // namespace

// ---- Elman RNN ------------------------------------------------------------------------------

template <class T>
void rnn_forward(const T* x, const T* h0, const T* w_ih, const T* w_hh, const T* b_ih,
                 const T* b_hh, T* y, bool relu, const RnnShape& s) {
  const int64_t n = s.batch, h = s.hidden_size, nh = n * h;
  std::vector<T> zeros(h0 ? 0 : nh, T(0));
  const T* init = h0 ? h0 : zeros.data();
  input_projection(x, w_ih, b_ih, b_hh, y, h, s);
  const tiled::PackedB<T> whh_t = packed_w_hh(w_hh, h, h, true);
  over_batch(n, s.steps * n * h * h, [&](int64_t b0, int64_t b1) {
      const int64_t m = (b1 - b0) * h;
      for (int64_t i = 0; i < s.steps; ++i) {
        const int64_t t = step_at(s, i);
        T* yt = y + t * nh + b0 * h;
        tiled::mm_packed(b1 - b0, prev_state(s, t, y, init) + b0 * h, h, whh_t, yt, h, true);
        if (relu) {
          for (int64_t k = 0; k < m; ++k) yt[k] = yt[k] < T(0) ? T(0) : yt[k];
        } else {
          tanh_inplace(yt, m);
        }
      }
  });
}

template <class T>
void rnn_backward(const T* dy, const T* x, const T* h0, const T* w_ih, const T* w_hh,
                  const T* y, T* dx, T* dh0, T* dw_ih, T* dw_hh, T* db_ih, T* db_hh, bool relu,
                  const RnnShape& s) {
  const int64_t n = s.batch, h = s.hidden_size, nh = n * h;
  T* da = scratch<T>(0, s.steps * nh);
  std::vector<T> dh_next(nh, T(0));
  const tiled::PackedB<T> whh = packed_w_hh(w_hh, h, h, false);
  over_batch(n, s.steps * n * h * h, [&](int64_t b0, int64_t b1) {
      const int64_t off = b0 * h, m = (b1 - b0) * h;
      T* dhn = dh_next.data() + off;
      for (int64_t i = s.steps - 1; i >= 0; --i) {
        const int64_t t = step_at(s, i);
        const T *dyt = dy + t * nh + off, *yt = y + t * nh + off;
        T* dat = da + t * nh + off;
        for (int64_t k = 0; k < m; ++k) {
          const T g = dyt[k] + dhn[k];
          dat[k] = relu ? (yt[k] > T(0) ? g : T(0)) : g * (T(1) - yt[k] * yt[k]);
        }
        if (i > 0 || dh0) tiled::mm_packed(b1 - b0, dat, h, whh, dhn, h, false);
      }
  });
  if (dh0) std::copy(dh_next.begin(), dh_next.end(), dh0);
  parameter_gradients(da, da, x, h0, w_ih, y, h, dx, dw_ih, dw_hh, db_ih, db_hh, s);
}

// ---- LSTM -----------------------------------------------------------------------------------

template <class T>
void lstm_forward(const T* x, const T* h0, const T* c0, const T* w_ih, const T* w_hh,
                  const T* b_ih, const T* b_hh, T* y, T* c_n, T* gates, T* cells,
                  const RnnShape& s) {
  const int64_t n = s.batch, h = s.hidden_size, nh = n * h, g4 = 4 * h;
  std::vector<T> zeros(h0 && c0 ? 0 : nh, T(0));
  const T* hinit = h0 ? h0 : zeros.data();
  const T* cinit = c0 ? c0 : zeros.data();
  input_projection(x, w_ih, b_ih, b_hh, gates, g4, s);
  const tiled::PackedB<T> whh_t = packed_w_hh(w_hh, g4, h, true);
  over_batch(n, s.steps * n * g4 * h, [&](int64_t b0, int64_t b1) {
    for (int64_t i = 0; i < s.steps; ++i) {
      const int64_t t = step_at(s, i);
      T* gt = gates + t * n * g4;
      tiled::mm_packed(b1 - b0, prev_state(s, t, y, hinit) + b0 * h, h, whh_t, gt + b0 * g4, g4,
                       true);
      const T* cprev = prev_state(s, t, static_cast<const T*>(cells), cinit);
      for (int64_t b = b0; b < b1; ++b) {
        T* g = gt + b * g4;
        sigmoid_inplace(g, 2 * h);
        tanh_inplace(g + 2 * h, h);
        sigmoid_inplace(g + 3 * h, h);
        const T *ig = g, *fg = g + h, *gg = g + 2 * h, *og = g + 3 * h, *cp = cprev + b * h;
        T* c = cells + t * nh + b * h;
        T* hy = y + t * nh + b * h;
        for (int64_t j = 0; j < h; ++j) c[j] = fg[j] * cp[j] + ig[j] * gg[j];
        tanh_into(c, hy, h);
        for (int64_t j = 0; j < h; ++j) hy[j] *= og[j];
      }
    }
  });
  if (c_n) {
    const T* last = cells + step_at(s, s.steps - 1) * nh;
    std::copy(last, last + nh, c_n);
  }
}

template <class T>
void lstm_backward(const T* dy, const T* dc_n, const T* x, const T* h0, const T* c0,
                   const T* w_ih, const T* w_hh, const T* y, const T* gates, const T* cells,
                   T* dx, T* dh0, T* dc0, T* dw_ih, T* dw_hh, T* db_ih, T* db_hh,
                   const RnnShape& s) {
  const int64_t n = s.batch, h = s.hidden_size, nh = n * h, g4 = 4 * h;
  T* da = scratch<T>(0, s.steps * n * g4);
  std::vector<T> dh_next(nh, T(0)), dc_next(nh, T(0));
  std::vector<T> zeros(c0 ? 0 : nh, T(0));
  const T* cinit = c0 ? c0 : zeros.data();
  if (dc_n) std::copy(dc_n, dc_n + nh, dc_next.begin());
  const tiled::PackedB<T> whh = packed_w_hh(w_hh, g4, h, false);
  over_batch(n, s.steps * n * g4 * h, [&](int64_t b0, int64_t b1) {
    std::vector<T> tc(h);
    for (int64_t i = s.steps - 1; i >= 0; --i) {
      const int64_t t = step_at(s, i);
      const T* cprev = prev_state(s, t, cells, cinit);
      for (int64_t b = b0; b < b1; ++b) {
        tanh_into(cells + t * nh + b * h, tc.data(), h);
        lstm_row_backward(h, gates + (t * n + b) * g4, tc.data(), cprev + b * h,
                          dy + t * nh + b * h, dh_next.data() + b * h, dc_next.data() + b * h,
                          da + (t * n + b) * g4);
      }
      if (i > 0 || dh0)
        tiled::mm_packed(b1 - b0, da + (t * n + b0) * g4, g4, whh, dh_next.data() + b0 * h, h,
                         false);
    }
  });
  if (dh0) std::copy(dh_next.begin(), dh_next.end(), dh0);
  if (dc0) std::copy(dc_next.begin(), dc_next.end(), dc0);
  parameter_gradients(da, da, x, h0, w_ih, y, g4, dx, dw_ih, dw_hh, db_ih, db_hh,
                      s);
}

// ---- GRU ------------------------------------------------------------------------------------

template <class T>
void gru_forward(const T* x, const T* h0, const T* w_ih, const T* w_hh, const T* b_ih,
                 const T* b_hh, T* y, T* gates, const RnnShape& s) {
  const int64_t n = s.batch, h = s.hidden_size, nh = n * h, g3 = 3 * h, g4 = 4 * h;
  std::vector<T> zeros(h0 ? 0 : nh, T(0)), hg(n * g3);
  const T* init = h0 ? h0 : zeros.data();
  T* xg = scratch<T>(0, s.steps * n * g3);
  input_projection(x, w_ih, b_ih, static_cast<const T*>(nullptr), xg, g3, s);
  const tiled::PackedB<T> whh_t = packed_w_hh(w_hh, g3, h, true);
  over_batch(n, s.steps * n * g3 * h, [&](int64_t b0, int64_t b1) {
    for (int64_t i = 0; i < s.steps; ++i) {
      const int64_t t = step_at(s, i);
      const T* hp_all = prev_state(s, t, static_cast<const T*>(y), init);
      if (b_hh)
        for (int64_t b = b0; b < b1; ++b) std::copy(b_hh, b_hh + g3, hg.data() + b * g3);
      tiled::mm_packed(b1 - b0, hp_all + b0 * h, h, whh_t, hg.data() + b0 * g3, g3,
                       b_hh != nullptr);
      for (int64_t b = b0; b < b1; ++b) {
        const T *xr = xg + (t * n + b) * g3, *hr = hg.data() + b * g3;
        const T* hp = hp_all + b * h;
        T* g = gates + (t * n + b) * g4;
        T *r = g, *z = g + h, *nn = g + 2 * h, *hn = g + 3 * h;
        for (int64_t j = 0; j < 2 * h; ++j) r[j] = xr[j] + hr[j];
        sigmoid_inplace(r, 2 * h);
        for (int64_t j = 0; j < h; ++j) {
          hn[j] = hr[2 * h + j];
          nn[j] = xr[2 * h + j] + r[j] * hn[j];
        }
        tanh_inplace(nn, h);
        T* hy = y + t * nh + b * h;
        // NOTE: PyTorch's form, n + z (h - n), so float32 results round as its do.
        for (int64_t j = 0; j < h; ++j) hy[j] = nn[j] + z[j] * (hp[j] - nn[j]);
      }
    }
  });
}

template <class T>
void gru_backward(const T* dy, const T* x, const T* h0, const T* w_ih, const T* w_hh,
                  const T* y, const T* gates, T* dx, T* dh0, T* dw_ih, T* dw_hh, T* db_ih,
                  T* db_hh, const RnnShape& s) {
  const int64_t n = s.batch, h = s.hidden_size, nh = n * h, g3 = 3 * h, g4 = 4 * h;
  T* dxg = scratch<T>(0, s.steps * n * g3);
  T* dhg = scratch<T>(1, s.steps * n * g3);
  std::vector<T> dh_next(nh, T(0)), dh(nh);
  std::vector<T> zeros(h0 ? 0 : nh, T(0));
  const T* init = h0 ? h0 : zeros.data();
  const tiled::PackedB<T> whh = packed_w_hh(w_hh, g3, h, false);
  over_batch(n, s.steps * n * g3 * h, [&](int64_t b0, int64_t b1) {
    for (int64_t i = s.steps - 1; i >= 0; --i) {
      const int64_t t = step_at(s, i);
      const T* hp_all = prev_state(s, t, y, init);
      for (int64_t k = b0 * h; k < b1 * h; ++k) dh[k] = dy[t * nh + k] + dh_next[k];
      for (int64_t b = b0; b < b1; ++b)
        gru_row_backward(h, gates + (t * n + b) * g4, hp_all + b * h, dh.data() + b * h,
                         dxg + (t * n + b) * g3, dhg + (t * n + b) * g3,
                         dh_next.data() + b * h);
      if (i > 0 || dh0)
        tiled::mm_packed(b1 - b0, dhg + (t * n + b0) * g3, g3, whh, dh_next.data() + b0 * h, h,
                         true);
    }
  });
  if (dh0) std::copy(dh_next.begin(), dh_next.end(), dh0);
  parameter_gradients(dxg, dhg, x, h0, w_ih, y, g3, dx, dw_ih, dw_hh, db_ih,
                      db_hh, s);
}

#define NNC_INSTANTIATE(T)                                                                     \
  template void rnn_forward<T>(const T*, const T*, const T*, const T*, const T*, const T*, T*, \
                               bool, const RnnShape&);                                         \
  template void rnn_backward<T>(const T*, const T*, const T*, const T*, const T*, const T*,    \
                                T*, T*, T*, T*, T*, T*, bool, const RnnShape&);                \
  template void lstm_forward<T>(const T*, const T*, const T*, const T*, const T*, const T*,    \
                                const T*, T*, T*, T*, T*, const RnnShape&);                    \
  template void lstm_backward<T>(const T*, const T*, const T*, const T*, const T*, const T*,   \
                                 const T*, const T*, const T*, const T*, T*, T*, T*, T*, T*,   \
                                 T*, T*, const RnnShape&);                                     \
  template void gru_forward<T>(const T*, const T*, const T*, const T*, const T*, const T*, T*, \
                               T*, const RnnShape&);                                           \
  template void gru_backward<T>(const T*, const T*, const T*, const T*, const T*, const T*,    \
                                const T*, T*, T*, T*, T*, T*, T*, const RnnShape&);
NNC_INSTANTIATE(float)
NNC_INSTANTIATE(double)
#undef NNC_INSTANTIATE

}  // namespace nnc
