// The blocked direct conv kernel (stride 1): weight (and bias) gradient.
#include <algorithm>
#include <cstring>
#include <type_traits>
#include <vector>

#include "common/parallel.h"
#include "common/simd.h"
#include "kernels/conv_blocked.h"

namespace nnc::conv_impl {

namespace {


// acc[j, 0 .. 2L) += sum over the positions (r, o) of dyt[(r * ow + o) * ldk + (0 .. 2L)] *
// x[j][r * wp + o] for the RQ taps j: an RQ x 2L tile of dw^T (taps x output channels) in
// registers, vectors along the output channels, so no lane sums. Not inlined: the 2RQ
// accumulators stay in vector registers.
template <int RQ, class T>
__attribute__((noinline)) void blocked_grad_tile(const T* const* x, const T* __restrict dyt,
                                                 int64_t ldk, int64_t oh, int64_t ow, int64_t wp,
                                                 T* __restrict acc, int64_t ldacc) {
  constexpr int L = kVecBytes / sizeof(T);
  typedef T V __attribute__((vector_size(kVecBytes), aligned(sizeof(T)), may_alias));
  V a0[RQ], a1[RQ];
  const T* xs[RQ];
  for (int j = 0; j < RQ; ++j) {
    a0[j] = *reinterpret_cast<const V*>(acc + j * ldacc);
    a1[j] = *reinterpret_cast<const V*>(acc + j * ldacc + L);
    xs[j] = x[j];
  }
  for (int64_t r = 0; r < oh; ++r) {
    const T* d = dyt + r * ow * ldk;
    const int64_t row = r * wp;
    for (int64_t o = 0; o < ow; ++o, d += ldk) {
      const V d0 = *reinterpret_cast<const V*>(d);
      const V d1 = *reinterpret_cast<const V*>(d + L);
      for (int j = 0; j < RQ; ++j) {
        const V xb = splat<V>(xs[j][row + o]);
        a0[j] += xb * d0;
        a1[j] += xb * d1;
      }
    }
  }
  for (int j = 0; j < RQ; ++j) {
    *reinterpret_cast<V*>(acc + j * ldacc) = a0[j];
    *reinterpret_cast<V*>(acc + j * ldacc + L) = a1[j];
  }
}

template <int R>
struct BlockedGradTile {
  template <class T>
  static void run(const T* const* x, const T* dyt, int64_t ldk, int64_t oh, int64_t ow,
                  int64_t wp, T* acc, int64_t ldacc) {
    blocked_grad_tile<R>(x, dyt, ldk, oh, ow, wp, acc, ldacc);
  }
};

}  // namespace

// dw[k, q] = sum over images n and output positions (r, o) of dy[n, k, r, o] *
// xp[n][offs[q] + r * wp + o], x zero-padded; dy transposed per image to [position, channel]
// (channels padded with zeros to whole tiles). db (if asked) rides along as one more tap whose
// input is all ones. Threading: each run of images (image_runs) sums into its own dw^T partial,
// the partials added in run order: the same bits at any thread count.
template <class T>
void blocked_weight_grad(const T* dy, const T* x, T* dw, T* db, const Conv2dShape& s) {
  const int64_t cg = s.c / s.groups, kg = s.k / s.groups;
  const BlockedConv bc(s.groups, cg, s.h, s.w, s.pad_h, s.pad_w, kg, s.kh, s.kw, s.dil_h,
                       s.dil_w, sizeof(T));
  constexpr int64_t tile_k = 2 * kVecBytes / sizeof(T), tile_p = 16;
  const int64_t nq = bc.nq, taps = nq + (db ? 1 : 0), ldk = (kg + tile_k - 1) / tile_k * tile_k;
  const int64_t in_plane = s.h * s.w, out_plane = s.oh * s.ow, part_size = s.groups * taps * ldk;
  const int threads = batch_threads(s, s.n * s.k * nq * out_plane);
  std::vector<T> xpv(threads * bc.padded, T(0)), dytv(threads * out_plane * ldk, T(0));
  const int64_t runs = image_runs(s.n, part_size);
  std::vector<T> partv(runs * part_size, T(0)), ones(db ? s.oh * bc.wp : 0, T(1));
  for_image_runs(s.n, runs, threads, [&](int64_t run, int slot, int64_t n0, int64_t n1) {
    T* xp = xpv.data() + slot * bc.padded + bc.lead;
    T* dyt = dytv.data() + slot * out_plane * ldk;
    T* part = partv.data() + run * part_size;
    for (int64_t n = n0; n < n1; ++n)
      for (int64_t g = 0; g < s.groups; ++g) {
        const T* xg = x + (n * s.c + g * cg) * in_plane;
        for (int64_t c = 0; c < cg; ++c)
          for (int64_t r = 0; r < s.h; ++r)
            copy_row(xg + (c * s.h + r) * s.w, xp + bc.data(c, r), s.w);
        // The transpose in strips of tile_p positions: their rows of dyt stay in L1 while every
        // channel writes them.
        const T* dyg = dy + (n * s.k + g * kg) * out_plane;
        for (int64_t p0 = 0; p0 < out_plane; p0 += tile_p)
          transpose_block(dyg + p0, out_plane, kg, std::min(tile_p, out_plane - p0),
                          dyt + p0 * ldk, ldk);
        T* pg = part + g * taps * ldk;
        for (int64_t q0 = 0; q0 < taps; q0 += kBlockRows) {
          const int rows = int(std::min<int64_t>(kBlockRows, taps - q0));
          const T* xs[kBlockRows];
          for (int j = 0; j < rows; ++j) xs[j] = q0 + j < nq ? xp + bc.offs[q0 + j] : ones.data();
          for (int64_t k0 = 0; k0 < ldk; k0 += tile_k)
            with_count<1, kBlockRows, BlockedGradTile>(rows, static_cast<const T* const*>(xs),
                                                       static_cast<const T*>(dyt + k0), ldk, s.oh,
                                                       s.ow, bc.wp, pg + q0 * ldk + k0, ldk);
        }
      }
  });
  for (int64_t g = 0; g < s.groups; ++g)
    for (int64_t k = 0; k < kg; ++k)
      for (int64_t q = 0; q < taps; ++q) {
        const int64_t e = (g * taps + q) * ldk + k;
        T sum = partv[e];
        for (int64_t r = 1; r < runs; ++r) sum += partv[r * part_size + e];
        if (q < nq)
          dw[(g * kg + k) * nq + q] = sum;
        else
          db[g * kg + k] = sum;
      }
}

#define NNC_INSTANTIATE(T) \
  template void blocked_weight_grad<T>(const T*, const T*, T*, T*, const Conv2dShape&);
NNC_INSTANTIATE(float)
NNC_INSTANTIATE(double)
#undef NNC_INSTANTIATE

}  // namespace nnc::conv_impl
