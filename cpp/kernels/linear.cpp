#include "kernels/linear.h"

#include <algorithm>
#include <type_traits>
#include <vector>

#include "common/check.h"

#include "common/eigen_map.h"
#include "common/parallel.h"
#include "common/simd.h"
#include "kernels/tiled_mm.h"

namespace nnc {

namespace {

template <class T>
using StridedMat = Eigen::Map<MatrixR<T>, 0, Eigen::OuterStride<>>;
template <class T>
using StridedConstMat = Eigen::Map<const MatrixR<T>, 0, Eigen::OuterStride<>>;

template <class Dst, class Expr>
void assign_product(Dst& c, const Expr& product, bool accumulate) {
  if (accumulate)
    c.noalias() += product;
  else
    c.noalias() = product;
}

constexpr int64_t kRowsPerBlock = 64;

// Calls f(r0, r1) over blocks of kRowsPerBlock rows of [0, rows), in parallel when rows * cols
// is worth threads.
template <class F>
void for_row_blocks(int64_t rows, int64_t cols, const F& f) {
  parallel_blocks(rows, kRowsPerBlock, rows * cols, f);
}

// Calls row(r, partial) for every row r, in for_row_blocks' blocks, partial being that block's
// `cols` running sums (zeroed first); then sums[c] = the blocks' partial[c] in block order.
// NOTE: fixed blocks, each on whichever thread, so the sums are the same bits for any thread
// count. Summing in the pass that reads the rows anyway, on every thread, made linear_relu's
// backward pass 1.4-1.8x faster than a masking pass then a serial column sum (2048 x 512).
template <class T, class F>
void row_blocks_summed(int64_t rows, int64_t cols, T* sums, const F& row) {
  const int64_t blocks = (rows + kRowsPerBlock - 1) / kRowsPerBlock;
  std::vector<T> partial(static_cast<size_t>(std::max<int64_t>(blocks, 1) * cols), T(0));
  for_row_blocks(rows, cols, [&](int64_t r0, int64_t r1) {
    T* part = partial.data() + (r0 / kRowsPerBlock) * cols;
    for (int64_t r = r0; r < r1; ++r) row(r, part);
  });
  std::fill(sums, sums + cols, T(0));
  for (int64_t i = 0; i < blocks; ++i)
    for (int64_t c = 0; c < cols; ++c) sums[c] += partial[i * cols + c];
}

// Columns [n0, n0 + nb) of C = op(A) @ op(B), C being [m, n] row-major.
template <class T>
void gemm_columns(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, const T* a,
                  const T* b, T* c, bool accumulate, int64_t n0, int64_t nb) {
  StridedMat<T> C(c + n0, m, nb, Eigen::OuterStride<>(n));
  MapConstMat<T> A(a, trans_a ? k : m, trans_a ? m : k);
  if (trans_b) {
    MapConstMat<T> B(b + n0 * k, nb, k);
    if (trans_a)
      assign_product(C, A.transpose() * B.transpose(), accumulate);
    else
      assign_product(C, A * B.transpose(), accumulate);
  } else {
    StridedConstMat<T> B(b + n0, k, nb, Eigen::OuterStride<>(n));
    if (trans_a)
      assign_product(C, A.transpose() * B, accumulate);
    else
      assign_product(C, A * B, accumulate);
  }
}

// Block sizes of the tiled GEMM: up to kMaxKc rows of B at a time, and as many columns as keep
// the packed block within kBlockBytes (a quarter of Zen 4's 1 MB L2, leaving room for the A rows
// a chunk re-reads). Measured at the encoder's shapes against kc 128-256 and 128-384 KB blocks:
// level or better everywhere, 10-20% better where k is 384-512.
constexpr int64_t kMaxKc = 512;
constexpr int64_t kBlockBytes = 256 * 1024;
// Rows of A one chunk takes: its kc-wide slice (192 x 512 floats, 384 KB) stays in L2 next to
// the B block while the chunk walks B's column blocks.
constexpr int64_t kChunkRows = 192;

inline int64_t block_k(int64_t k) { return std::min(k, kMaxKc); }

template <class T>
int64_t block_n(int64_t kc) {
  constexpr int64_t W = tiled::kStrip<T>;
  return std::max(W, kBlockBytes / (kc * static_cast<int64_t>(sizeof(T))) / W * W);
}

template <class T>
T* pack_buffer(int64_t elements, int which = 0) {
  // 0 and 2: packed B of the first and second product of a call (linear_backward packs two);
  // 1: a chunk's panel of A^T; 3: a block of B packed by the chunk that uses it.
  thread_local std::vector<T> buf[4];
  std::vector<T>& v = buf[which];
  if (static_cast<int64_t>(v.size()) < elements) v.resize(static_cast<size_t>(elements));
  return v.data();
}

// How the tiled GEMM starts C and finishes it: C += A op(B) when accumulating, else
// C = bias + A op(B) (bias a row of n, or none); then C = max(0, C) with relu.
template <class T>
struct TiledStart {
  bool accumulate = false;
  const T* bias = nullptr;
  bool relu = false;
};

// op(B) [k, n] packed whole, once a call, shared by every chunk: k blocks of block_k(k) rows
// one after another, each as tiled::PackedB strips over all n columns (block q starts at
// q * kc * padded n).
template <class T>
struct PackedWhole {
  T* data = nullptr;
  int64_t k = 0, n = 0, kc = 0, padded = 0;

  // Rows [p0, p0 + kb) (p0 a multiple of kc) and columns [j0, j0 + nb) (j0 a multiple of the
  // strip width): a view in tiled::PackedB's layout.
  tiled::PackedB<T> block(int64_t p0, int64_t kb, int64_t j0, int64_t nb) const {
    return {data + p0 * padded + j0 * kb, kb, nb};
  }
};

// NOTE: where the tiled GEMM runs instead of Eigen's. Measured against Eigen at 1 and 2 threads
// on this Zen 4 (whose 512-bit FMAs run at the 256-bit rate, ~117 GFLOP/s a core): tall A
// (m >= 256 rows of activations: linear layers, an LSTM's input projection, 1024^3) at 95-99%
// of peak against Eigen's 80-85%; weight gradients (A transposed, k >= 256 rows summed),
// A^T packed a chunk of rows at a time, likewise. Eigen stays for short products (k < 32: 2048
// x 17 -> 33 was 10-20% slower tiled) and small ones.
// `linear` (the linear layer's own products, whose shapes were measured): from 32 rows (with
// 4 strips of columns or more: a 10-wide output would waste most of a strip) and from 64 rows
// summed (kSmallBatchGrads says where). A small network's fully connected layer (LeNet's
// 64 x 3136 -> 128, an MLP's 64 x 784 -> 128; TiledProduct's chunks packing their own blocks)
// ran tiled, at 1 thread, 7-10% faster than in Eigen warm and 12-20% with L2 flushed first (as
// in a training step): its forward, and on AVX-512 its input gradient and k = 64 weight
// gradient. Other callers (attention, RNN, matmul) keep the rules they were tuned with.
template <class T>
bool use_tiled(bool trans_a, int64_t m, int64_t n, int64_t k, bool linear = false) {
  if (m == 0 || n == 0) return false;  // empty: gemm returns at once
  if (trans_a) return k >= (linear ? 64 : 256) && m >= 32 && n >= 32;
  if (linear && m < 256) return m >= 32 && k >= 32 && n >= 4 * tiled::kStrip<T>;
  return m >= 256 && k >= 32;
}

// NOTE: whether a small batch's gradients (dx not in place, dw) follow the linear rules of
// use_tiled: where the wide tiles exist (32 vector registers, tiled::kWide). On AVX2 (the 6 x 2
// packet tile) LeNet's dx and dw ran 4% slower tiled than in Eigen warm and level with L2
// flushed, while its forward still gained 5-10%.
constexpr bool kSmallBatchGrads = tiled::kWide == 4;

// NOTE: where a linear layer's input gradient dx = dy @ w (A = dy [rows, out], B = w [out, in],
// neither transposed) reads w in place instead of packing it (gemm_inplace): few rows (< 256),
// a short sum (32 <= out, and a strip of w, out x kStrip, within half of L1) and w within half
// of L2. An MLP's 64 x 128 -> 784 ran 5-12% faster than packed tiles (chunks packing their own
// blocks), warm or with L2 flushed first, and 13-28% faster than Eigen at 2 threads. LeNet's
// 64 x 128 -> 3136 (w 1.6 MB) was 2-5% faster in place warm but 8-10% slower with L2 flushed,
// as in a training step (prefetching the next strip's rows did not help): packed there. At 256
// rows or more, or k = 10, in place was 5-30% slower.
template <class T>
bool use_inplace(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k) {
  constexpr int64_t kL1Half = 16 * 1024, kL2Half = 512 * 1024;
  const int64_t size = static_cast<int64_t>(sizeof(T));
  return !trans_a && !trans_b && m >= 32 && m < 256 && k >= 32 &&
         k * tiled::kStrip<T> * size <= kL1Half && k * n * size <= kL2Half &&
         n >= 4 * tiled::kStrip<T>;
}

// Columns [n0, n1) of C [rows, .] = A @ op(B) (+ C), A(r, p) = a[r * lda + p], B packed whole:
// for each column block of B (block_n wide), each k block in order, the tiles of six rows read
// A in place from L1 while the block's strips stream from L2.
template <class T>
void tiled_chunk(const PackedWhole<T>& B, const T* a, int64_t lda, T* c, int64_t ldc,
                 const TiledStart<T>& start, int64_t rows, int64_t n0, int64_t n1) {
  const int64_t nc = block_n<T>(B.kc);
  for (int64_t j0 = n0; j0 < n1; j0 += nc) {
    const int64_t nb = std::min(nc, n1 - j0);
    for (int64_t p0 = 0; p0 < B.k; p0 += B.kc) {
      const int64_t kb = std::min(B.kc, B.k - p0);
      // The first k block starts from C, the bias or zero; the last applies the ReLU.
      const bool first = p0 == 0, last = p0 + kb == B.k;
      tiled::mm_packed(rows, a + p0, lda, 1, B.block(p0, kb, j0, nb), c + j0, ldc,
                       start.accumulate || !first,
                       first && start.bias ? start.bias + j0 : nullptr, last && start.relu);
    }
  }
}

// tiled_chunk for a chunk that packs its own blocks of op(B) (b, stored as tiled::pack reads
// it), each just before its tiles use it, so the block is still in L2.
template <class T>
void tiled_chunk_packing(const T* b, bool trans_b, int64_t k, int64_t n, const T* a, int64_t lda,
                         T* c, int64_t ldc, const TiledStart<T>& start, int64_t rows, int64_t n0,
                         int64_t n1) {
  const int64_t kc = block_k(k), nc = block_n<T>(kc);
  T* block = pack_buffer<T>(kc * tiled::PackedB<T>::size(1, std::min(nc, n1 - n0)), 3);
  for (int64_t j0 = n0; j0 < n1; j0 += nc) {
    const int64_t nb = std::min(nc, n1 - j0);
    for (int64_t p0 = 0; p0 < k; p0 += kc) {
      const int64_t kb = std::min(kc, k - p0);
      const bool first = p0 == 0, last = p0 + kb == k;
      const tiled::PackedB<T> packed =
          tiled::pack(b, trans_b ? k : n, trans_b, p0, kb, j0, nb, block);
      tiled::mm_packed(rows, a + p0, lda, 1, packed, c + j0, ldc, start.accumulate || !first,
                       first && start.bias ? start.bias + j0 : nullptr, last && start.relu);
    }
  }
}

// One tiled product C = op(A) @ op(B) (+ C), cut into tasks for the pool: pack tasks (k block
// x strip of op(B), into the shared PackedWhole) and chunks of C (at most kChunkRows rows,
// whole tiles, and, when the rows alone give fewer than two chunks per thread, column ranges of
// whole strips). With A transposed each chunk first packs its rows of op(A). An element's sum
// does not depend on the chunks (every one runs the same k blocks in order), so not on the
// thread count either.
template <class T>
struct TiledProduct {
  bool trans_a = false, trans_b = false;
  int64_t m = 0, n = 0, k = 0;
  const T* a = nullptr;
  const T* b = nullptr;
  T* c = nullptr;
  TiledStart<T> start;
  PackedWhole<T> B;
  int64_t per_row = 0, per_col = 0, row_chunks = 0, col_chunks = 0;
  // NOTE: few rows of C (m <= kChunkRows: a small batch's forward, or a weight gradient with
  // few outputs summed over a short batch, k < 256, whose A^T panel is cheap to pack once per
  // column chunk): one row chunk, so no block of op(B) is used by two chunks; each chunk packs
  // its own blocks as it goes (tiled_chunk_packing) instead of a pack job writing all of op(B)
  // first. LeNet's 64 x 3136 -> 128 forward packed 1.6 MB that way, more than L2, then read it
  // back from L3.
  bool packing_chunks = false;

  // `threads` shapes the chunks only; `buffer` names this product's pack_buffer.
  TiledProduct(bool ta, bool tb, int64_t m_, int64_t n_, int64_t k_, const T* a_, const T* b_,
               T* c_, const TiledStart<T>& st, int threads, int buffer)
      : trans_a(ta), trans_b(tb), m(m_), n(n_), k(k_), a(a_), b(b_), c(c_), start(st) {
    constexpr int64_t R = tiled::kTileRows, W = tiled::kStrip<T>;
    B.k = k, B.n = n, B.kc = block_k(k), B.padded = tiled::PackedB<T>::strips(n) * W;
    packing_chunks = m <= kChunkRows && (!ta || k < 256);
    if (!packing_chunks) B.data = pack_buffer<T>(k * B.padded, buffer);
    per_row = std::min<int64_t>(kChunkRows, (m + 2 * threads - 1) / (2 * threads));
    per_row = std::max<int64_t>(8 * R, (per_row + R - 1) / R * R);
    if (packing_chunks) per_row = m;
    row_chunks = (m + per_row - 1) / per_row;
    col_chunks = 1;
    if (row_chunks < 2 * threads)
      col_chunks = std::min((2 * threads + row_chunks - 1) / row_chunks, (n + 2 * W - 1) / (2 * W));
    per_col = ((n + col_chunks - 1) / col_chunks + W - 1) / W * W;
    col_chunks = (n + per_col - 1) / per_col;
  }

  int64_t strips() const { return tiled::PackedB<T>::strips(n); }
  int64_t pack_tasks() const { return packing_chunks ? 0 : (k + B.kc - 1) / B.kc * strips(); }
  int64_t chunks() const { return row_chunks * col_chunks; }

  void pack_task(int64_t i) const {
    constexpr int64_t W = tiled::kStrip<T>;
    const int64_t p0 = i / strips() * B.kc, s = i % strips(), kb = std::min(B.kc, k - p0);
    tiled::pack(b, trans_b ? k : n, trans_b, p0, kb, s * W, std::min(W, n - s * W),
                B.data + p0 * B.padded + s * kb * W);
  }

  void chunk(int64_t i) const {
    const int64_t r0 = i / col_chunks * per_row, r1 = std::min(m, r0 + per_row);
    const int64_t c0 = i % col_chunks * per_col, c1 = std::min(n, c0 + per_col);
    const T* rows_a = a + r0 * k;
    if (trans_a) {
      T* panel = pack_buffer<T>((r1 - r0) * k, 1);
      tiled::pack_transposed(a, m, r0, r1, 0, k, panel);
      rows_a = panel;
    }
    if (packing_chunks)
      tiled_chunk_packing(b, trans_b, k, n, rows_a, k, c + r0 * n, n, start, r1 - r0, c0, c1);
    else
      tiled_chunk(B, rows_a, k, c + r0 * n, n, start, r1 - r0, c0, c1);
  }
};

// C = op(A) @ op(B) (+ C) through TiledProduct: a pool job packing op(B), then one over C's
// chunks, claimed as threads come free.
template <class T>
void gemm_tiled(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, const T* a,
                const T* b, T* c, const TiledStart<T>& start) {
  const int threads = run_parallel(m * n * k / 8) ? get_num_threads() : 1;
  const TiledProduct<T> p(trans_a, trans_b, m, n, k, a, b, c, start, threads, 0);
  parallel_for_work(p.pack_tasks(), k * n, [&](int64_t i, int) { p.pack_task(i); });
  parallel_for(p.chunks(), threads, [&](int64_t i, int) { p.chunk(i); });
}

// Columns [j0, j1) of C [m, n] (+)= A @ B with A [m, k] and B [k, n] read in place (no packing):
// strips outside, row tiles inside, so a strip of B (k x kStrip) stays in L1 while every row
// tile of A passes over it.
template <class T>
void inplace_columns(int64_t m, int64_t n, int64_t k, const T* a, const T* b, T* c,
                     bool accumulate, int64_t j0, int64_t j1) {
  constexpr int64_t S = tiled::kPacket<T>;
  int64_t j = j0;
  for (; j + 2 * S <= j1; j += 2 * S)
    tiled::strip<T, 2>(m, k, a, k, 1, b + j, n, c + j, n, accumulate);
  for (; j + S <= j1; j += S) tiled::strip<T, 1>(m, k, a, k, 1, b + j, n, c + j, n, accumulate);
  for (; j < j1; ++j)
    for (int64_t i = 0; i < m; ++i) {
      T sum = accumulate ? c[i * n + j] : T(0);
      for (int64_t p = 0; p < k; ++p) sum += a[i * k + p] * b[p * n + j];
      c[i * n + j] = sum;
    }
}

// C [m, n] (+)= A @ B in place (see use_inplace), in about 8 column chunks of whole strips (the
// chunks depend on n alone; each element's sum runs over k in order whatever the chunk).
template <class T>
void gemm_inplace(int64_t m, int64_t n, int64_t k, const T* a, const T* b, T* c,
                  bool accumulate) {
  constexpr int64_t W = tiled::kStrip<T>;
  const int64_t strips = (n + W - 1) / W;
  const int64_t per = std::max<int64_t>(1, (strips + 7) / 8) * W, chunks = (n + per - 1) / per;
  parallel_for(chunks, run_parallel(m * n * k / 8) ? get_num_threads() : 1, [&](int64_t i, int) {
    inplace_columns(m, n, k, a, b, c, accumulate, i * per, std::min(n, (i + 1) * per));
  });
}

// NOTE: Eigen's own threading barely speeds up the mid-size products of small networks (a
// 64x784x128 layer: 1.0-1.5x on 2 threads), and its blocking changes with its thread count
// (so would the bits). Eigen runs on one thread, over column blocks of C whose width depends
// on the product's shape only; the blocks go to threads when the product is worth them.
constexpr double kGemmGrain = 1e5;

inline int64_t gemm_block_columns(int64_t m, int64_t n, int64_t k) {
  if (double(m) * double(n) * double(k) < kGemmGrain || n < 128) return n;
  // Multiples of 16 (the width of Eigen's register tile for AVX floats), about 8 blocks.
  return std::max<int64_t>(64, ((n + 7) / 8 + 15) / 16 * 16);
}

// gemm(), with the linear layer's rules (use_inplace; use_tiled's where kSmallBatchGrads) when
// `linear` (its forward decides on use_tiled itself, before falling back here).
template <class T>
void gemm_dispatch(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, const T* a,
                   const T* b, T* c, bool accumulate, bool linear) {
  if (m == 0 || n == 0) return;  // nothing to write (and no column blocks to divide among)
  if (k == 0) {
    if (!accumulate) MapMat<T>(c, m, n).setZero();
    return;
  }
  if (linear && use_inplace<T>(trans_a, trans_b, m, n, k)) {
    gemm_inplace(m, n, k, a, b, c, accumulate);
    return;
  }
  if (use_tiled<T>(trans_a, m, n, k, linear && kSmallBatchGrads)) {
    gemm_tiled(trans_a, trans_b, m, n, k, a, b, c, TiledStart<T>{accumulate});
    return;
  }
  const int64_t per = gemm_block_columns(m, n, k), blocks = (n + per - 1) / per;
  const bool parallel = blocks > 1 && double(m) * double(n) * double(k) >= kGemmGrain;
  parallel_for(blocks, parallel ? get_num_threads() : 1, [&](int64_t i, int) {
    const int64_t n0 = i * per;
    gemm_columns(trans_a, trans_b, m, n, k, a, b, c, accumulate, n0, std::min(per, n - n0));
  });
}

}  // namespace

template <class T>
void gemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, const T* a, const T* b,
          T* c, bool accumulate) {
  gemm_dispatch(trans_a, trans_b, m, n, k, a, b, c, accumulate, false);
}

namespace {

// NOTE: many small products in a batch scale better one-per-thread than with Eigen's threaded
// GEMM on each (which barely parallelises small matrices). Below the work grain a team costs
// more than the products (einsum's (6, 4, 5) @ (6, 5, 6) took 0.6 ms at 2 threads on a loaded
// machine, 1 us serial).
bool batch_in_parallel(const MatmulShape& s) {
  return s.batch >= 2 * get_num_threads() && run_parallel(s.batch * s.m * s.n * s.k);
}

}  // namespace

template <class T>
void matmul_forward(const T* a, const T* b, T* y, const MatmulShape& s) {
  const int64_t sa = s.m * s.k, sb = s.k * s.n, sy = s.m * s.n;
  // Each product is the same whether it runs in a chunk (serial inside) or alone.
  parallel_for(s.batch, batch_in_parallel(s) ? get_num_threads() : 1, [&](int64_t i, int) {
    gemm<T>(false, false, s.m, s.n, s.k, a + i * sa, b + i * sb, y + i * sy, false);
  });
}

template <class T>
void matmul_backward(const T* dy, const T* a, const T* b, T* da, T* db, const MatmulShape& s) {
  const int64_t sa = s.m * s.k, sb = s.k * s.n, sy = s.m * s.n;
  auto one = [&](int64_t i) {
    if (da) gemm<T>(false, true, s.m, s.k, s.n, dy + i * sy, b + i * sb, da + i * sa, false);
    if (db) gemm<T>(true, false, s.k, s.n, s.m, a + i * sa, dy + i * sy, db + i * sb, false);
  };
  parallel_for(s.batch, batch_in_parallel(s) ? get_num_threads() : 1,
               [&](int64_t i, int) { one(i); });
}

template <class T>
void linear_forward(const T* x, const T* w, const T* b, T* y, const LinearShape& s) {
  if (use_tiled<T>(false, s.rows, s.out_features, s.in_features, true)) {
    // NOTE: the bias starts the tiles' sums: no pass writing it into y first (9 MB per encoder
    // layer forward).
    gemm_tiled(false, true, s.rows, s.out_features, s.in_features, x, w, y,
               TiledStart<T>{false, b});
    return;
  }
  if (b) {
    // NOTE: on every thread: one thread filling a [2048, 512] y left the other idle for ~1% of
    // an encoder step.
    for_row_blocks(s.rows, s.out_features, [&](int64_t r0, int64_t r1) {
      for (int64_t r = r0; r < r1; ++r) std::copy(b, b + s.out_features, y + r * s.out_features);
    });
  }
  gemm_dispatch<T>(false, true, s.rows, s.out_features, s.in_features, x, w, y, b != nullptr,
                   true);
}

namespace {

// dx = dy @ w and dw = dy^T @ x, both tiled, and db = sum_rows(dy) in two pool jobs (pack both
// B operands, then every chunk of both products and db's row blocks) instead of five: at a small
// transformer's shapes (768 rows, width 128) each job is a few hundred microseconds, and every
// job boundary costs a hand-off and a wait for the slower thread.
// NOTE: the bits are those of the separate calls: the same chunks, sums in the same order.
template <class T>
void linear_backward_fused(const T* dy, const T* x, const T* w, T* dx, T* dw, T* db,
                           const LinearShape& s) {
  const int64_t rows = s.rows, in = s.in_features, out = s.out_features;
  const int threads = run_parallel(rows * in * out / 4) ? get_num_threads() : 1;
  const TiledProduct<T> px(false, false, rows, in, out, dy, w, dx, TiledStart<T>{}, threads, 0);
  const TiledProduct<T> pw(true, false, out, in, rows, dy, x, dw, TiledStart<T>{}, threads, 2);
  const int64_t pack_x = px.pack_tasks();
  parallel_for(pack_x + pw.pack_tasks(), threads, [&](int64_t i, int) {
    if (i < pack_x)
      px.pack_task(i);
    else
      pw.pack_task(i - pack_x);
  });
  // The weight gradient's chunks first: they pack their panel of dy^T too, so are the longest.
  const int64_t cw = pw.chunks(), cx = px.chunks();
  const int64_t blocks = db ? (rows + kRowsPerBlock - 1) / kRowsPerBlock : 0;
  std::vector<T> partial(static_cast<size_t>(blocks * out), T(0));
  parallel_for(cw + cx + blocks, threads, [&](int64_t i, int) {
    if (i < cw) {
      pw.chunk(i);
    } else if (i < cw + cx) {
      px.chunk(i - cw);
    } else {
      const int64_t q = i - cw - cx, r1 = std::min(rows, (q + 1) * kRowsPerBlock);
      T* part = partial.data() + q * out;
      for (int64_t r = q * kRowsPerBlock; r < r1; ++r)
        for (int64_t c = 0; c < out; ++c) part[c] += dy[r * out + c];
    }
  });
  if (db) {
    std::fill(db, db + out, T(0));
    for (int64_t q = 0; q < blocks; ++q)
      for (int64_t c = 0; c < out; ++c) db[c] += partial[q * out + c];
  }
}

}  // namespace

template <class T>
void linear_backward(const T* dy, const T* x, const T* w, T* dx, T* dw, T* db,
                     const LinearShape& s) {
  // The fused pair when both products run tiled (not when dx reads w in place).
  if (dx && dw && !use_inplace<T>(false, false, s.rows, s.in_features, s.out_features) &&
      use_tiled<T>(false, s.rows, s.in_features, s.out_features, kSmallBatchGrads) &&
      use_tiled<T>(true, s.out_features, s.in_features, s.rows, kSmallBatchGrads)) {
    linear_backward_fused(dy, x, w, dx, dw, db, s);
    return;
  }
  if (dx)
    gemm_dispatch<T>(false, false, s.rows, s.in_features, s.out_features, dy, w, dx, false, true);
  if (dw)
    gemm_dispatch<T>(true, false, s.out_features, s.in_features, s.rows, dy, x, dw, false, true);
  if (db) {
    // NOTE: row by row, not Eigen's colwise().sum(): its packet peeling depends on the address of
    // dy, so the same numbers could sum differently and break bit-identical reruns.
    const int64_t n = s.out_features;
    row_blocks_summed(s.rows, n, db, [&](int64_t r, T* part) {
      const T* dyr = dy + r * n;
      for (int64_t c = 0; c < n; ++c) part[c] += dyr[c];
    });
  }
}

template <class T>
void linear_relu_forward(const T* x, const T* w, const T* b, T* y, const LinearShape& s) {
  if (use_tiled<T>(false, s.rows, s.out_features, s.in_features, true)) {
    // The ReLU applied as the tiles are stored: no second pass over y.
    gemm_tiled(false, true, s.rows, s.out_features, s.in_features, x, w, y,
               TiledStart<T>{false, b, true});
    return;
  }
  linear_forward(x, w, b, y, s);
  for_row_blocks(s.rows, s.out_features, [&](int64_t r0, int64_t r1) {
    // NOTE: written so that NaN propagates, as relu_forward.
    for (int64_t i = r0 * s.out_features; i < r1 * s.out_features; ++i)
      y[i] = y[i] < T(0) ? T(0) : y[i];
  });
}

template <class T>
void linear_relu_backward(const T* dy, const T* y, const T* x, const T* w, T* dz, T* dx, T* dw,
                          T* db, const LinearShape& s) {
  const int64_t n = s.out_features;
  // NOTE: dy loaded unconditionally so GCC vectorises the select, as relu_backward.
  auto mask_row = [&](int64_t r) {
    const T *dyr = dy + r * n, *yr = y + r * n;
    T* dzr = dz + r * n;
    for (int64_t c = 0; c < n; ++c) {
      const T g = dyr[c];
      dzr[c] = yr[c] <= T(0) ? T(0) : g;  // a NaN passes its gradient, as in relu_backward
    }
  };
  if (db) {
    // The mask and the bias gradient in one pass.
    row_blocks_summed(s.rows, n, db, [&](int64_t r, T* part) {
      mask_row(r);
      const T* dzr = dz + r * n;
      for (int64_t c = 0; c < n; ++c) part[c] += dzr[c];
    });
  } else {
    for_row_blocks(s.rows, n, [&](int64_t r0, int64_t r1) {
      for (int64_t r = r0; r < r1; ++r) mask_row(r);
    });
  }
  linear_backward(dz, x, w, dx, dw, static_cast<T*>(nullptr), s);
}

#define NNC_INSTANTIATE(T)                                                                      \
  template void gemm<T>(bool, bool, int64_t, int64_t, int64_t, const T*, const T*, T*, bool);  \
  template void matmul_forward<T>(const T*, const T*, T*, const MatmulShape&);                 \
  template void matmul_backward<T>(const T*, const T*, const T*, T*, T*, const MatmulShape&);  \
  template void linear_forward<T>(const T*, const T*, const T*, T*, const LinearShape&);       \
  template void linear_backward<T>(const T*, const T*, const T*, T*, T*, T*, const LinearShape&); \
  template void linear_relu_forward<T>(const T*, const T*, const T*, T*, const LinearShape&);  \
  template void linear_relu_backward<T>(const T*, const T*, const T*, const T*, T*, T*, T*, T*, \
                                        const LinearShape&);
NNC_INSTANTIATE(float)
NNC_INSTANTIATE(double)
#undef NNC_INSTANTIATE

}  // namespace nnc
