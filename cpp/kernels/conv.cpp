// The conv family's entry points: argument checks (conv2d_shape) and the dispatch that picks one
// kernel per shape (conv_direct.cpp, conv_blocked.cpp, conv_blocked_dw.cpp, conv_im2col.cpp).
#include "kernels/conv.h"

#include <algorithm>
#include <string>

#include "common/check.h"
#include "common/checked.h"
#include "kernels/conv_blocked.h"
#include "kernels/conv_util.h"

namespace nnc {

// ---- conv2d ---------------------------------------------------------------------------------

Conv2dShape conv2d_shape(int64_t n, int64_t c, int64_t h, int64_t w, int64_t k, int64_t wc,
                         int64_t kh, int64_t kw, int64_t stride_h, int64_t stride_w,
                         int64_t pad_h, int64_t pad_w, int64_t dil_h, int64_t dil_w,
                         int64_t groups) {
  const char* op = "conv2d";
  const std::string xs = shape_str({n, c, h, w}), ws = shape_str({k, wc, kh, kw});
  NNC_CHECK(n > 0 && c > 0 && h > 0 && w > 0, op, "empty input of shape ", xs);
  NNC_CHECK(k > 0 && wc > 0 && kh > 0 && kw > 0, op, "empty weight of shape ", ws);
  NNC_CHECK(stride_h > 0 && stride_w > 0, op, "stride must be positive, got (", stride_h, ", ",
            stride_w, ")");
  NNC_CHECK(pad_h >= 0 && pad_w >= 0, op, "padding must be non-negative, got (", pad_h, ", ",
            pad_w, ")");
  NNC_CHECK(dil_h > 0 && dil_w > 0, op, "dilation must be positive, got (", dil_h, ", ", dil_w,
            ")");
  NNC_CHECK(groups > 0, op, "groups must be positive, got ", groups);
  NNC_CHECK(c % groups == 0 && k % groups == 0, op, "input channels ", c, " and output channels ",
            k, " must both be divisible by groups=", groups, ": input ", xs, ", weight ", ws);
  NNC_CHECK(wc * groups == c, op, "weight of shape ", ws, " expects ", wc * groups,
            " input channels (groups=", groups, "), but input of shape ", xs, " has ", c);
  // NOTE: checked, so a huge padding or dilation is an error here instead of a wrapped size
  // (padding 2^63-1 once made hp negative and the padded copy wrote past its buffer).
  const int64_t ekh = checked_add(op, "dilation", checked_mul(op, "dilation", kh - 1, dil_h), 1);
  const int64_t ekw = checked_add(op, "dilation", checked_mul(op, "dilation", kw - 1, dil_w), 1);
  const int64_t hp = checked_add(op, "padding", h, checked_mul(op, "padding", 2, pad_h));
  const int64_t wp = checked_add(op, "padding", w, checked_mul(op, "padding", 2, pad_w));
  NNC_CHECK(ekh <= hp && ekw <= wp, op, "kernel (", ekh, ", ", ekw,
            ") (dilated) is larger than the padded input (", hp, ", ", wp, "): input ", xs,
            ", weight ", ws);
  // NOTE: a stride past the padded input gives one output position, as the padded size does;
  // clamped so the kernels' window arithmetic (pad + stride) cannot overflow.
  stride_h = std::min(stride_h, hp);
  stride_w = std::min(stride_w, wp);
  const int64_t oh = (hp - ekh) / stride_h + 1, ow = (wp - ekw) / stride_w + 1;
  // The kernels' buffers: the output, the zero-padded input and the im2col columns.
  checked_numel(op, "padding", {n, c, hp, wp});
  checked_numel(op, "output", {n, k, oh, ow});
  checked_numel(op, "output", {c, kh, kw, oh, ow});
  return {n, c, h, w, k, kh, kw, oh, ow, stride_h, stride_w, pad_h, pad_w, dil_h, dil_w, groups};
}

namespace {

using namespace conv_impl;

// NOTE: measured (bench/bench_cnn.py, 2-core Zen 3): with few input taps per output (the
// 1-channel first layer of an MNIST net, cg*kh*kw = 9) the GEMM's inner dimension is too short
// for Eigen to reach speed, and the direct row kernel runs 2-4x faster than im2col + gemm; from
// a few channels on, the blocked kernel (stride 1) or im2col + gemm wins. kDirectTaps is the
// crossover (conv_util.h).

inline bool use_direct(const Conv2dShape& s) {
  return (s.c / s.groups) * s.kh * s.kw <= kDirectTaps;
}

// NOTE: the direct forward at stride 1 (conv_direct.cpp: the blocked tile over column-shifted
// input copies) has no junk columns and writes y without a copy out of a buffer. Measured (AVX-512
// build, kernels alone, 1 / 2 threads, us, blocked -> direct): 2->32 28x28 N64 783 / 513 ->
// 582 / 298; 3->32 32x32 N64 1391 / 744 -> 1175 / 562; 4->32 28x28 N64 1325 / 825 ->
// 1117 / 557; 8->32 28x28 N64 2422 / 1209 -> 2219 / 1095; 3->32 224x224 N4 5286 / 2638 ->
// 3763 / 2186; 16->32 28x28 level (4600 / 2250). Hence up to 8 channels of 3x3 taps; pointwise
// layers keep the GEMM.
constexpr int64_t kDirectForwardTaps = 72;

inline bool use_direct_forward(const Conv2dShape& s) {
  if (use_direct(s)) return true;
  return s.stride_h == 1 && s.stride_w == 1 && !is_pointwise(s) &&
         (s.c / s.groups) * s.kh * s.kw <= kDirectForwardTaps;
}

// NOTE: the direct dw (and db) at stride 1 sums over the same shifted copies in chunks of 9
// taps, one pass over dy each. Measured as above (blocked -> direct, dw+db): 2->32 28x28 N64
// 743 / 452 -> 671 / 349; 3->32 32x32 N64 1762 / 924 -> 1272 / 643; 3->32 224x224 N4 6556 /
// 3830 -> 5052 / 2579; 4->32 28x28 level; 6->16 14x14 469 / 247 -> 538 / 293 and 8->32 28x28
// 2518 / 1241 -> 2970 / 1405 (the blocked kernel's tile wins once the taps fill it).
constexpr int64_t kDirectWeightGradTaps = 27;

inline bool use_direct_weight_grad(const Conv2dShape& s) {
  return s.stride_h == 1 && s.stride_w == 1 && !is_pointwise(s) &&
         (s.c / s.groups) * s.kh * s.kw <= kDirectWeightGradTaps;
}

// NOTE: measured (bench/bench_cnn.py shapes and 7x7 planes, 1 and 2 threads, alternating runs):
// the blocked kernel ran 1.25-1.5x faster than im2col + gemm on 14x14 and 7x7 planes (forward,
// dx and dw) and level to 1.2x on 56x56, even with junk columns in its wide rows. Pointwise
// layers need no im2col and keep the GEMM; outputs much narrower than the padded rows would
// waste most of the kernel's work on junk columns.
inline bool use_blocked(const Conv2dShape& s, bool input_grad) {
  if (s.stride_h != 1 || s.stride_w != 1 || is_pointwise(s)) return false;
  if (s.w + 2 * s.pad_w > 2 * s.ow) return false;
  if (input_grad && (s.pad_h > (s.kh - 1) * s.dil_h || s.pad_w > (s.kw - 1) * s.dil_w))
    return false;
  return true;
}

// NOTE: Winograd F(2x2, 3x3) runs 2.25x fewer multiply-adds than the blocked kernel, but pads
// channels to whole register tiles (2 vectors: 32 floats with AVX-512, 16 with AVX2) and pays
// for its transforms per tile and channel. Measured (1 thread, AVX-512 build, kernels alone, ms
// blocked -> Winograd, fwd / dx / dw): 32->64 14x14 5.2 -> 2.8-3.2 each; 64->64 56x56 70 -> 43;
// 32->32 7x7 0.76 -> 0.58-0.63; 128->128 28x28 17.5 -> 9.7 (dw 21 -> 16); but 16->32 14x14
// 1.33 -> 1.08 / 1.27 -> 1.45 / 1.24 -> 1.49 and 8->8 or 16->16 28x28 up to 5x slower (padded
// channels, transforms per tile outweigh the saved products). Hence: at least 32 channels on
// both sides, padded by at most a quarter.
inline bool winograd_channels(int64_t ch) {
  constexpr int64_t tile = 2 * kVecBytes / 4;  // floats per register tile row
  const int64_t padded = (ch + tile - 1) / tile * tile;
  return ch >= 32 && 4 * (padded - ch) <= padded;
}

inline bool use_winograd(const Conv2dShape& s, bool input_grad) {
  if (s.kh != 3 || s.kw != 3 || s.stride_h != 1 || s.stride_w != 1 || s.dil_h != 1 ||
      s.dil_w != 1 || s.groups != 1)
    return false;
  if (input_grad && (s.pad_h > 2 || s.pad_w > 2)) return false;
  return winograd_channels(s.c) && winograd_channels(s.k);
}

// NOTE: Winograd F(4x4, 3x3) (conv_winograd43.cpp) runs 36 multiplies per 4x4 outputs against
// F(2x2, 3x3)'s 16 per 2x2, but rounds planes up to whole 4x4 tiles and transforms 36 weight
// slices per call (a fixed cost). Measured against F(2x2, 3x3) (AVX-512 build, kernels alone,
// fwd / dx, 1 thread; 2 threads in brackets): N64 32->64 14x14 1.24 / 1.15 (1.22 / 1.14);
// N16 64->64 28x28 1.44 / 1.45 (1.40 / 1.44); N1 64->64 28x28 1.18 / 1.14 (1.26 / 1.25);
// N64 32->32 7x7 1.37 (1.29); N16 7x7 1.22 (1.05); N8 14x14 1.12 / 1.07 (1.06 / 0.97);
// N4 14x14 1.0 (0.9); N8 7x7 1.07 (0.92); N2 7x7 or N1 14x14 0.75 (0.8); N64 10x10 or 9x9
// (1.23x fewer multiplies) 1.05 (1.01), N16 0.92-0.99; N64 5x5 (none fewer) 0.85.
// Hence: at least 1.3x fewer multiplies, and enough tiles for the saving to pay the fixed cost
// (tiles x (ratio - 1) >= 36: 14x14 from 7 images, 7x7 from 13, 28x28 from 1). The AVX2 build
// gains alike (N64 14x14 1.23 / 1.21, N64 7x7 1.6, N16 28x28 1.5, 1 thread).
inline bool use_winograd43(const Conv2dShape& s, bool input_grad) {
  if (!use_winograd(s, input_grad)) return false;
  const int64_t oh = input_grad ? s.h : s.oh, ow = input_grad ? s.w : s.ow;
  const double t23 = double((oh + 1) / 2) * double((ow + 1) / 2);
  const double t43 = double((oh + 3) / 4) * double((ow + 3) / 4);
  const double ratio = 16 * t23 / (36 * t43);
  return ratio >= 1.3 && double(s.n) * t43 * (ratio - 1) >= 36;
}

}  // namespace

// The dispatch: few taps per output (the 1-channel first layer; at stride 1 the forward up to
// 72 taps, use_direct_forward, and dw up to 27, use_direct_weight_grad) -> direct
// (conv_direct.cpp);
// 3x3 stride-1 single-group layers with >= 32 channels on both sides -> Winograd: y and dx by
// F(4x4, 3x3) where it saves enough (conv_winograd43.cpp; use_winograd43), else F(2x2, 3x3)
// (conv_winograd.cpp, also dw; use_winograd); other stride-1 layers whose padded rows are
// not much wider than their outputs -> blocked (conv_blocked.cpp for y and dx,
// conv_blocked_dw.cpp for dw and db); the rest (strided, dilated past the padding, pointwise)
// -> im2col + gemm (conv_im2col.cpp).
// NOTE: measured on the 2-core Zen 4 (AVX-512 build, kernels alone, GFLOP/s at 1 / 2 threads,
// peak 117 / 228): blocked with 12x2 zmm tiles 56x56 64->64 fwd 103 / 210, dx 106 / 209, dw+db
// 97 / 196 (6x2 ymm tiles: 93 / 169, 93 / 165, 82 / 157); 14x14 32->64 fwd 89 / 184, dx 83 /
// 187, dw+db 88 / 181; direct 1->32 28x28 N64 fwd 89 / 173, dw+db 87 / 160 (AVX2 build: 93 /
// 137, 70 / 131).
template <class T>
void conv2d_forward(const T* x, const T* w, const T* b, T* y, const Conv2dShape& s) {
  if (use_direct_forward(s))
    direct_forward(x, w, b, y, s);
  else if (use_winograd43(s, false))
    winograd43_forward(x, w, b, y, s);
  else if (use_winograd(s, false))
    winograd_forward(x, w, b, y, s);
  else if (use_blocked(s, false))
    blocked_forward(x, w, b, y, s);
  else
    im2col_forward(x, w, b, y, s);
}

template <class T>
void conv2d_backward(const T* dy, const T* x, const T* w, T* dx, T* dw, T* db,
                     const Conv2dShape& s) {
  if (use_direct(s)) {
    direct_backward(dy, x, w, dx, dw, db, s);
    return;
  }
  if (dw && use_direct_weight_grad(s)) {
    direct_weight_grad(dy, x, dw, db, s);
    dw = db = nullptr;
  }
  if (dx && use_winograd43(s, true)) {
    winograd43_input_grad(dy, w, dx, s);
    dx = nullptr;
  }
  if (dx && use_winograd(s, true)) {
    winograd_input_grad(dy, w, dx, s);
    dx = nullptr;
  }
  if (dw && use_winograd(s, false)) {
    winograd_weight_grad(dy, x, dw, db, s);
    dw = db = nullptr;
  }
  if (dx && use_blocked(s, true)) {
    blocked_input_grad(dy, w, dx, s);
    dx = nullptr;
  }
  if (dw && use_blocked(s, false)) {
    blocked_weight_grad(dy, x, dw, db, s);
    dw = db = nullptr;
  }
  if (dx || dw) im2col_backward(dy, x, w, dx, dw, s);
  if (db) bias_grad(dy, db, s);
}

#define NNC_INSTANTIATE(T)                                                                     \
  template void conv2d_forward<T>(const T*, const T*, const T*, T*, const Conv2dShape&);       \
  template void conv2d_backward<T>(const T*, const T*, const T*, T*, T*, T*,                   \
                                   const Conv2dShape&);
NNC_INSTANTIATE(float)
NNC_INSTANTIATE(double)
#undef NNC_INSTANTIATE

}  // namespace nnc
