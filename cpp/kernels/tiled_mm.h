// Register-tiled products for the shapes Eigen's GEMM handles poorly. Eigen packs both operands
// on every call, which for a recurrent step ([16, 128] @ [128, 512], 50 times a call) or an
// attention head (64 x 64 x 32) costs a third or more of the product; and on tall products
// (a linear layer's 2048 activation rows) its packed left operand costs more than reading the
// rows in place. Here B alone is packed (once a call, or a block at a time by linear.cpp's
// tiled GEMM) and A is read where it lies. Serial: callers own the threading. Each C element is
// summed over k in order, so results depend on the values alone.
#pragma once
#include <algorithm>
#include <cstdint>

#include <type_traits>

#include "common/eigen_map.h"
#include "common/simd.h"

namespace nnc::tiled {

template <class T>
using Packet = typename Eigen::internal::packet_traits<T>::type;
template <class T>
constexpr int kPacket = Eigen::internal::unpacket_traits<Packet<T>>::size;
constexpr int kTileRows = 6;  // 6 rows x 2 packets: 12 accumulators, 2 loads, 1 broadcast
template <class T>
constexpr int64_t kStrip = 2 * kPacket<T>;  // columns per tile

// C[R rows, NP packets] = start + sum_p A(r, p) B[p, :], A(r, p) = a[r * ars + p * acs]; start
// is C itself when accumulating, else the row `bias` (every row alike) when given, else zero.
// With relu, max(0, .) on the way out (NaN stays NaN, as relu_forward).
template <class T, int R, int NP>
inline void tile(int64_t k, const T* a, int64_t ars, int64_t acs, const T* b, int64_t ldb, T* c,
                 int64_t ldc, bool accumulate, const T* bias = nullptr, bool relu = false) {
  namespace ei = Eigen::internal;
  using P = Packet<T>;
  constexpr int S = kPacket<T>;
  P acc[R][NP];
  for (int r = 0; r < R; ++r)
    for (int j = 0; j < NP; ++j)
      acc[r][j] = accumulate ? ei::ploadu<P>(c + r * ldc + j * S)
                  : bias     ? ei::ploadu<P>(bias + j * S)
                             : ei::pset1<P>(T(0));
  for (int64_t p = 0; p < k; ++p) {
    P bp[NP];
    for (int j = 0; j < NP; ++j) bp[j] = ei::ploadu<P>(b + p * ldb + j * S);
    for (int r = 0; r < R; ++r) {
      const P ar = ei::pset1<P>(a[r * ars + p * acs]);
      for (int j = 0; j < NP; ++j) acc[r][j] = ei::pmadd(ar, bp[j], acc[r][j]);
    }
  }
  if (relu) {
    const P zero = ei::pset1<P>(T(0));
    for (int r = 0; r < R; ++r)
      for (int j = 0; j < NP; ++j)
        acc[r][j] = ei::pselect(ei::pcmp_lt(acc[r][j], zero), zero, acc[r][j]);
  }
  for (int r = 0; r < R; ++r)
    for (int j = 0; j < NP; ++j) ei::pstoreu(c + r * ldc + j * S, acc[r][j]);
}

// tile<T, R, NP> for R = rows <= kTileRows, chosen at run time.
template <class T, int NP>
inline void tile_rows(int64_t rows, int64_t k, const T* a, int64_t ars, int64_t acs, const T* b,
                      int64_t ldb, T* c, int64_t ldc, bool accumulate, const T* bias = nullptr,
                      bool relu = false) {
  static_assert(kTileRows == 6, "one case per row count");
  switch (rows) {
    case 6: tile<T, 6, NP>(k, a, ars, acs, b, ldb, c, ldc, accumulate, bias, relu); break;
    case 5: tile<T, 5, NP>(k, a, ars, acs, b, ldb, c, ldc, accumulate, bias, relu); break;
    case 4: tile<T, 4, NP>(k, a, ars, acs, b, ldb, c, ldc, accumulate, bias, relu); break;
    case 3: tile<T, 3, NP>(k, a, ars, acs, b, ldb, c, ldc, accumulate, bias, relu); break;
    case 2: tile<T, 2, NP>(k, a, ars, acs, b, ldb, c, ldc, accumulate, bias, relu); break;
    case 1: tile<T, 1, NP>(k, a, ars, acs, b, ldb, c, ldc, accumulate, bias, relu); break;
    default: break;
  }
}

// One strip of NP packets of columns, every row of C, in tiles of kTileRows rows.
template <class T, int NP>
void strip(int64_t m, int64_t k, const T* a, int64_t ars, int64_t acs, const T* b, int64_t ldb,
           T* c, int64_t ldc, bool accumulate) {
  int64_t i = 0;
  for (; i + kTileRows <= m; i += kTileRows)
    tile<T, kTileRows, NP>(k, a + i * ars, ars, acs, b, ldb, c + i * ldc, ldc, accumulate);
  if (i < m)
    tile_rows<T, NP>(m - i, k, a + i * ars, ars, acs, b, ldb, c + i * ldc, ldc, accumulate);
}

// C[m,n] (+)= op(A) @ B, all contiguous: op(A) is [m,k] (A stored [k,m] when trans_a), B is
// [k,n]. Operands are read in place: meant for products whose operands fit L1 together.
template <class T>
void mm(bool trans_a, int64_t m, int64_t n, int64_t k, const T* a, const T* b, T* c,
        bool accumulate) {
  const int64_t ars = trans_a ? 1 : k, acs = trans_a ? m : 1;
  constexpr int S = kPacket<T>;
  int64_t j = 0;
  for (; j + 2 * S <= n; j += 2 * S)
    strip<T, 2>(m, k, a, ars, acs, b + j, n, c + j, n, accumulate);
  for (; j + S <= n; j += S) strip<T, 1>(m, k, a, ars, acs, b + j, n, c + j, n, accumulate);
  for (; j < n; ++j)
    for (int64_t i = 0; i < m; ++i) {
      T sum = accumulate ? c[i * n + j] : T(0);
      for (int64_t p = 0; p < k; ++p) sum += a[i * ars + p * acs] * b[p * n + j];
      c[i * n + j] = sum;
    }
}

// Packets per strip of the wide tiles (R rows x kWide packets of accumulators): 4 where the ISA
// has 32 vector registers (AVX-512: 24 accumulators, 4 loads and a broadcast), else 2 (AVX2's 16
// registers: the 6 x 2 tile). NOTE: per multiply-add a 6 x 4 tile loads half the bytes of B a
// 6 x 2 tile does; on AVX-512 it made the recurrent products of an LSTM step ~10% faster.
#if defined(__AVX512F__)
constexpr int kWide = 4;
#else
constexpr int kWide = 2;
#endif

// A right operand B [k, n] packed once for many products: strips of NP packets of columns,
// each [k, NP packets] contiguous (the last one zero-padded), so a tile streams its strip in
// order however wide B is. NP = 2 (kStrip) unless said otherwise.
template <class T, int NP = 2>
struct PackedB {
  const T* data;
  int64_t k, n;

  static constexpr int64_t kWidth = NP * kPacket<T>;
  static int64_t strips(int64_t n) { return (n + kWidth - 1) / kWidth; }
  static int64_t size(int64_t k, int64_t n) { return strips(n) * k * kWidth; }
  const T* strip_at(int64_t s) const { return data + s * k * kWidth; }
};

// Packs rows [p0, p0 + k) and columns [j0, j0 + n) of B into `storage` of PackedB<T>::size(k, n)
// elements: B = w^T (w stored [., ldw], as a weight matrix: B(p, j) = w[j * ldw + p]) when
// transposed, else B = w (B(p, j) = w[p * ldw + j]).
template <class T, int NP = 2>
PackedB<T, NP> pack(const T* w, int64_t ldw, bool transposed, int64_t p0, int64_t k, int64_t j0,
                    int64_t n, T* storage) {
  constexpr int64_t W = PackedB<T, NP>::kWidth;
  for (int64_t s = 0; s < PackedB<T, NP>::strips(n); ++s) {
    T* dst = storage + s * k * W;
    const int64_t cols = std::min(W, n - s * W), col0 = j0 + s * W;
    if (transposed) {
      int64_t jv = 0;
      if constexpr (std::is_same_v<T, float> && simd::kVector) {
        // NOTE: whole register-sized blocks through in-register transposes: the scalar loop's
        // strided stores made packing a 512 x 128 weight ~5% of a 768-row product.
        constexpr int64_t F = simd::kFloats;
        const int64_t pv = k / F * F;
        jv = cols / F * F;
        for (int64_t j = 0; j < jv; j += F)
          for (int64_t p = 0; p < pv; p += F)
            simd::transpose_tile(w + (col0 + j) * ldw + p0 + p, ldw, dst + p * W + j, W);
        for (int64_t j = 0; j < jv; ++j) {
          const T* src = w + (col0 + j) * ldw + p0;
          for (int64_t p = pv; p < k; ++p) dst[p * W + j] = src[p];
        }
      }
      // Each of the strip's remaining columns is a row of w: read it whole.
      for (int64_t j = jv; j < cols; ++j) {
        const T* src = w + (col0 + j) * ldw + p0;
        for (int64_t p = 0; p < k; ++p) dst[p * W + j] = src[p];
      }
    } else {
      for (int64_t p = 0; p < k; ++p) {
        const T* src = w + (p0 + p) * ldw + col0;
        std::copy(src, src + cols, dst + p * W);
      }
    }
    if (cols < W)
      for (int64_t p = 0; p < k; ++p) std::fill(dst + p * W + cols, dst + (p + 1) * W, T(0));
  }
  return {storage, k, n};
}

// Packs the whole of B = w^T (w stored [n, k]) when transposed, else B = w ([k, n]).
template <class T, int NP = 2>
PackedB<T, NP> pack(const T* w, int64_t k, int64_t n, bool transposed, T* storage) {
  return pack<T, NP>(w, transposed ? k : n, transposed, 0, k, 0, n, storage);
}

// C[m, n] = start + A @ B, A(r, p) = a[r * ars + p * acs], C rows ldc apart, B packed; start
// and relu as tile() (bias: B's n columns of it). Row tiles outside, strips inside: a tile's 6
// rows of A stay in L1 while B's strips stream past.
template <class T, int NP>
void mm_packed(int64_t m, const T* a, int64_t ars, int64_t acs, const PackedB<T, NP>& b, T* c,
               int64_t ldc, bool accumulate, const T* bias = nullptr, bool relu = false) {
  constexpr int64_t W = PackedB<T, NP>::kWidth;
  const int64_t full = b.n / W, strips = PackedB<T, NP>::strips(b.n);
  for (int64_t i = 0; i < m; i += kTileRows) {
    const int64_t rows = std::min<int64_t>(kTileRows, m - i);
    const T* ai = a + i * ars;
    T* ci = c + i * ldc;
    for (int64_t s = 0; s < full; ++s)
      tile_rows<T, NP>(rows, b.k, ai, ars, acs, b.strip_at(s), W, ci + s * W, ldc, accumulate,
                       bias ? bias + s * W : nullptr, relu);
    if (full < strips) {
      // The last, partial strip through a full-width scratch tile, started as C would be.
      const int64_t cols = b.n - full * W;
      T tmp[kTileRows * W];
      for (int64_t r = 0; r < rows; ++r)
        for (int64_t j = 0; j < W; ++j)
          tmp[r * W + j] = j >= cols    ? T(0)
                           : accumulate ? ci[r * ldc + full * W + j]
                           : bias       ? bias[full * W + j]
                                        : T(0);
      tile_rows<T, NP>(rows, b.k, ai, ars, acs, b.strip_at(full), W, tmp, W, true, nullptr,
                       relu);
      for (int64_t r = 0; r < rows; ++r)
        std::copy(tmp + r * W, tmp + r * W + cols, ci + r * ldc + full * W);
    }
  }
}

// The same with A's rows lda apart.
template <class T, int NP>
void mm_packed(int64_t m, const T* a, int64_t lda, const PackedB<T, NP>& b, T* c, int64_t ldc,
               bool accumulate) {
  mm_packed(m, a, lda, 1, b, c, ldc, accumulate);
}

// Splits m rows into ceil(m / kTileRows) tiles of near-equal size (32 rows: 6, 6, 5, 5, 5, 5
// rather than five of 6 and a slow one of 2); calls f(first row, rows) for each, in order.
// NOTE: a row's sums do not depend on the other rows of its tile, so neither do the results.
template <class F>
void balanced_tiles(int64_t m, const F& f) {
  const int64_t tiles = (m + kTileRows - 1) / kTileRows;
  for (int64_t i = 0, r0 = 0; i < tiles; ++i) {
    const int64_t rows = (m - r0) / (tiles - i) + ((m - r0) % (tiles - i) != 0);
    f(r0, rows);
    r0 += rows;
  }
}

// panel[r - m0, p - p0] = a[p, r] for r in [m0, m1), p in [p0, p1) (a's rows lda apart): rows
// of a transposed left operand, packed row-major for the tiles (a GEMM's A^T, an RNN's gate
// gradients). Float blocks of whole vectors go through simd::transpose_tile.
template <class T>
void pack_transposed(const T* a, int64_t lda, int64_t m0, int64_t m1, int64_t p0, int64_t p1,
                     T* panel) {
  const int64_t rows = m1 - m0, kb = p1 - p0;
  int64_t rv = 0, pv = 0;
  if constexpr (std::is_same_v<T, float> && simd::kVector) {
    constexpr int64_t F = simd::kFloats;
    rv = rows / F * F, pv = kb / F * F;
    for (int64_t p = 0; p < pv; p += F)
      for (int64_t r = 0; r < rv; r += F)
        simd::transpose_tile(a + (p0 + p) * lda + m0 + r, lda, panel + r * kb + p, kb);
  }
  for (int64_t p = 0; p < kb; ++p)
    for (int64_t r = p < pv ? rv : 0; r < rows; ++r) panel[r * kb + p] = a[(p0 + p) * lda + m0 + r];
}

}  // namespace nnc::tiled
