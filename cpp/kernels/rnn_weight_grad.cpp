// The weight and bias gradients of the rnn family (see rnn_weight_grad.h): one pass over every
// step's gate gradients after backpropagation through time, dW = dG^T @ [x | h_prev] summed over
// the T*N rows of dG in blocks of kGradKc, dG^T packed a block at a time, the tiles' B rows of x
// and h_prev read in place.
// NOTE: measured against the transposed form dW^T = [x | h_prev]^T @ dG (the small feature side
// packed, dG read in place or packed as B; one pass over dG): 3.8 ms against this form's 3.4 at
// 1 thread for an LSTM at T50 N32 I64 H128, so dG^T is packed here.
#include "kernels/rnn_weight_grad.h"

#include <algorithm>
#include <vector>

#include "common/parallel.h"
#include "kernels/tiled_mm.h"

namespace nnc {

namespace {

// The packed panels of dG^T, kept between calls (a call's are ~0.5 MB; fresh memory costs page
// faults, see rnn.cpp's scratch). Contents are garbage on entry.
template <class T>
T* panel_buffer(int64_t n) {
  thread_local std::vector<T> buffer;
  if (static_cast<int64_t>(buffer.size()) < n) buffer.resize(n);
  return buffer.data();
}

// One weight gradient: C [m, n] = sum over rows p < k of A[p, :m]^T B(p, :n), A = gate gradients
// of every step ([k, lda]) and B(p) = b[0] + p * ldb for p < split, else b[1] + (p - split) *
// ldb (a null b: zero rows, skipped); sums[m] = sum_p A[p, m] when given (a bias gradient).
// n may be 0 (sums alone).
template <class T>
struct GradProduct {
  const T* a;
  int64_t lda;
  const T* b[2];
  int64_t split, ldb, n;
  T* c;
  T* sums;
};

// The first row of B that is not zero (k when there is none).
template <class T>
int64_t first_row(const GradProduct<T>& g, int64_t k) {
  if (g.b[0] && g.split > 0) return 0;
  return g.b[1] && g.split < k ? g.split : k;
}

// Rows of B summed per pass (kGradKc rows of B, [x | h] of an LSTM: ~100 KB, stay in L2 while
// every tile of C passes).
constexpr int64_t kGradKc = 128;

// C rows [r0, r0 + rows) of one product, B columns [j0, j0 + width) (width a whole strip of NP
// packets, or fewer columns through a padded scratch strip when NP = 0), over B rows
// [p0, p1): one tile call per segment of B rows, the first row of C's sum starting it at zero.
template <class T, int NP>
void grad_strip(const GradProduct<T>& g, const T* panel, int64_t k, int64_t r0, int64_t rows,
                int64_t j0, int64_t width, int64_t p0, int64_t p1) {
  constexpr int64_t S = tiled::kPacket<T>;
  const int64_t first = first_row(g, k);
  for (int seg = 0; seg < 2; ++seg) {
    const int64_t lo = seg ? std::max(p0, g.split) : p0, hi = seg ? p1 : std::min(p1, g.split);
    if (lo >= hi || !g.b[seg] || lo >= k) continue;
    const T* b = g.b[seg] + (lo - (seg ? g.split : 0)) * g.ldb + j0;
    const int64_t kb = p1 - p0;
    const T* a = panel + r0 * kb + (lo - p0);  // A^T's rows, kb apart
    T* c = g.c + r0 * g.n + j0;
    if constexpr (NP > 0) {
      tiled::tile_rows<T, NP>(rows, hi - lo, a, kb, 1, b, g.ldb, c, g.n, lo != first);
    } else {
      // The last columns (fewer than a packet): B and C through zero-padded scratch.
      T pb[kGradKc * S], pc[tiled::kTileRows * S];
      for (int64_t p = 0; p < hi - lo; ++p)
        for (int64_t j = 0; j < S; ++j) pb[p * S + j] = j < width ? b[p * g.ldb + j] : T(0);
      for (int64_t r = 0; r < rows; ++r)
        for (int64_t j = 0; j < S; ++j)
          pc[r * S + j] = j < width && lo != first ? c[r * g.n + j] : T(0);
      tiled::tile_rows<T, 1>(rows, hi - lo, a, kb, 1, pb, S, pc, S, true);
      for (int64_t r = 0; r < rows; ++r) std::copy(pc + r * S, pc + r * S + width, c + r * g.n);
    }
  }
}

// Rows [m0, m1) of every product's C (and sums), B read in place: for each block of kGradKc
// rows of B, the block of A^T packed (a tile then reads its rows of A^T from L1 rather than a
// line per row of A), each tile of C rows, each product, its column strips. Each element sums
// over p in order, in the chunk that owns its row: the bits do not depend on how rows are
// chunked.
template <class T>
void grad_rows(const GradProduct<T>* gs, int count, int64_t k, int64_t m0, int64_t m1) {
  constexpr int64_t S = tiled::kPacket<T>, W = tiled::kWide * S;
  for (int i = 0; i < count; ++i) {
    const GradProduct<T>& g = gs[i];
    if (g.sums) std::fill(g.sums + m0, g.sums + m1, T(0));
    if (first_row(g, k) == k && g.c) std::fill(g.c + m0 * g.n, g.c + m1 * g.n, T(0));
  }
  T* panels = panel_buffer<T>(count * (m1 - m0) * kGradKc);
  for (int64_t p0 = 0; p0 < k; p0 += kGradKc) {
    const int64_t p1 = std::min(k, p0 + kGradKc);
    for (int i = 0; i < count; ++i)
      if (gs[i].c && !(i > 0 && gs[i].a == gs[0].a && gs[0].c))
        tiled::pack_transposed(gs[i].a, gs[i].lda, m0, m1, p0, p1,
                               panels + i * (m1 - m0) * kGradKc);
    for (int i = 0; i < count; ++i) {
      const GradProduct<T>& g = gs[i];
      if (!g.sums) continue;
      for (int64_t p = p0; p < p1; ++p) {
        const T* __restrict row = g.a + p * g.lda;
        T* __restrict sums = g.sums;
        for (int64_t r = m0; r < m1; ++r) sums[r] += row[r];
      }
    }
    for (int64_t r0 = m0; r0 < m1; r0 += tiled::kTileRows) {
      const int64_t rows = std::min<int64_t>(tiled::kTileRows, m1 - r0);
      for (int i = 0; i < count; ++i) {
        const GradProduct<T>& g = gs[i];
        if (!g.c) continue;
        const int shared = i > 0 && g.a == gs[0].a && gs[0].c ? 0 : i;
        const T* panel = panels + shared * (m1 - m0) * kGradKc - m0 * (p1 - p0);
        int64_t j = 0;
        for (; j + W <= g.n; j += W)
          grad_strip<T, tiled::kWide>(g, panel, k, r0, rows, j, W, p0, p1);
        for (; j + S <= g.n; j += S) grad_strip<T, 1>(g, panel, k, r0, rows, j, S, p0, p1);
        if (j < g.n) grad_strip<T, 0>(g, panel, k, r0, rows, j, g.n - j, p0, p1);
      }
    }
  }
}

}  // namespace

template <class T>
void rnn_weight_gradients(const T* dxg, const T* dhg, const T* x, const T* h0, const T* y,
                          int64_t gh, T* dw_ih, T* dw_hh, T* db_ih, T* db_hh,
                          const RnnShape& s) {
  const int64_t n = s.batch, h = s.hidden_size, rows = s.steps * n;
  const bool shared = dxg == dhg;  // RNN and LSTM: both biases enter the same sum
  GradProduct<T> gs[2];
  int count = 0;
  if (dw_ih || db_ih)
    gs[count++] = {dxg, gh, {x, nullptr}, rows, s.input_size, dw_ih ? s.input_size : 0, dw_ih,
                   db_ih};
  if (dw_hh || (db_hh && !(shared && db_ih))) {
    // h_{t-1} of row p: forward, h0 for step 0's rows then y[0..T-2]; reverse, y[1..T-1] for
    // steps 0..T-2 then h0 for step T-1's.
    const int64_t split = s.reverse ? (s.steps - 1) * n : n;
    const T* first = s.reverse ? y + n * h : h0;
    const T* second = s.reverse ? h0 : y;
    gs[count++] = {dhg, gh, {first, second}, split, h, dw_hh ? h : 0, dw_hh,
                   shared && db_ih ? nullptr : db_hh};
  }
  if (count > 0) {
    constexpr int64_t R = tiled::kTileRows;
    const int64_t work = gh * rows * (s.input_size + h);
    const int team = run_parallel(work) ? get_num_threads() : 1;
    // Chunks of near-equal numbers of whole tiles, four a thread (512 gate rows on 2 threads:
    // eight of 10-11 tiles, where chunks of 60 rows left 9 and one thread 300 rows of 512).
    const int64_t tiles = (gh + R - 1) / R, chunks = std::min<int64_t>(tiles, 4 * team);
    parallel_for(chunks, team, [&](int64_t i, int) {
      grad_rows(gs, count, rows, std::min(gh, tiles * i / chunks * R),
                std::min(gh, tiles * (i + 1) / chunks * R));
    });
  }
  if (db_hh && db_ih && shared) std::copy(db_ih, db_ih + gh, db_hh);
}

#define NNC_INSTANTIATE(T)                                                                   \
  template void rnn_weight_gradients<T>(const T*, const T*, const T*, const T*, const T*,    \
                                        int64_t, T*, T*, T*, T*, const RnnShape&);
NNC_INSTANTIATE(float)
NNC_INSTANTIATE(double)
#undef NNC_INSTANTIATE

}  // namespace nnc
