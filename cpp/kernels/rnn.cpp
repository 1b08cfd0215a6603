#include "kernels/rnn.h"

#include <algorithm>
#include <type_traits>
#include <vector>

#include "common/eigen_map.h"
#include "common/lanes.h"
#include "common/parallel.h"
#include "common/simd.h"
#include "kernels/linear.h"
#include "kernels/rnn_weight_grad.h"
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

// The input and parameter gradients shared by every cell, from the pre-activation gate
// gradients of all steps: dxg (input side, [T, N, G*H]) and dhg (hidden side; the same array
// for RNN and LSTM). dx = dxg W_ih through gemm(); the rest in rnn_weight_grad.cpp.
template <class T>
void parameter_gradients(const T* dxg, const T* dhg, const T* x, const T* h0, const T* w_ih,
                         const T* y, int64_t gh, T* dx, T* dw_ih, T* dw_hh, T* db_ih, T* db_hh,
                         const RnnShape& s) {
  if (dx) gemm<T>(false, false, s.steps * s.batch, s.input_size, gh, dxg, w_ih, dx, false);
  rnn_weight_gradients(dxg, dhg, x, h0, y, gh, dw_ih, dw_hh, db_ih, db_hh, s);
}

// ---- fused steps ----
// NOTE: the LSTM step runs fused: for a tile of up to 6 batch rows and a block of kUnits hidden
// units, the recurrent product leaves all four gates' pre-activations in a scratch tile in L1
// (started from the input projection), and the gate maths, the cell update and the outputs
// follow straight from it; no gate array is written by the product and read back by a second
// pass. The product streams W_hh^T packed with the gates of each unit block side by side.
constexpr int64_t kUnits = kLanes;

// Columns of the gate-block layout for G gates: block b holds gate q of hidden unit b * kUnits
// + l at column (b * G + q) * kUnits + l (zero beyond H).
inline int64_t gate_block_cols(int64_t h, int gates) {
  return (h + kUnits - 1) / kUnits * gates * kUnits;
}

// B = W_hh^T ([H, G*H]) packed in strips of NP packets over the gate-block columns.
template <class T, int NP>
tiled::PackedB<T, NP> pack_gate_blocks(const T* w_hh, int64_t h, int gates, T* storage) {
  using PB = tiled::PackedB<T, NP>;
  constexpr int64_t W = PB::kWidth;
  const int64_t n = gate_block_cols(h, gates);
  for (int64_t s = 0; s < PB::strips(n); ++s) {
    T* dst = storage + s * h * W;
    for (int64_t j = 0; j < W; ++j) {
      const int64_t v = s * W + j, unit = v / (gates * kUnits) * kUnits + v % kUnits;
      const int64_t q = v / kUnits % gates;
      if (unit >= h) {
        for (int64_t p = 0; p < h; ++p) dst[p * W + j] = T(0);
        continue;
      }
      int64_t p = 0;
      if constexpr (std::is_same_v<T, float> && simd::kVector) {
        // Whole groups of F consecutive W_hh rows through in-register transposes.
        constexpr int64_t F = simd::kFloats;
        if (j % F == 0 && v % kUnits + F <= kUnits && unit + F <= h && j + F <= W) {
          for (; p + F <= h; p += F)
            simd::transpose_tile(w_hh + (q * h + unit) * h + p, h, dst + p * W + j, W);
          for (int64_t jj = 0; jj < F; ++jj)
            for (int64_t pp = p; pp < h; ++pp)
              dst[pp * W + j + jj] = w_hh[(q * h + unit + jj) * h + pp];
          j += F - 1;
          continue;
        }
      }
      for (; p < h; ++p) dst[p * W + j] = w_hh[(q * h + unit) * h + p];
    }
  }
  return {storage, h, n};
}

// kUnits lanes from p (u of them, the rest zero), and back.
template <class T>
Lanes<T> load_lanes(const T* p, int64_t u) {
  if (u == kUnits) return Eigen::Map<const Lanes<T>>(p);
  Lanes<T> v = Lanes<T>::Zero();
  v.head(u) = MapConstArr<T>(p, u);
  return v;
}

template <class T>
void store_lanes(const Lanes<T>& v, T* p, int64_t u) {
  if (u == kUnits)
    Eigen::Map<Lanes<T>>{p} = v;
  else
    MapArr<T>(p, u) = v.head(u);
}

template <class T>
Lanes<T> lane_sigmoid(const Lanes<T>& v) {
  return T(1) / (T(1) + (-v).exp());
}

// Asks for `bytes` from p on into L2 (not L1: the step's own tile is there).
// NOTE: the input projection of all steps (3.2 MB for T50 N32 H128) is out of cache by the time
// a step reads its rows, four short runs a row that the hardware prefetcher does not follow:
// without this, loading them stalled the fused LSTM step for ~40% of its time.
inline void prefetch_l2(const void* p, int64_t bytes) {
  const char* c = static_cast<const char*>(p);
  for (int64_t i = 0; i < bytes; i += 64) __builtin_prefetch(c + i, 1, 1);
}

// One LSTM step for `rows` (<= kTileRows) batch rows: g [rows, 4H] holds the input projection
// on entry and the activated gates (i, f, g, o) on exit; hp, cp: h_{t-1} (null: zeros, the
// product skipped), c_{t-1}; c, y: c_t, h_t (all rows H apart). g_next: the same rows of the step run next (null after the last),
// fetched meanwhile.
template <class T, int NP>
void lstm_step_rows(int64_t rows, int64_t h, const T* hp, const T* cp,
                    const tiled::PackedB<T, NP>& w, T* g, T* c, T* y, const T* g_next) {
  using PB = tiled::PackedB<T, NP>;
  constexpr int64_t GB = 4 * kUnits, W = PB::kWidth, per_block = GB / W;
  static_assert(GB % W == 0, "a gate block is whole strips");
  alignas(64) T tmp[tiled::kTileRows * GB];
  for (int64_t b = 0; b * kUnits < h; ++b) {
    const int64_t j0 = b * kUnits, u = std::min(kUnits, h - j0);
    if (g_next)
      for (int64_t r = 0; r < rows; ++r)
        for (int q = 0; q < 4; ++q) prefetch_l2(g_next + r * 4 * h + q * h + j0, u * sizeof(T));
    for (int64_t r = 0; r < rows; ++r)
      for (int q = 0; q < 4; ++q)
        Eigen::Map<Lanes<T>>{tmp + r * GB + q * kUnits} = load_lanes(g + r * 4 * h + q * h + j0, u);
    for (int64_t s = 0; hp && s < per_block; ++s)
      tiled::tile_rows<T, NP>(rows, h, hp, h, 1, w.strip_at(b * per_block + s), W, tmp + s * W,
                              GB, true);
    for (int64_t r = 0; r < rows; ++r) {
      const T* t = tmp + r * GB;
      const Lanes<T> ig = lane_sigmoid<T>(Eigen::Map<const Lanes<T>>(t));
      const Lanes<T> fg = lane_sigmoid<T>(Eigen::Map<const Lanes<T>>(t + kUnits));
      const Lanes<T> gg = lane_tanh<T>(Eigen::Map<const Lanes<T>>(t + 2 * kUnits));
      const Lanes<T> og = lane_sigmoid<T>(Eigen::Map<const Lanes<T>>(t + 3 * kUnits));
      const Lanes<T> cn = fg * load_lanes(cp + r * h + j0, u) + ig * gg;
      const Lanes<T> hn = og * lane_tanh<T>(cn);
      T* gr = g + r * 4 * h + j0;
      store_lanes(ig, gr, u);
      store_lanes(fg, gr + h, u);
      store_lanes(gg, gr + 2 * h, u);
      store_lanes(og, gr + 3 * h, u);
      store_lanes(cn, c + r * h + j0, u);
      store_lanes(hn, y + r * h + j0, u);
    }
  }
}

// Calls f(r0, r1) for each chunk of batch rows of the recurrence, each chunk taking its rows
// through every step (whole sequences never interact: no barrier per step). Chunks are tiles of
// near-equal size (32 rows: 6, 6, 5, 5, 5, 5), claimed as threads come free. Results do not
// depend on the split: a row's sums never involve other rows.
// NOTE: not one chunk per thread: a worker asleep between two Python calls (its wake-up takes
// up to milliseconds on a VM) then left the caller both halves, and the LSTM backward at 2
// threads ran at 1 thread's speed whenever it came after a pause; with tiles, a late worker
// still takes the tiles left.
template <class F>
void over_rows(int64_t batch, int64_t work, const F& f) {
  const int64_t tiles = (batch + tiled::kTileRows - 1) / tiled::kTileRows;
  parallel_for_work(tiles, work, [&](int64_t i, int) {
    f(batch * i / tiles, batch * (i + 1) / tiles);
  });
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
  over_rows(n, s.steps * n * h * h, [&](int64_t b0, int64_t b1) {
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
  over_rows(n, s.steps * n * h * h, [&](int64_t b0, int64_t b1) {
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
// NOTE: where an LSTM's time goes (T50 N32 I64 H128, float, AVX-512 module, 1 thread, steady
// clock per phase): input projection 1.1 ms, forward steps 2.5, backward steps 2.4, weight
// gradients 3.3 (of which packing dG^T 0.26 and the bias sums 0.09). perf puts ~75% of the
// samples in the register tiles, spread evenly over their FMAs; the products' 838 MFLOP alone
// take 7.2 ms at the measured 117 GFLOP/s peak, so the gate maths, the packing and the memory
// traffic are what is left to win (~2 ms). Tried without gain: the input projection inside the
// step (one product over [x_t | h_{t-1}]), 8-row tiles, kGradKc 256, an L1 prefetch of the next
// unit block's gates, and (in place of the exp) a linear stand-in for the sigmoid: the forward
// did not get faster, so the gate maths hide behind the products.

template <class T>
void lstm_forward(const T* x, const T* h0, const T* c0, const T* w_ih, const T* w_hh,
                  const T* b_ih, const T* b_hh, T* y, T* c_n, T* gates, T* cells,
                  const RnnShape& s) {
  constexpr int NP = tiled::kWide;
  const int64_t n = s.batch, h = s.hidden_size, nh = n * h, g4 = 4 * h;
  std::vector<T> zeros(c0 ? 0 : nh, T(0)), bias(b_ih ? g4 : 0);
  const T* cinit = c0 ? c0 : zeros.data();
  for (int64_t j = 0; b_ih && j < g4; ++j) bias[j] = b_ih[j] + b_hh[j];
  // Every step's input projection, biases included, in one GEMM (they start its sums).
  linear_forward(x, w_ih, b_ih ? bias.data() : nullptr, gates,
                 LinearShape{s.steps * n, s.input_size, g4});
  const int64_t cols = gate_block_cols(h, 4);
  const tiled::PackedB<T, NP> w = pack_gate_blocks<T, NP>(
      w_hh, h, 4, scratch<T>(2, tiled::PackedB<T, NP>::size(h, cols)));
  over_rows(n, s.steps * n * g4 * h, [&](int64_t b0, int64_t b1) {
    for (int64_t i = 0; i < s.steps; ++i) {
      const int64_t t = step_at(s, i);
      // h_{t-1}: null for the first step without h0 (zeros: its product is skipped).
      const T* hp = i == 0 && !h0 ? nullptr : prev_state(s, t, static_cast<const T*>(y), h0);
      const T* cp = prev_state(s, t, static_cast<const T*>(cells), cinit);
      const T* next = i + 1 < s.steps ? gates + step_at(s, i + 1) * n * g4 : nullptr;
      tiled::balanced_tiles(b1 - b0, [&](int64_t r, int64_t rows) {
        const int64_t b = b0 + r;
        lstm_step_rows(rows, h, hp ? hp + b * h : hp, cp + b * h, w, gates + (t * n + b) * g4,
                       cells + t * nh + b * h, y + t * nh + b * h, next ? next + b * g4 : next);
      });
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
  constexpr int NP = tiled::kWide;
  const int64_t n = s.batch, h = s.hidden_size, nh = n * h, g4 = 4 * h;
  T* da = scratch<T>(0, s.steps * n * g4);
  std::vector<T> dh_next(nh, T(0)), dc_next(nh, T(0));
  std::vector<T> zeros(c0 ? 0 : nh, T(0));
  const T* cinit = c0 ? c0 : zeros.data();
  if (dc_n) std::copy(dc_n, dc_n + nh, dc_next.begin());
  const tiled::PackedB<T, NP> whh =
      tiled::pack<T, NP>(w_hh, g4, h, false, scratch<T>(2, tiled::PackedB<T, NP>::size(g4, h)));
  over_rows(n, s.steps * n * g4 * h, [&](int64_t b0, int64_t b1) {
    std::vector<T> tc(h);
    for (int64_t i = s.steps - 1; i >= 0; --i) {
      const int64_t t = step_at(s, i);
      const T* cprev = prev_state(s, t, cells, cinit);
      // A tile's gate gradients go through the product while they are in L1.
      const int64_t tn = i > 0 ? step_at(s, i - 1) : -1;  // the step run next
      tiled::balanced_tiles(b1 - b0, [&](int64_t r, int64_t rows) {
        for (int64_t b = b0 + r; b < b0 + r + rows; ++b) {
          if (tn >= 0) {
            prefetch_l2(gates + (tn * n + b) * g4, g4 * sizeof(T));
            prefetch_l2(cells + tn * nh + b * h, h * sizeof(T));
            prefetch_l2(dy + tn * nh + b * h, h * sizeof(T));
          }
          tanh_into(cells + t * nh + b * h, tc.data(), h);
          lstm_row_backward(h, gates + (t * n + b) * g4, tc.data(), cprev + b * h,
                            dy + t * nh + b * h, dh_next.data() + b * h, dc_next.data() + b * h,
                            da + (t * n + b) * g4);
        }
        if (i > 0 || dh0)
          tiled::mm_packed(rows, da + (t * n + b0 + r) * g4, g4, whh,
                           dh_next.data() + (b0 + r) * h, h, false);
      });
    }
  });
  if (dh0) std::copy(dh_next.begin(), dh_next.end(), dh0);
  if (dc0) std::copy(dc_next.begin(), dc_next.end(), dc0);
  parameter_gradients(da, da, x, h0, w_ih, y, g4, dx, dw_ih, dw_hh, db_ih, db_hh, s);
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
  over_rows(n, s.steps * n * g3 * h, [&](int64_t b0, int64_t b1) {
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
  over_rows(n, s.steps * n * g3 * h, [&](int64_t b0, int64_t b1) {
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
