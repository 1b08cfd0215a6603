// Winograd F(MxM, 3x3) machinery shared by conv_winograd.cpp (F(2x2, 3x3): y, dx, dw) and
// conv_winograd43.cpp (F(4x4, 3x3): y, dx): the register-tiled GEMMs, the channels-last image
// buffers and one image-at-a-time correlation (wino_conv) over a transform policy.
//
// A policy Tr says the tile: Tr::M outputs a side from Tr::A = M + 2 inputs, and the three 1-D
// transforms, each applied down the columns and then along the rows of a tile:
//   Tr::in(d, o)   o = B^T d   (A -> A, input patches)
//   Tr::wt(f, o)   o = G f     (3 -> A, filters; run once per call on scalars of type Tr::W<T>)
//   Tr::out(m, o)  o = A^T m   (A -> M, the GEMMs' products back to outputs)
#pragma once
#include <algorithm>
#include <cstring>
#include <vector>

#include "common/buffer_pool.h"
#include "common/parallel.h"
#include "kernels/conv_blocked.h"

namespace nnc::conv_impl::wino {

// n elements of scratch, 64-byte aligned (pool_acquire), zeroed when asked.
// NOTE: with new[] or std::vector the buffers' alignment followed the heap's state: every zmm
// load of a transform or GEMM operand that straddled two cache lines cost a second access, and
// the same layer ran 10% slower or faster from one process to the next.
template <class T>
class Scratch {
 public:
  explicit Scratch(int64_t n, bool zero = false)
      : p_(static_cast<T*>(pool_acquire(size_t(std::max<int64_t>(n, 1)) * sizeof(T)))) {
    if (zero) std::fill_n(p_, n, T(0));
  }
  ~Scratch() { pool_release(p_); }
  Scratch(const Scratch&) = delete;
  Scratch& operator=(const Scratch&) = delete;
  T* get() const { return p_; }

 private:
  T* p_;
};

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

// One image's F(MxM, 3x3) correlation: cin planes [h, w] padded by (pad_h, pad_w), cout output
// planes [oh, ow] in th x tw tiles of M x M. Channels-last buffers: the padded input [hp2, wp2,
// cp], the transformed tiles [A^2, tiles, cp] and [A^2, tiles, kp] (cp, kp: channels rounded up
// to 2L).
struct Wino {
  int64_t m, cin, h, w, pad_h, pad_w, cout, oh, ow, th, tw, hp2, wp2, cp, kp;
  Wino(int64_t m_, int64_t cin_, int64_t h_, int64_t w_, int64_t pad_h_, int64_t pad_w_,
       int64_t cout_, size_t elem)
      : m(m_), cin(cin_), h(h_), w(w_), pad_h(pad_h_), pad_w(pad_w_), cout(cout_),
        oh(h_ + 2 * pad_h_ - 2), ow(w_ + 2 * pad_w_ - 2), th((oh + m_ - 1) / m_),
        tw((ow + m_ - 1) / m_), hp2(m_ * th + 2), wp2(m_ * tw + 2) {
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

// v[xi * xs + t * cp + c] = (B^T d B)[xi] for the A x A patches d of tiles t in [t0, t1) (rows
// of tiles), d read from xc [hp2, wp2, cp]; v holds the tiles from t0 on.
template <class Tr, class T>
void input_transform(const T* xc, const Wino& g, int64_t t0, int64_t t1, T* v, int64_t xs) {
  constexpr int L = kVecBytes / sizeof(T), A = Tr::A, M = Tr::M;
  typedef T V __attribute__((vector_size(kVecBytes), aligned(sizeof(T)), may_alias));
  const int64_t cp = g.cp;
  for (int64_t t = t0; t < t1; ++t) {
    const T* p = xc + (M * (t / g.tw) * g.wp2 + M * (t % g.tw)) * cp;
    T* o = v + (t - t0) * cp;
    for (int64_t c = 0; c < cp; c += L) {
      V d[A][A], u[A][A];
      for (int i = 0; i < A; ++i)
        for (int j = 0; j < A; ++j)
          d[j][i] = *reinterpret_cast<const V*>(p + (i * g.wp2 + j) * cp + c);
      for (int j = 0; j < A; ++j) {
        V r[A];
        Tr::in(d[j], r);
        for (int i = 0; i < A; ++i) u[i][j] = r[i];
      }
      for (int i = 0; i < A; ++i) {
        V r[A];
        Tr::in(u[i], r);
        for (int j = 0; j < A; ++j) *reinterpret_cast<V*>(o + (i * A + j) * xs + c) = r[j];
      }
    }
  }
}

// u[xi, c, k] = (G g G^T)[xi] for g = weight(k, c) (a 3x3 filter, f(i, j)), k padded to kp
// (u: A^2 cin kp elements);
// the transform runs in Tr::W<T> (wider than T where G's fractions are not exact).
template <class Tr, class T, class F>
void weight_transform(const Wino& g, const F& weight, T* u) {
  constexpr int A = Tr::A;
  using S = typename Tr::template W<T>;
  const int64_t xs = g.cin * g.kp, nk = g.cout;
  // NOTE: u's A^2 slices are cin kp elements apart, a multiple of 4 KB: stored one element at
  // a time, the 36 of a filter fell into one L1 set and each store missed (a third of a
  // 1-image F(4x4, 3x3) call). One input channel's slices go to tmp first, then out whole.
  // Threading: the pool over input channels (each writes its own columns of u).
  const int threads = run_parallel(g.cin * nk * A * A * 8) ? get_num_threads() : 1;
  std::vector<S> fv(threads * 9 * nk);
  std::vector<T> tv(threads * A * A * nk);
  parallel_for(g.cin, threads, [&](int64_t c, int slot) {
    S* f = fv.data() + slot * 9 * nk;
    T* tmp = tv.data() + slot * A * A * nk;
    for (int64_t k = 0; k < nk; ++k)
      for (int e = 0; e < 9; ++e) f[e * nk + k] = S(weight(k, c, e / 3, e % 3));
    for (int64_t k = 0; k < nk; ++k) {
      S m[A][3];
      for (int j = 0; j < 3; ++j) {
        const S col[3] = {f[j * nk + k], f[(3 + j) * nk + k], f[(6 + j) * nk + k]};
        S r[A];
        Tr::wt(col, r);
        for (int i = 0; i < A; ++i) m[i][j] = r[i];
      }
      for (int i = 0; i < A; ++i) {
        S r[A];
        Tr::wt(m[i], r);
        for (int j = 0; j < A; ++j) tmp[(i * A + j) * nk + k] = T(r[j]);
      }
    }
    for (int xi = 0; xi < A * A; ++xi) {
      std::copy_n(tmp + xi * nk, nk, u + xi * xs + c * g.kp);
      std::fill_n(u + xi * xs + c * g.kp + nk, g.kp - nk, T(0));
    }
  });
}

// Elements between the A^2 slices of a transformed-tile buffer holding n elements a slice.
// NOTE: 16 tiles x 32 or 64 channels made the slices 2 or 4 KB apart, so a tile's 36 slices
// fell into one or two L1 sets and every store of the input transform and every load of the
// output transform missed L1 (the transforms took a fifth of the F(4x4, 3x3) forward). An odd
// number of cache lines apart spreads them over the sets.
template <class T>
int64_t slice_stride(int64_t n) {
  const int64_t line = 64 / int64_t(sizeof(T)), lines = (n + line - 1) / line;
  return (lines | 1) * line;
}

// Tile rows per chunk: the chunk's transformed input and output tiles stay in L2 (about
// 384 KB).
inline int64_t chunk_rows(const Wino& g, int a, size_t elem) {
  const int64_t per_row = a * a * g.tw * (g.cp + g.kp) * int64_t(elem);
  return std::clamp<int64_t>((384 << 10) / per_row, 1, g.th);
}

// y (image, [cout, oh, ow]) = bias + the correlation of x (image, [cin, h, w]) with the
// transformed weights u, for every image of the batch. Threading: the pool over images, handed
// out one at a time; every output depends on its image only.
template <class Tr, class T>
void wino_conv(const T* x, const T* u, const T* bias, T* y, int64_t n, const Wino& g) {
  constexpr int L = kVecBytes / sizeof(T), A = Tr::A, M = Tr::M, A2 = A * A;
  typedef T V __attribute__((vector_size(kVecBytes), aligned(sizeof(T)), may_alias));
  const int64_t rows = chunk_rows(g, A, sizeof(T)), chunk = rows * g.tw, plane = g.oh * g.ow;
  const int64_t xsz = g.hp2 * g.wp2 * g.cp;
  const int64_t tsz = std::max(g.h * g.w * g.cp, M * rows * g.ow * g.kp);
  const int64_t work = n * g.cout * g.cin * plane * 9;
  const int threads = n > 1 && run_parallel(work) ? get_num_threads() : 1;
  const int64_t vs = slice_stride<T>(chunk * g.cp), ms = slice_stride<T>(chunk * g.kp);
  const int64_t per = xsz + tsz + A2 * (vs + ms);
  // Zeros for the padded input and the transpose buffer (whose padded channels the input
  // copies); the transformed tiles are written before they are read.
  Scratch<T> bufv(threads * per);
  for (int t = 0; t < threads; ++t) std::fill_n(bufv.get() + t * per, xsz + tsz, T(0));
  std::vector<T> bv(g.kp, T(0));
  if (bias) std::copy_n(bias, g.cout, bv.data());
  parallel_for(n, threads, [&](int64_t img, int slot) {
    T* xc = bufv.get() + slot * per;
    T* tmp = xc + xsz;
    T* v = tmp + tsz;
    T* m = v + A2 * vs;
    to_channels_last(x + img * g.cin * g.h * g.w, g, tmp, xc);
    for (int64_t r0 = 0; r0 < g.th; r0 += rows) {
      const int64_t r1 = std::min(g.th, r0 + rows), t0 = r0 * g.tw, nt = (r1 - r0) * g.tw;
      input_transform<Tr>(xc, g, t0, t0 + nt, v, vs);
      for (int64_t xi = 0; xi < A2; ++xi) {
        // This image's output planes and the next image's input (most often this thread's
        // next), a slice per GEMM, on the first chunk.
        if (r0 == 0) {
          prefetch_l2<true>(y + img * g.cout * plane, g.cout * plane, xi, A2);
          if (img + 1 < n) prefetch_l2<false>(x + (img + 1) * g.cin * g.h * g.w,
                                              g.cin * g.h * g.w, xi, A2);
        }
        wgemm<false>(v + xi * vs, g.cp, nt, u + xi * g.cin * g.kp, g.kp, g.kp, g.cin,
                     m + xi * ms, g.kp, false);
      }
      // Output transform into tmp [M (r1 - r0), ow, kp] (the columns past ow dropped, so one
      // transpose of whole vectors takes the chunk to the planes), then to the planes.
      // NOTE: with 4x4 tiles on 14-wide planes, a transpose per row of 14 positions ran
      // scalar (shorter than a vector): 9% of the forward.
      const int64_t xs = ms;
      for (int64_t t = 0; t < nt; ++t) {
        const int64_t tr = t / g.tw, tc = t % g.tw, jn = std::min<int64_t>(M, g.ow - M * tc);
        T* o = tmp + (M * tr * g.ow + M * tc) * g.kp;
        for (int64_t k = 0; k < g.kp; k += L) {
          const T* p = m + t * g.kp + k;
          V s[M][A];
          for (int j = 0; j < A; ++j) {
            V col[A], r[M];
            for (int i = 0; i < A; ++i) col[i] = *reinterpret_cast<const V*>(p + (i * A + j) * xs);
            Tr::out(col, r);
            for (int i = 0; i < M; ++i) s[i][j] = r[i];
          }
          const V bb = *reinterpret_cast<const V*>(bv.data() + k);
          for (int i = 0; i < M; ++i) {
            V r[M];
            Tr::out(s[i], r);
            for (int j = 0; j < jn; ++j)
              *reinterpret_cast<V*>(o + (i * g.ow + j) * g.kp + k) = bb + r[j];
          }
        }
      }
      const int64_t oy0 = M * r0, oy1 = std::min(g.oh, M * r1);
      transpose_block(tmp, g.kp, (oy1 - oy0) * g.ow, g.cout, y + img * g.cout * plane + oy0 * g.ow,
                      plane);
    }
  });
}

// The forward (y = x correlated with w, + b) and the input gradient of a 3x3 layer through
// policy Tr: transform the weights once, then one image at a time (wino_conv).
template <class Tr, class T>
void forward_with(const T* x, const T* w, const T* b, T* y, const Conv2dShape& s) {
  const Wino g(Tr::M, s.c, s.h, s.w, s.pad_h, s.pad_w, s.k, sizeof(T));
  Scratch<T> u(Tr::A * Tr::A * g.cin * g.kp);
  weight_transform<Tr>(
      g, [&](int64_t k, int64_t c, int i, int j) { return w[((k * s.c + c) * 3 + i) * 3 + j]; },
      u.get());
  wino_conv<Tr>(x, u.get(), b, y, s.n, g);
}

// dx is the correlation of dy, padded by 2 - p, with the weights flipped and their channels
// swapped (see blocked_input_grad).
template <class Tr, class T>
void input_grad_with(const T* dy, const T* w, T* dx, const Conv2dShape& s) {
  const Wino g(Tr::M, s.k, s.oh, s.ow, 2 - s.pad_h, 2 - s.pad_w, s.c, sizeof(T));
  Scratch<T> u(Tr::A * Tr::A * g.cin * g.kp);
  const auto flipped = [&](int64_t c, int64_t k, int i, int j) {
    return w[((k * s.c + c) * 3 + 2 - i) * 3 + 2 - j];
  };
  weight_transform<Tr>(g, flipped, u.get());
  wino_conv<Tr>(dy, u.get(), static_cast<const T*>(nullptr), dx, s.n, g);
}

}  // namespace nnc::conv_impl::wino
