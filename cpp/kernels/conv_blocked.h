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
  int64_t blocks() const { return (cout + kBlockRows - 1) / kBlockRows; }
  // Output channels [o0, o0 + rows) of block b: the blocks differ by at most one row (32
  // channels as 6,6,5,5,5,5 rather than 6,6,6,6,6,2, whose 2-row tile runs at a third of the
  // speed: 8% of a 32-channel dx in one tile).
  void block(int64_t b, int64_t& o0, int& rows) const {
    const int64_t nb = blocks(), base = cout / nb, extra = cout % nb;
    o0 = b * base + std::min(b, extra);
    rows = int(base + (b < extra ? 1 : 0));
  }
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
