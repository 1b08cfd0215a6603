// The im2col conv kernels: a column matrix per block of output positions, then gemm (any
// stride, dilation and groups; pointwise layers skip the column matrix).
#include <algorithm>
#include <cstring>
#include <type_traits>
#include <vector>

#include "common/parallel.h"
#include "kernels/conv_util.h"
#include "kernels/linear.h"

namespace nnc::conv_impl {

namespace {

// ---- im2col + gemm: col[(c*kh + i)*kw + j, oh*ow + o] = x[c, oh*s-p+i*d, o*s-p+j*d] (or 0).

// NOTE: a 3x3 layer on 56x56 has a 7 MB column matrix per image (576 x 3136 floats): written by
// im2col, then read by the GEMM, it streams through memory twice. Blocks of output positions
// (all rows, nb columns) keep the block in L2 between im2col and the GEMM (and for col2im).
constexpr int64_t kColBlockBytes = 256 << 10;

inline int64_t col_block(const Conv2dShape& s, int64_t rows, int64_t elem) {
  const int64_t plane = s.oh * s.ow;
  const int64_t nb = std::max<int64_t>(64, kColBlockBytes / (elem * rows) / 16 * 16);
  return nb >= plane ? plane : nb;
}

// Visits the output rows crossed by positions [p0, p0 + nb): f(oh, o0, o1, t0) for the columns
// [o0, o1) of output row oh, which land at block column t0.
template <class F>
void for_segments(const Conv2dShape& s, int64_t p0, int64_t nb, const F& f) {
  int64_t oh = p0 / s.ow, o0 = p0 % s.ow;
  for (int64_t t = 0; t < nb; ++oh, o0 = 0) {
    const int64_t o1 = std::min(s.ow, o0 + nb - t);
    f(oh, o0, o1, t);
    t += o1 - o0;
  }
}

// col[r, t] for the nb positions p0 + t of one image; rows `pitch` apart.
template <class T>
void im2col(const T* xg, T* col, const Conv2dShape& s, int64_t p0, int64_t nb, int64_t pitch) {
  const int64_t cg = s.c / s.groups;
  for (int64_t cc = 0; cc < cg; ++cc)
    for (int64_t i = 0; i < s.kh; ++i)
      for (int64_t j = 0; j < s.kw; ++j) {
        T* dst = col + ((cc * s.kh + i) * s.kw + j) * pitch;
        const int64_t off = j * s.dil_w - s.pad_w;
        int64_t lo, hi;
        valid_range(off, s.stride_w, s.w, s.ow, lo, hi);
        for_segments(s, p0, nb, [&](int64_t oh, int64_t o0, int64_t o1, int64_t t0) {
          T* d = dst + t0 - o0;  // d[o] for o in [o0, o1)
          const int64_t ih = oh * s.stride_h - s.pad_h + i * s.dil_h;
          if (ih < 0 || ih >= s.h) {
            zero_row(d + o0, o1 - o0);
            return;
          }
          const T* xr = xg + (cc * s.h + ih) * s.w + off;
          // Zeros left of the input, the copied run [a, e), zeros right of it.
          const int64_t a = std::clamp(lo, o0, o1), e = std::clamp(hi, a, o1);
          zero_row(d + o0, a - o0);
          if (s.stride_w == 1) {
            copy_row(xr + a, d + a, e - a);
          } else {
            for (int64_t o = a; o < e; ++o) d[o] = xr[o * s.stride_w];
          }
          zero_row(d + e, o1 - e);
        });
      }
}

// dxg[c, ih, iw] += col[...] for every (tap, output) of the block that reads it: the adjoint of
// im2col.
template <class T>
void col2im(const T* col, T* dxg, const Conv2dShape& s, int64_t p0, int64_t nb, int64_t pitch) {
  const int64_t cg = s.c / s.groups;
  for (int64_t cc = 0; cc < cg; ++cc)
    for (int64_t i = 0; i < s.kh; ++i)
      for (int64_t j = 0; j < s.kw; ++j) {
        const T* src = col + ((cc * s.kh + i) * s.kw + j) * pitch;
        const int64_t off = j * s.dil_w - s.pad_w;
        int64_t lo, hi;
        valid_range(off, s.stride_w, s.w, s.ow, lo, hi);
        for_segments(s, p0, nb, [&](int64_t oh, int64_t o0, int64_t o1, int64_t t0) {
          const int64_t ih = oh * s.stride_h - s.pad_h + i * s.dil_h;
          if (ih < 0 || ih >= s.h) return;
          const T* __restrict c = src + t0 - o0;
          T* __restrict xr = dxg + (cc * s.h + ih) * s.w + off;
          const int64_t a = std::max(o0, lo), e = std::min(o1, hi);
          if (s.stride_w == 1) {
            for (int64_t o = a; o < e; ++o) xr[o] += c[o];
          } else {
            for (int64_t o = a; o < e; ++o) xr[o * s.stride_w] += c[o];
          }
        });
      }
}


// NOTE: a 14x14 plane makes GEMMs only 196 columns wide (196 deep for dw), where Eigen ran
// 10-20% slower than on wider ones (measured alone: 64x196x288 against 64x784x288). Planes that
// fit one column block go through the GEMMs several images at a time, about this many columns.
// (Stride-1 layers now take the blocked kernel; this serves strided ones.)
constexpr int64_t kGroupColumns = 1024;

inline int64_t images_per_gemm(const Conv2dShape& s, int64_t nb) {
  const int64_t plane = s.oh * s.ow;
  if (is_pointwise(s) || nb < plane) return 1;
  return std::clamp<int64_t>(kGroupColumns / plane, 1, 8);
}

// Per-thread scratch of the im2col kernels: the column block and an output (or dy) block.
template <class T>
struct ColScratch {
  std::vector<T> buf;
  int64_t col_size, out_size;
  ColScratch(int threads, int64_t col, int64_t out)
      : buf(threads * (col + out)), col_size(col), out_size(out) {}
  T* col(int t) { return buf.data() + t * (col_size + out_size); }
  T* out(int t) { return col(t) + col_size; }
};

// Column blocking of one im2col call: nb positions per block within an image, or `group` whole
// images side by side (width = group * plane columns).
struct ColPlan {
  int64_t nb, group, width;
  bool pointwise, staged;  // staged: GEMM outputs (or dy) go through a scratch block
};

inline ColPlan col_plan(const Conv2dShape& s, int64_t rows, size_t elem) {
  const int64_t plane = s.oh * s.ow;
  const bool pointwise = is_pointwise(s);
  const int64_t nb = pointwise ? plane : col_block(s, rows, int64_t(elem));
  const int64_t group = images_per_gemm(s, nb);
  return {nb, group, group > 1 ? group * plane : nb, pointwise, nb < plane || group > 1};
}

}  // namespace

template <class T>
void im2col_forward(const T* x, const T* w, const T* b, T* y, const Conv2dShape& s) {
  const int64_t cg = s.c / s.groups, kg = s.k / s.groups, plane = s.oh * s.ow;
  const int64_t rows = cg * s.kh * s.kw, in_plane = s.h * s.w;
  const ColPlan plan = col_plan(s, rows, sizeof(T));
  const int threads = batch_threads(s, s.n * s.k * plane * rows);
  ColScratch<T> scratch(threads, plan.pointwise ? 0 : rows * plan.width,
                        plan.staged ? kg * plan.width : 0);
  // out[k, q] (pitch `cols`) plus the bias into y's plane k of image n from position p0 on.
  auto unstage = [&](const T* out, int64_t cols, int64_t n, int64_t g, int64_t p0, int64_t len) {
    for (int64_t k = 0; k < kg; ++k) {
      const T bias = b ? b[g * kg + k] : T(0);
      const T* __restrict src = out + k * cols;
      T* __restrict dst = y + (n * s.k + g * kg + k) * plane + p0;
      for (int64_t q = 0; q < len; ++q) dst[q] = src[q] + bias;
    }
  };
  auto run = [&](int t, int64_t n0, int64_t n1) {
    T* col = scratch.col(t);
    T* out = scratch.out(t);
    for (int64_t na = n0; na < n1; na += plan.group) {
      const int64_t count = std::min(plan.group, n1 - na);
      for (int64_t g = 0; g < s.groups; ++g) {
        const T* wg = w + g * kg * rows;
        if (plan.group > 1) {
          const int64_t cols = count * plane;
          for (int64_t i = 0; i < count; ++i)
            im2col(x + ((na + i) * s.c + g * cg) * in_plane, col + i * plane, s, 0, plane, cols);
          gemm<T>(false, false, kg, cols, rows, wg, col, out, false);
          for (int64_t i = 0; i < count; ++i) unstage(out + i * plane, cols, na + i, g, 0, plane);
          continue;
        }
        const T* xg = x + (na * s.c + g * cg) * in_plane;
        T* yg = y + (na * s.k + g * kg) * plane;
        for (int64_t p0 = 0; p0 < plane; p0 += plan.nb) {
          const int64_t cols = std::min(plan.nb, plane - p0);
          if (!plan.pointwise) im2col(xg, col, s, p0, cols, cols);
          const T* bmat = plan.pointwise ? xg : col;
          if (plan.staged) {
            gemm<T>(false, false, kg, cols, rows, wg, bmat, out, false);
            unstage(out, cols, na, g, p0, cols);
            continue;
          }
          if (b)
            for (int64_t k = 0; k < kg; ++k) std::fill_n(yg + k * plane, plane, b[g * kg + k]);
          gemm<T>(false, false, kg, cols, rows, wg, bmat, yg, b != nullptr);
        }
      }
    }
  };
  // No sums across images here, and image groups start at multiples of plan.group (see
  // for_image_runs): any run count gives the same bits.
  const int64_t runs = threads > 1 ? std::min<int64_t>(s.n, 4 * int64_t(threads)) : 1;
  for_image_runs(
      s.n, runs, threads, [&](int64_t, int slot, int64_t n0, int64_t n1) { run(slot, n0, n1); },
      plan.group);
}

template <class T>
void im2col_backward(const T* dy, const T* x, const T* w, T* dx, T* dw, const Conv2dShape& s) {
  const int64_t cg = s.c / s.groups, kg = s.k / s.groups, plane = s.oh * s.ow;
  const int64_t rows = cg * s.kh * s.kw, wsize = s.k * rows, in_plane = s.h * s.w;
  const ColPlan plan = col_plan(s, rows, sizeof(T));
  const int threads = batch_threads(s, 2 * s.n * s.k * plane * rows);
  ColScratch<T> scratch(threads, plan.pointwise ? 0 : rows * plan.width,
                        plan.staged ? kg * plan.width : 0);
  // NOTE: each run of images (image_runs) sums dw into its own partial (the first into dw); the
  // partials are then added in run order, so dw is the same bits at any thread count.
  const int64_t runs = dw ? image_runs(s.n, wsize) : std::min<int64_t>(s.n, 4 * int64_t(threads));
  std::vector<T> partv(dw ? (runs - 1) * wsize : 0);
  auto run = [&](int t, int64_t r, int64_t n0, int64_t n1) {
    T* col = scratch.col(t);
    T* dwt = r == 0 ? dw : partv.data() + (r - 1) * wsize;
    for (int64_t na = n0; na < n1; na += plan.group) {
      const int64_t count = std::min(plan.group, n1 - na);
      for (int64_t g = 0; g < s.groups; ++g) {
        const T* wg = w + g * kg * rows;
        T* dwg = dwt + g * kg * rows;
        if (plan.group > 1) {
          // dy of `count` images side by side, then the two GEMMs over all their columns.
          const int64_t cols = count * plane;
          T* dyb = scratch.out(t);
          for (int64_t i = 0; i < count; ++i)
            for (int64_t k = 0; k < kg; ++k)
              copy_row(dy + ((na + i) * s.k + g * kg + k) * plane, dyb + k * cols + i * plane,
                       plane);
          if (dw) {
            for (int64_t i = 0; i < count; ++i)
              im2col(x + ((na + i) * s.c + g * cg) * in_plane, col + i * plane, s, 0, plane,
                     cols);
            gemm<T>(false, true, kg, rows, cols, dyb, col, dwg, na > n0);
          }
          if (dx) {
            gemm<T>(true, false, rows, cols, kg, wg, dyb, col, false);
            for (int64_t i = 0; i < count; ++i) {
              T* dxg = dx + ((na + i) * s.c + g * cg) * in_plane;
              std::fill_n(dxg, cg * in_plane, T(0));
              col2im(col + i * plane, dxg, s, 0, plane, cols);
            }
          }
          continue;
        }
        const T* xg = x + (na * s.c + g * cg) * in_plane;
        const T* dyg = dy + (na * s.k + g * kg) * plane;
        T* dxg = dx ? dx + (na * s.c + g * cg) * in_plane : nullptr;
        if (plan.pointwise) {
          if (dw) gemm<T>(false, true, kg, rows, plane, dyg, xg, dwg, na > n0);
          if (dx) gemm<T>(true, false, rows, plane, kg, wg, dyg, dxg, false);
          continue;
        }
        if (dx) std::fill_n(dxg, cg * in_plane, T(0));
        for (int64_t p0 = 0; p0 < plane; p0 += plan.nb) {
          const int64_t cols = std::min(plan.nb, plane - p0);
          // dy's block columns, contiguous (the GEMMs take no leading dimension).
          const T* dyb = dyg;
          if (plan.staged) {
            T* out = scratch.out(t);
            for (int64_t k = 0; k < kg; ++k) copy_row(dyg + k * plane + p0, out + k * cols, cols);
            dyb = out;
          }
          if (dw) {
            im2col(xg, col, s, p0, cols, cols);
            gemm<T>(false, true, kg, rows, cols, dyb, col, dwg, na > n0 || p0 > 0);
          }
          if (dx) {
            gemm<T>(true, false, rows, cols, kg, wg, dyb, col, false);
            col2im(col, dxg, s, p0, cols, cols);
          }
        }
      }
    }
    if (dw && n0 == n1) std::fill_n(dwt, wsize, T(0));
  };
  for_image_runs(
      s.n, runs, threads,
      [&](int64_t r, int slot, int64_t n0, int64_t n1) { run(slot, r, n0, n1); }, plan.group);
  if (dw && runs > 1)
    // Blocks of dw's elements, each adding the partials in run order.
    parallel_blocks(wsize, 4096, wsize * runs, [&](int64_t e0, int64_t e1) {
      for (int64_t p = 1; p < runs; ++p) {
        const T* part = partv.data() + (p - 1) * wsize;
        for (int64_t e = e0; e < e1; ++e) dw[e] += part[e];
      }
    });
}
#define NNC_INSTANTIATE(T)                                                                 \
  template void im2col_forward<T>(const T*, const T*, const T*, T*, const Conv2dShape&);   \
  template void im2col_backward<T>(const T*, const T*, const T*, T*, T*, const Conv2dShape&);
NNC_INSTANTIATE(float)
NNC_INSTANTIATE(double)
#undef NNC_INSTANTIATE

}  // namespace nnc::conv_impl
