// Winograd F(2x2, 3x3) conv kernels (3x3, stride 1, no dilation, one group): forward, input
// gradient and weight gradient.
//
// Each 2x2 block of outputs ("tile") is A^T [(G g G^T) . (B^T d B)] A for its 4x4 input patch d:
// 16 multiplies per tile and channel pair instead of 36, so the channel sums become 16 GEMMs (one
// per element xi of the 4x4 transformed tile) of 2.25x fewer multiply-adds than a direct conv.
// The transforms only add and subtract (and halve, in G), so float32 results stay within a few
// ulps of the direct sums. Planes are transposed to channels-last per image so every transform
// runs on whole vectors of channels; the GEMMs run on register tiles of 2 vectors x R rows.
#include <algorithm>
#include <vector>

#include "kernels/conv_winograd.h"

namespace nnc::conv_impl {

using namespace wino;

namespace {

// F(2x2, 3x3) at the points 0, 1, -1, inf: B^T, G and A^T add, subtract and halve only.
struct F23 {
  static constexpr int M = 2, A = 4;
  template <class T>
  using W = T;  // the halvings are exact
  template <class V>
  static void in(const V (&d)[4], V (&o)[4]) {
    o[0] = d[0] - d[2];
    o[1] = d[1] + d[2];
    o[2] = d[2] - d[1];
    o[3] = d[1] - d[3];
  }
  template <class S>
  static void wt(const S (&f)[3], S (&o)[4]) {
    o[0] = f[0];
    o[1] = S(0.5) * (f[0] + f[1] + f[2]);
    o[2] = S(0.5) * (f[0] - f[1] + f[2]);
    o[3] = f[2];
  }
  template <class V>
  static void out(const V (&m)[4], V (&o)[2]) {
    o[0] = m[0] + m[1] + m[2];
    o[1] = m[1] - m[2] - m[3];
  }
};

}  // namespace

template <class T>
void winograd_forward(const T* x, const T* w, const T* b, T* y, const Conv2dShape& s) {
  forward_with<F23>(x, w, b, y, s);
}

template <class T>
void winograd_input_grad(const T* dy, const T* w, T* dx, const Conv2dShape& s) {
  input_grad_with<F23>(dy, w, dx, s);
}

// dw = G^T [sum over tiles of (A dY A^T) . (B^T d B)] G, the sum per xi a GEMM over the tiles
// (dW's adjoint of the forward's transforms); db = sum dy. Threading: each run of images
// (image_runs) sums into its own partial, the partials added in run order: the same bits at any
// thread count.
template <class T>
void winograd_weight_grad(const T* dy, const T* x, T* dw, T* db, const Conv2dShape& s) {
  constexpr int L = kVecBytes / sizeof(T);
  typedef T V __attribute__((vector_size(kVecBytes), aligned(sizeof(T)), may_alias));
  const Wino g(2, s.c, s.h, s.w, s.pad_h, s.pad_w, s.k, sizeof(T));
  const int64_t rows = chunk_rows(g, 4, sizeof(T)), chunk = rows * g.tw, plane = g.oh * g.ow;
  const int64_t ow2 = 2 * g.tw, xsz = g.hp2 * g.wp2 * g.cp;
  const int64_t ysz = 2 * g.th * ow2 * g.kp, tsz = std::max(g.h * g.w * g.cp, plane * g.kp);
  const int64_t part = 16 * g.kp * g.cp + g.kp;  // S[xi, k, c], then db
  const int threads = batch_threads(s, s.n * s.k * s.c * plane * 9);
  const int64_t runs = image_runs(s.n, part);
  const int64_t per = xsz + ysz + tsz + 16 * chunk * (g.cp + g.kp);
  std::vector<T> bufv(threads * per, T(0)), partv(runs * part, T(0));
  for_image_runs(s.n, runs, threads, [&](int64_t run, int slot, int64_t n0, int64_t n1) {
    T* xc = bufv.data() + slot * per;
    T* yc = xc + xsz;  // dy channels-last [2 th, 2 tw, kp], zero past oh, ow
    T* tmp = yc + ysz;
    T* v = tmp + tsz;
    T* dm = v + 16 * chunk * g.cp;
    T* acc = partv.data() + run * part;
    for (int64_t img = n0; img < n1; ++img) {
      to_channels_last(x + img * s.c * s.h * s.w, g, tmp, xc);
      const T* dyi = dy + img * s.k * plane;
      transpose_block(dyi, plane, s.k, plane, tmp, g.kp);
      for (int64_t r = 0; r < g.oh; ++r)
        copy_row(tmp + r * g.ow * g.kp, yc + r * ow2 * g.kp, g.ow * g.kp);
      if (db) {
        for (int64_t k = 0; k < g.kp; k += L) {
          V sum = *reinterpret_cast<const V*>(acc + 16 * g.kp * g.cp + k);
          for (int64_t p = 0; p < plane; ++p)
            sum += *reinterpret_cast<const V*>(tmp + p * g.kp + k);
          *reinterpret_cast<V*>(acc + 16 * g.kp * g.cp + k) = sum;
        }
      }
      for (int64_t r0 = 0; r0 < g.th; r0 += rows) {
        const int64_t r1 = std::min(g.th, r0 + rows), t0 = r0 * g.tw, nt = (r1 - r0) * g.tw;
        input_transform<F23>(xc, g, t0, t0 + nt, v, nt * g.cp);
        // dm[xi, t, k] = (A dY A^T)[xi] for the 2x2 output gradients dY of tile t.
        const int64_t xs = nt * g.kp;
        for (int64_t t = 0; t < nt; ++t) {
          const int64_t tr = r0 + t / g.tw, tc = t % g.tw;
          const T* p = yc + (2 * tr * ow2 + 2 * tc) * g.kp;
          T* o = dm + t * g.kp;
          for (int64_t k = 0; k < g.kp; k += L) {
            const V g00 = *reinterpret_cast<const V*>(p + k);
            const V g01 = *reinterpret_cast<const V*>(p + g.kp + k);
            const V g10 = *reinterpret_cast<const V*>(p + ow2 * g.kp + k);
            const V g11 = *reinterpret_cast<const V*>(p + (ow2 + 1) * g.kp + k);
            const V rr[4][2] = {{g00, g01}, {g00 + g10, g01 + g11}, {g00 - g10, g01 - g11},
                                {-g10, -g11}};
            for (int i = 0; i < 4; ++i) {
              *reinterpret_cast<V*>(o + (i * 4 + 0) * xs + k) = rr[i][0];
              *reinterpret_cast<V*>(o + (i * 4 + 1) * xs + k) = rr[i][0] + rr[i][1];
              *reinterpret_cast<V*>(o + (i * 4 + 2) * xs + k) = rr[i][0] - rr[i][1];
              *reinterpret_cast<V*>(o + (i * 4 + 3) * xs + k) = -rr[i][1];
            }
          }
        }
        // S[xi, k, c] += sum_t dm[xi, t, k] * v[xi, t, c]
        for (int64_t xi = 0; xi < 16; ++xi) {
          // The run's next image, a sixteenth per GEMM, on the first chunk (see prefetch_l2).
          if (r0 == 0 && img + 1 < n1) {
            prefetch_l2<false>(x + (img + 1) * s.c * s.h * s.w, s.c * s.h * s.w, xi, 16);
            prefetch_l2<false>(dy + (img + 1) * s.k * plane, s.k * plane, xi, 16);
          }
          wgemm<true>(dm + xi * xs, g.kp, s.k, v + xi * nt * g.cp, g.cp, g.cp, nt,
                     acc + xi * g.kp * g.cp, g.cp, true);
        }
      }
    }
  });
  // The runs' partials in order, then dW = G^T S G.
  std::vector<T> sum(part);
  for (int64_t e = 0; e < part; ++e) {
    T a = partv[e];
    for (int64_t r = 1; r < runs; ++r) a += partv[r * part + e];
    sum[e] = a;
  }
  for (int64_t k = 0; k < s.k; ++k) {
    for (int64_t c = 0; c < s.c; ++c) {
      T m[4][4], gm[3][4];
      for (int xi = 0; xi < 16; ++xi) m[xi / 4][xi % 4] = sum[(xi * g.kp + k) * g.cp + c];
      for (int j = 0; j < 4; ++j) {  // G^T m: rows m0 + (m1 + m2)/2, (m1 - m2)/2, (m1 + m2)/2 + m3
        gm[0][j] = m[0][j] + T(0.5) * (m[1][j] + m[2][j]);
        gm[1][j] = T(0.5) * (m[1][j] - m[2][j]);
        gm[2][j] = T(0.5) * (m[1][j] + m[2][j]) + m[3][j];
      }
      T* o = dw + (k * s.c + c) * 9;
      for (int i = 0; i < 3; ++i) {
        o[i * 3 + 0] = gm[i][0] + T(0.5) * (gm[i][1] + gm[i][2]);
        o[i * 3 + 1] = T(0.5) * (gm[i][1] - gm[i][2]);
        o[i * 3 + 2] = T(0.5) * (gm[i][1] + gm[i][2]) + gm[i][3];
      }
    }
    if (db) db[k] = sum[16 * g.kp * g.cp + k];
  }
}

#define NNC_INSTANTIATE(T)                                                                    \
  template void winograd_forward<T>(const T*, const T*, const T*, T*, const Conv2dShape&);    \
  template void winograd_input_grad<T>(const T*, const T*, T*, const Conv2dShape&);           \
  template void winograd_weight_grad<T>(const T*, const T*, T*, T*, const Conv2dShape&);
NNC_INSTANTIATE(float)
NNC_INSTANTIATE(double)
#undef NNC_INSTANTIATE

}  // namespace nnc::conv_impl
