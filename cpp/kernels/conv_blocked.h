// The blocked direct kernel's shared pieces (conv_blocked.cpp, conv_blocked_dw.cpp).
#pragma once
#include <algorithm>
#include <cstring>
#include <type_traits>
#include <vector>

#include "common/simd.h"
#include "kernels/conv_util.h"

namespace nnc::conv_impl {

// Bytes of one vector of the blocked kernels: the build's full width (simd.h), 32 (GCC's
// generic vectors) without one.
constexpr int kVecBytes = simd::kVector ? simd::kFloats * 4 : 32;

// Output channels (or taps, in the dw kernel) per register tile: 2R accumulators + 2 inputs + 1
// weight fit the vector registers: 16 with AVX2 (R = 6), 32 with AVX-512 (R = 12).
// NOTE: on Zen 4 a 512-bit FMA runs as two 256-bit halves, so the wider vectors buy no FLOPs;
// they halve the instructions per FMA, and the taller tile loads each input vector for 12
// output channels instead of 6.
constexpr int kBlockRows = kVecBytes >= 64 ? 12 : 6;

// Input bytes (all input channels) of the positions one chunk of tiles covers: with the rows the
// taps reach around them, they stay in L2 while every block of output channels reads them.
constexpr int64_t kChunkBytes = 64 << 10;

// ---- the blocked tile (stride 1): R output channels x 2 vectors of output positions in
// registers, every tap read straight from a zero-padded copy of the input (no column matrix).
// In blocked_conv the positions are "wide" (row pitch wp of the padded input, wp - ow junk
// columns per row); direct_forward (conv_direct.cpp) lays its input out so that they are the
// output plane's own positions. Either way tap (c, i, j) of a tile is one pair of contiguous
// vector loads.

// out[r, t] = (bias ? bias[r] : 0) + sum_{q < nq} wq[q * R + r] * xp[offs[q] + t] for the
// wide positions t of `tiles` tiles of 2 vectors; out rows are ldo apart. With half_last the
// last tile computes its first vector only (the positions after it are past the plane). Not
// inlined: the 2R accumulators stay in vector registers.
template <int R, class T>
__attribute__((noinline)) void blocked_tiles(const T* __restrict xp, const int64_t* __restrict offs,
                                             int64_t nq, const T* __restrict wq, const T* bias,
                                             T* __restrict out, int64_t ldo, int64_t tiles,
                                             bool half_last) {
  constexpr int L = kVecBytes / sizeof(T);
  typedef T V __attribute__((vector_size(kVecBytes), aligned(sizeof(T)), may_alias));
  const int64_t full = half_last ? tiles - 1 : tiles;
  for (int64_t tile = 0; tile < full; ++tile) {
    V a0[R], a1[R];
    for (int r = 0; r < R; ++r) {
      a0[r] = splat<V>(bias ? bias[r] : T(0));
      a1[r] = a0[r];
    }
    const T* xt = xp + tile * 2 * L;
    const T* wr = wq;
    for (int64_t q = 0; q < nq; ++q, wr += R) {
      const T* xq = xt + offs[q];
      const V x0 = *reinterpret_cast<const V*>(xq);
      const V x1 = *reinterpret_cast<const V*>(xq + L);
      for (int r = 0; r < R; ++r) {
        const V wb = splat<V>(wr[r]);
        a0[r] += wb * x0;
        a1[r] += wb * x1;
      }
    }
    for (int r = 0; r < R; ++r) {
      *reinterpret_cast<V*>(out + r * ldo + tile * 2 * L) = a0[r];
      *reinterpret_cast<V*>(out + r * ldo + tile * 2 * L + L) = a1[r];
    }
  }
  if (full < tiles) {
    // NOTE: a 14x14 plane's wide positions fill 13 tiles and 2 positions of a 14th: its
    // second vector would be all junk (3.6% of the layer's forward and dx).
    V a0[R];
    for (int r = 0; r < R; ++r) a0[r] = splat<V>(bias ? bias[r] : T(0));
    const T* xt = xp + full * 2 * L;
    const T* wr = wq;
    for (int64_t q = 0; q < nq; ++q, wr += R) {
      const V x0 = *reinterpret_cast<const V*>(xt + offs[q]);
      for (int r = 0; r < R; ++r) a0[r] += splat<V>(wr[r]) * x0;
    }
    for (int r = 0; r < R; ++r) *reinterpret_cast<V*>(out + r * ldo + full * 2 * L) = a0[r];
  }
}

template <int R>
struct BlockedTiles {
  template <class T>
  static void run(const T* xp, const int64_t* offs, int64_t nq, const T* wq, const T* bias,
                  T* out, int64_t ldo, int64_t tiles, bool half_last) {
    blocked_tiles<R>(xp, offs, nq, wq, bias, out, ldo, tiles, half_last);
  }
};

// Output channels [o0, o0 + rows) of block b of `count` channels cut into blocks of at most
// kBlockRows: the blocks differ by at most one row (32 channels as 6,6,5,5,5,5 rather than
// 6,6,6,6,6,2, whose 2-row tile runs at a third of the speed: 8% of a 32-channel dx in one tile).
inline int64_t row_blocks(int64_t count) { return (count + kBlockRows - 1) / kBlockRows; }
inline void row_block(int64_t count, int64_t b, int64_t& o0, int& rows) {
  const int64_t nb = row_blocks(count), base = count / nb, extra = count % nb;
  o0 = b * base + std::min(b, extra);
  rows = int(base + (b < extra ? 1 : 0));
}

// A stride-1 correlation of one group's planes, as the blocked kernel runs it: `cin` input
// planes [h, w] padded by (pad_h, pad_w) on each side, taps (c, i, j) at dilation (dil_h, dil_w),
// `cout` output planes [oh, ow]. The padded planes are [hp, wp] with the data at column col0
// of each row, the first plane `lead` elements into the buffer (see data()).
// NOTE: when the padding is no wider than the kernel's reach (padding 1 on a 3x3: the common
// case), a row's right padding doubles as the next row's left one: wp = w + pad_w instead of
// w + 2 pad_w, so the wide rows carry half the junk columns (14x14 planes: 15 positions a row for
// 14 outputs instead of 16). Taps left of a row read the previous row's zeros.
struct BlockedConv {
  int64_t groups, cin, h, w, pad_h, pad_w, hp, wp, col0, lead, cout, oh, ow, nq, tiles, padded;
  std::vector<int64_t> offs;
  BlockedConv(int64_t groups_, int64_t cin_, int64_t h_, int64_t w_, int64_t pad_h_,
              int64_t pad_w_, int64_t cout_, int64_t kh, int64_t kw, int64_t dil_h,
              int64_t dil_w, size_t elem)
      : groups(groups_), cin(cin_), h(h_), w(w_), pad_h(pad_h_), pad_w(pad_w_),
        hp(h_ + 2 * pad_h_), cout(cout_), oh(hp - (kh - 1) * dil_h),
        ow(w_ + 2 * pad_w_ - (kw - 1) * dil_w), nq(cin_ * kh * kw) {
    const bool shared = pad_w <= (kw - 1) * dil_w;
    wp = shared ? w + pad_w : w + 2 * pad_w;
    col0 = shared ? 0 : pad_w;
    lead = shared ? pad_w : 0;
    for (int64_t c = 0; c < cin; ++c)
      for (int64_t i = 0; i < kh; ++i)
        for (int64_t j = 0; j < kw; ++j)
          offs.push_back(c * hp * wp + i * dil_h * wp + j * dil_w + col0 - pad_w);
    const int64_t per_tile = 2 * kVecBytes / int64_t(elem);
    tiles = (oh * wp + per_tile - 1) / per_tile;
    // The last tile reads past the last plane (into junk outputs only): zeros, not garbage.
    padded = lead + std::max(cin * hp * wp, offs.back() + tiles * per_tile);
  }
  // Where input row r of plane c goes in a padded buffer (xp: the buffer plus lead).
  int64_t data(int64_t c, int64_t r) const { return (c * hp + r + pad_h) * wp + col0; }
  int64_t blocks() const { return row_blocks(cout); }
  void block(int64_t b, int64_t& o0, int& rows) const { row_block(cout, b, o0, rows); }
};

// dst[c * ldd + r] = src[r * lds + c] for r < rows, c < cols.
// NOTE: square blocks through register shuffles for float (simd.h: 16x16 with AVX-512, 8x8 with
// AVX2): the scalar loop took a third of a 14x14 layer's dw pass.
template <class T>
void transpose_block(const T* src, int64_t lds, int64_t rows, int64_t cols, T* dst,
                     int64_t ldd) {
  int64_t r0 = 0, c0 = 0;
  if constexpr (std::is_same_v<T, float> && simd::kVector) {
    constexpr int64_t b = simd::kFloats;
    for (; r0 + b <= rows; r0 += b) {
      for (c0 = 0; c0 + b <= cols; c0 += b)
        simd::transpose_tile(src + r0 * lds + c0, lds, dst + c0 * ldd + r0, ldd);
      for (int64_t r = r0; r < r0 + b; ++r)
        for (int64_t c = c0; c < cols; ++c) dst[c * ldd + r] = src[r * lds + c];
    }
  }
  for (int64_t r = r0; r < rows; ++r)
    for (int64_t c = 0; c < cols; ++c) dst[c * ldd + r] = src[r * lds + c];
}

}  // namespace nnc::conv_impl
