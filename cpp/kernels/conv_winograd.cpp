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
#include <cstring>
#include <memory>
#include <vector>

#include "common/parallel.h"
#include "kernels/conv_blocked.h"

namespace nnc::conv_impl {

namespace {

constexpr int64_t kLanes(size_t elem) { return kVecBytes / int64_t(elem); }

// out[r, 0 .. 2L) = (accumulate ? out : 0) + sum_{q < nq} A(r, q) * b[q * ldb + (0 .. 2L)] for
// r < R, with A(r, q) = a[r * as + q] (ColA false) or a[q * as + r] (ColA true); out rows are
// ldo apart. Not inlined: the 2R accumulators stay in vector registers.
template <int R, bool ColA, class T>
__attribute__((noinline)) void gemm_tile(const T* __restrict a, int64_t as,
                                         const T* __restrict b, int64_t ldb, int64_t nq,
                                         T* __restrict out, int64_t ldo, bool accumulate) {
  constexpr int L = kVecBytes / sizeof(T);
  typedef T V __attribute__((vector_size(kVecBytes), aligned(sizeof(T)), may_alias));
  V a0[R], a1[R];
  for (int r = 0; r < R; ++r) {
    a0[r] = accumulate ? *reinterpret_cast<const V*>(out + r * ldo) : V{};
    a1[r] = accumulate ? *reinterpret_cast<const V*>(out + r * ldo + L) : V{};
  }
  for (int64_t q = 0; q < nq; ++q) {
    const V b0 = *reinterpret_cast<const V*>(b + q * ldb);
    const V b1 = *reinterpret_cast<const V*>(b + q * ldb + L);
    for (int r = 0; r < R; ++r) {
      const V ab = splat<V>(ColA ? a[q * as + r] : a[r * as + q]);
      a0[r] += ab * b0;
      a1[r] += ab * b1;
    }
  }
  for (int r = 0; r < R; ++r) {
    *reinterpret_cast<V*>(out + r * ldo) = a0[r];
    *reinterpret_cast<V*>(out + r * ldo + L) = a1[r];
  }
}

template <bool ColA>
struct GemmTile {
  template <int R>
  struct K {
    template <class T>
    static void run(const T* a, int64_t as, const T* b, int64_t ldb, int64_t nq, T* out,
                    int64_t ldo, bool accumulate) {
      gemm_tile<R, ColA>(a, as, b, ldb, nq, out, ldo, accumulate);
    }
  };
};

// out[r, c] (+)= sum_q A(r, q) * b[q, c] for r < rows, c < cols (a multiple of 2L): register
// tiles of up to kBlockRows rows, the row blocks as even as BlockedConv::block makes them.
template <bool ColA, class T>
void wgemm(const T* a, int64_t as, int64_t rows, const T* b, int64_t ldb, int64_t cols,
          int64_t nq, T* out, int64_t ldo, bool accumulate) {
  const int64_t nb = (rows + kBlockRows - 1) / kBlockRows, base = rows / nb, extra = rows % nb;
  for (int64_t blk = 0, r0 = 0; blk < nb; ++blk) {
    const int rr = int(base + (blk < extra ? 1 : 0));
    const T* ab = ColA ? a + r0 : a + r0 * as;
    for (int64_t c0 = 0; c0 < cols; c0 += 2 * kLanes(sizeof(T)))
      with_count<1, kBlockRows, GemmTile<ColA>::template K>(rr, ab, as, b + c0, ldb, nq,
                                                             out + r0 * ldo + c0, ldo, accumulate);
    r0 += rr;
  }
}

// Prefetch part `part` of `parts` of the n elements at p into L2 (for writing if Write).
// NOTE: the transposes to and from channels-last read and write 32-64 planes at once, 12 cache
// lines each: streams too short for the hardware prefetchers, so they waited on every line (perf:
// a seventh of the layer's time). The next image's lines are requested a slice at a time between
// the GEMMs, which hide them (one burst per image stalled on the full miss queues instead).
template <bool Write, class T>
void prefetch_l2(const T* p, int64_t n, int64_t part = 0, int64_t parts = 1) {
  const int64_t lines = (n * int64_t(sizeof(T)) + 63) / 64;
  const char* c = reinterpret_cast<const char*>(p);
  for (int64_t i = lines * part / parts; i < lines * (part + 1) / parts; ++i)
    __builtin_prefetch(c + 64 * i, Write, 2);
}

// One image's F(2x2, 3x3) correlation: cin planes [h, w] padded by (pad_h, pad_w), cout output
// planes [oh, ow] in th x tw tiles. Channels-last buffers: the padded input [hp2, wp2, cp], the
// transformed tiles [16, tiles, cp] and [16, tiles, kp] (cp, kp: channels rounded up to 2L).
struct Wino {
  int64_t cin, h, w, pad_h, pad_w, cout, oh, ow, th, tw, hp2, wp2, cp, kp;
  Wino(int64_t cin_, int64_t h_, int64_t w_, int64_t pad_h_, int64_t pad_w_, int64_t cout_,
       size_t elem)
      : cin(cin_), h(h_), w(w_), pad_h(pad_h_), pad_w(pad_w_), cout(cout_),
        oh(h_ + 2 * pad_h_ - 2), ow(w_ + 2 * pad_w_ - 2), th((oh + 1) / 2), tw((ow + 1) / 2),
        hp2(2 * th + 2), wp2(2 * tw + 2) {
    const int64_t v2 = 2 * kLanes(elem);
    cp = (cin + v2 - 1) / v2 * v2;
    kp = (cout + v2 - 1) / v2 * v2;
  }
  int64_t tiles() const { return th * tw; }
};

// dst [hp2, wp2, cp] (its padding already zero) = image x [cin, h, w] channels-last, through
// tmp [h * w, cp].
template <class T>
void to_channels_last(const T* x, const Wino& g, T* tmp, T* dst) {
  transpose_block(x, g.h * g.w, g.cin, g.h * g.w, tmp, g.cp);
  for (int64_t r = 0; r < g.h; ++r)
    copy_row(tmp + r * g.w * g.cp, dst + ((r + g.pad_h) * g.wp2 + g.pad_w) * g.cp, g.w * g.cp);
}

// v[xi, t, c] = (B^T d B)[xi] for the 4x4 patches d of tiles t in [t0, t1) (rows of tiles), d
// read from xc [hp2, wp2, cp]; v holds the tiles from t0 on.
template <class T>
void input_transform(const T* xc, const Wino& g, int64_t t0, int64_t t1, T* v) {
  constexpr int L = kVecBytes / sizeof(T);
  typedef T V __attribute__((vector_size(kVecBytes), aligned(sizeof(T)), may_alias));
  const int64_t cp = g.cp, nt = t1 - t0, xs = nt * cp;
  for (int64_t t = t0; t < t1; ++t) {
    const T* p = xc + (2 * (t / g.tw) * g.wp2 + 2 * (t % g.tw)) * cp;
    T* o = v + (t - t0) * cp;
    for (int64_t c = 0; c < cp; c += L) {
      V d[4][4], u[4][4];
      for (int i = 0; i < 4; ++i)
        for (int j = 0; j < 4; ++j)
          d[i][j] = *reinterpret_cast<const V*>(p + (i * g.wp2 + j) * cp + c);
      for (int j = 0; j < 4; ++j) {
        u[0][j] = d[0][j] - d[2][j];
        u[1][j] = d[1][j] + d[2][j];
        u[2][j] = d[2][j] - d[1][j];
        u[3][j] = d[1][j] - d[3][j];
      }
      for (int i = 0; i < 4; ++i) {
        *reinterpret_cast<V*>(o + (i * 4 + 0) * xs + c) = u[i][0] - u[i][2];
        *reinterpret_cast<V*>(o + (i * 4 + 1) * xs + c) = u[i][1] + u[i][2];
        *reinterpret_cast<V*>(o + (i * 4 + 2) * xs + c) = u[i][2] - u[i][1];
        *reinterpret_cast<V*>(o + (i * 4 + 3) * xs + c) = u[i][1] - u[i][3];
      }
    }
  }
}

// u[xi, c, k] = (G g G^T)[xi] for g = weight(k, c) (a 3x3 filter, f(i, j)), k padded to kp.
template <class T, class F>
std::vector<T> weight_transform(const Wino& g, const F& weight) {
  std::vector<T> u(16 * g.cin * g.kp, T(0));
  for (int64_t k = 0; k < g.cout; ++k)
    for (int64_t c = 0; c < g.cin; ++c) {
      T f[3][3], m[4][3];
      for (int i = 0; i < 3; ++i)
        for (int j = 0; j < 3; ++j) f[i][j] = weight(k, c, i, j);
      for (int j = 0; j < 3; ++j) {  // G f: rows f0, (f0+f1+f2)/2, (f0-f1+f2)/2, f2
        m[0][j] = f[0][j];
        m[1][j] = T(0.5) * (f[0][j] + f[1][j] + f[2][j]);
        m[2][j] = T(0.5) * (f[0][j] - f[1][j] + f[2][j]);
        m[3][j] = f[2][j];
      }
      for (int i = 0; i < 4; ++i) {
        T* o = u.data() + (i * 4 * g.cin + c) * g.kp + k;
        const int64_t xs = g.cin * g.kp;
        o[0 * xs] = m[i][0];
        o[1 * xs] = T(0.5) * (m[i][0] + m[i][1] + m[i][2]);
        o[2 * xs] = T(0.5) * (m[i][0] - m[i][1] + m[i][2]);
        o[3 * xs] = m[i][2];
      }
    }
  return u;
}

// Tiles per chunk: the chunk's transformed input and output tiles stay in L2 (about 384 KB).
int64_t chunk_rows(const Wino& g, size_t elem) {
  const int64_t per_row = 16 * g.tw * (g.cp + g.kp) * int64_t(elem);
  return std::clamp<int64_t>((384 << 10) / per_row, 1, g.th);
}

// y (image, [cout, oh, ow]) = bias + the correlation of x (image, [cin, h, w]) with the
// transformed weights u, for every image of the batch. Threading: the pool over images, handed
// out one at a time; every output depends on its image only.
template <class T>
void wino_conv(const T* x, const T* u, const T* bias, T* y, int64_t n, const Wino& g) {
  constexpr int L = kVecBytes / sizeof(T);
  typedef T V __attribute__((vector_size(kVecBytes), aligned(sizeof(T)), may_alias));
  const int64_t rows = chunk_rows(g, sizeof(T)), chunk = rows * g.tw, plane = g.oh * g.ow;
  const int64_t xsz = g.hp2 * g.wp2 * g.cp;
  const int64_t tsz = std::max(g.h * g.w * g.cp, 2 * rows * 2 * g.tw * g.kp);
  const int64_t work = n * g.cout * g.cin * plane * 9;
  const int threads = n > 1 && run_parallel(work) ? get_num_threads() : 1;
  const int64_t per = xsz + tsz + 16 * chunk * (g.cp + g.kp);
  // Zeros for the padded input and the transpose buffer (whose padded channels the input
  // copies); the transformed tiles are written before they are read.
  std::unique_ptr<T[]> bufv(new T[threads * per]);
  for (int t = 0; t < threads; ++t) std::fill_n(bufv.get() + t * per, xsz + tsz, T(0));
  std::vector<T> bv(g.kp, T(0));
  if (bias) std::copy_n(bias, g.cout, bv.data());
  parallel_for(n, threads, [&](int64_t img, int slot) {
    T* xc = bufv.get() + slot * per;
    T* tmp = xc + xsz;
    T* v = tmp + tsz;
    T* m = v + 16 * chunk * g.cp;
    to_channels_last(x + img * g.cin * g.h * g.w, g, tmp, xc);
    for (int64_t r0 = 0; r0 < g.th; r0 += rows) {
      const int64_t r1 = std::min(g.th, r0 + rows), t0 = r0 * g.tw, nt = (r1 - r0) * g.tw;
      input_transform(xc, g, t0, t0 + nt, v);
      for (int64_t xi = 0; xi < 16; ++xi) {
        // This image's output planes and the next image's input (most often this thread's
        // next), a sixteenth per GEMM, on the first chunk.
        if (r0 == 0) {
          prefetch_l2<true>(y + img * g.cout * plane, g.cout * plane, xi, 16);
          if (img + 1 < n) prefetch_l2<false>(x + (img + 1) * g.cin * g.h * g.w,
                                              g.cin * g.h * g.w, xi, 16);
        }
        wgemm<false>(v + xi * nt * g.cp, g.cp, nt, u + xi * g.cin * g.kp, g.kp, g.kp, g.cin,
                    m + xi * nt * g.kp, g.kp, false);
      }
      // Output transform into tmp [2 (r1 - r0), 2 tw, kp], then to the planes.
      const int64_t xs = nt * g.kp, ow2 = 2 * g.tw;
      for (int64_t t = 0; t < nt; ++t) {
        const int64_t tr = t / g.tw, tc = t % g.tw;
        T* o = tmp + (2 * tr * ow2 + 2 * tc) * g.kp;
        for (int64_t k = 0; k < g.kp; k += L) {
          const T* p = m + t * g.kp + k;
          V s0[4], s1[4];
          for (int j = 0; j < 4; ++j) {
            const V m0 = *reinterpret_cast<const V*>(p + (0 * 4 + j) * xs);
            const V m1 = *reinterpret_cast<const V*>(p + (1 * 4 + j) * xs);
            const V m2 = *reinterpret_cast<const V*>(p + (2 * 4 + j) * xs);
            const V m3 = *reinterpret_cast<const V*>(p + (3 * 4 + j) * xs);
            s0[j] = m0 + m1 + m2;
            s1[j] = m1 - m2 - m3;
          }
          const V bb = *reinterpret_cast<const V*>(bv.data() + k);
          *reinterpret_cast<V*>(o + k) = bb + (s0[0] + s0[1] + s0[2]);
          *reinterpret_cast<V*>(o + g.kp + k) = bb + (s0[1] - s0[2] - s0[3]);
          *reinterpret_cast<V*>(o + ow2 * g.kp + k) = bb + (s1[0] + s1[1] + s1[2]);
          *reinterpret_cast<V*>(o + (ow2 + 1) * g.kp + k) = bb + (s1[1] - s1[2] - s1[3]);
        }
      }
      T* yi = y + img * g.cout * plane;
      const int64_t oy0 = 2 * r0, oy1 = std::min(g.oh, 2 * r1);
      if (ow2 == g.ow) {
        transpose_block(tmp, g.kp, (oy1 - oy0) * g.ow, g.cout, yi + oy0 * g.ow, plane);
      } else {
        for (int64_t oy = oy0; oy < oy1; ++oy)
          transpose_block(tmp + (oy - oy0) * ow2 * g.kp, g.kp, g.ow, g.cout, yi + oy * g.ow,
                          plane);
      }
    }
  });
}

}  // namespace

template <class T>
void winograd_forward(const T* x, const T* w, const T* b, T* y, const Conv2dShape& s) {
  const Wino g(s.c, s.h, s.w, s.pad_h, s.pad_w, s.k, sizeof(T));
  const std::vector<T> u = weight_transform<T>(
      g, [&](int64_t k, int64_t c, int i, int j) { return w[((k * s.c + c) * 3 + i) * 3 + j]; });
  wino_conv(x, u.data(), b, y, s.n, g);
}

// dx is the correlation of dy, padded by 2 - p, with the weights flipped and their channels
// swapped (see blocked_input_grad).
template <class T>
void winograd_input_grad(const T* dy, const T* w, T* dx, const Conv2dShape& s) {
  const Wino g(s.k, s.oh, s.ow, 2 - s.pad_h, 2 - s.pad_w, s.c, sizeof(T));
  const std::vector<T> u = weight_transform<T>(g, [&](int64_t c, int64_t k, int i, int j) {
    return w[((k * s.c + c) * 3 + 2 - i) * 3 + 2 - j];
  });
  wino_conv(dy, u.data(), static_cast<const T*>(nullptr), dx, s.n, g);
}

// dw = G^T [sum over tiles of (A dY A^T) . (B^T d B)] G, the sum per xi a GEMM over the tiles
// (dW's adjoint of the forward's transforms); db = sum dy. Threading: each run of images
// (image_runs) sums into its own partial, the partials added in run order: the same bits at any
// thread count.
template <class T>
void winograd_weight_grad(const T* dy, const T* x, T* dw, T* db, const Conv2dShape& s) {
  constexpr int L = kVecBytes / sizeof(T);
  typedef T V __attribute__((vector_size(kVecBytes), aligned(sizeof(T)), may_alias));
  const Wino g(s.c, s.h, s.w, s.pad_h, s.pad_w, s.k, sizeof(T));
  const int64_t rows = chunk_rows(g, sizeof(T)), chunk = rows * g.tw, plane = g.oh * g.ow;
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
        input_transform(xc, g, t0, t0 + nt, v);
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
