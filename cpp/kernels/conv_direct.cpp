// The direct conv kernels, for few taps per output (the 1-channel first layer of an MNIST net):
// stride 1 through column-shifted copies of the input and the blocked tile (forward) or a
// register tile of tap sums (weight gradient); other strides through multiply-add loops along
// output rows of a zero-padded copy.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <type_traits>
#include <vector>

#include "common/check.h"
#include "common/parallel.h"
#include "kernels/conv_blocked.h"
#include "kernels/conv_util.h"

namespace nnc::conv_impl {

namespace {

// NOTE: with stride 1 and few input channels, every input vector serves all the output
// channels: the blocked tile loads the taps of 2 vectors of outputs once and multiply-adds them
// into up to kBlockRows output channels, against 9 loads per multiply-add vector when each output
// plane ran on its own (the 1->32 28x28 N64 layer, AVX-512, 1 thread: 644 -> 320 us). The
// input of one (image, group) goes into cg * kw column-shifted copies with the output's row
// pitch ow: copy (c, j) holds x[c, r - pad_h, o + j * dil_w - pad_w] at row r, column o (zero
// outside x). Tap (c, i, j) of output position p = oh * ow + o is then element
// p + i * dil_h * ow of copy (c, j): the taps of any run of consecutive outputs, across rows,
// are contiguous loads, and the results go straight into y's planes (no junk columns, no copy
// out of a buffer).
struct ShiftedCopies {
  int64_t cg, h, w, pad_h, kw, ow, plane, size;
  std::vector<int64_t> col_off, lo, hi;  // per j: the input column of output column 0, range
  std::vector<int64_t> offs;             // per tap (c, i, j): its element of output position 0
  // slack: zero elements past each copy, for whole tiles read past the last output.
  ShiftedCopies(const Conv2dShape& s, int64_t slack)
      : cg(s.c / s.groups), h(s.h), w(s.w), pad_h(s.pad_h), kw(s.kw), ow(s.ow) {
    plane = (s.h + 2 * s.pad_h) * s.ow + slack;
    size = cg * kw * plane;
    for (int64_t j = 0; j < kw; ++j) {
      int64_t l, r;
      col_off.push_back(j * s.dil_w - s.pad_w);
      valid_range(col_off.back(), 1, s.w, s.ow, l, r);
      lo.push_back(l);
      hi.push_back(r);
    }
    for (int64_t c = 0; c < cg; ++c)
      for (int64_t i = 0; i < s.kh; ++i)
        for (int64_t j = 0; j < kw; ++j) offs.push_back((c * kw + j) * plane + i * s.dil_h * ow);
  }
  // The copies of the cg planes [h, w] at xg into buf (size elements, zero where no input
  // lands: the same places for every image, so a buffer is zeroed once).
  template <class T>
  void fill(const T* xg, T* buf) const {
    for (int64_t c = 0; c < cg; ++c)
      for (int64_t j = 0; j < kw; ++j) {
        if (hi[j] <= lo[j]) continue;
        T* dst = buf + (c * kw + j) * plane + pad_h * ow + lo[j];
        const T* src = xg + c * h * w + lo[j] + col_off[j];
        for (int64_t r = 0; r < h; ++r) copy_row(src + r * w, dst + r * ow, hi[j] - lo[j]);
      }
  }
};

// Taps per shifted_dot call: R = 2 channels' 2 (kDotTaps + 1) accumulators, kDotTaps inputs and
// two dy vectors fit AVX-512's 32 registers; AVX2's 16 hold one channel's accumulators (its
// inputs then come from L1 as memory operands).
constexpr int kDotTaps = 9;
constexpr int kDotRows = kVecBytes >= 64 ? 2 : 1;

// lanes[r * ldl + q * L + l] += sum over positions t = l (mod L), t < len, of
// dy[r * ldd + t] * xp[offs[q] + t] for R output channels and NQ taps, and (if bias)
// bias[r * ldl + l] += the same sums of dy alone: R x (NQ + 1) vector accumulators, each input
// vector loaded once for R channels. Lanes fixed by t, so the sums depend on the values only.
// Not inlined: the accumulators stay in registers.
template <int R, int NQ, class T>
__attribute__((noinline)) void shifted_dot(const T* __restrict xp, const int64_t* offs,
                                           const T* __restrict dy, int64_t ldd, int64_t len,
                                           T* __restrict lanes, T* __restrict bias,
                                           int64_t ldl) {
  constexpr int L = kVecBytes / sizeof(T);
  typedef T V __attribute__((vector_size(kVecBytes), aligned(sizeof(T)), may_alias));
  V acc[R][NQ + 1];
  const T* xq[NQ];
  for (int q = 0; q < NQ; ++q) xq[q] = xp + offs[q];
  for (int r = 0; r < R; ++r)
    for (int q = 0; q <= NQ; ++q) acc[r][q] = V{};
  int64_t t = 0;
  for (; t + L <= len; t += L) {
    V xv[NQ];
    for (int q = 0; q < NQ; ++q) {
      xv[q] = *reinterpret_cast<const V*>(xq[q] + t);
      // NOTE: kept in a register for the R channels: gcc otherwise reads it from memory for
      // each channel, and the loads (unaligned, two cache lines each) bound the loop (dw of
      // the 1->32 28x28 layer: 34 cycles per 18 multiply-adds).
      if constexpr (R > 1) asm("" : "+v"(xv[q]));
    }
    for (int r = 0; r < R; ++r) {
      const V d = *reinterpret_cast<const V*>(dy + r * ldd + t);
      for (int q = 0; q < NQ; ++q) acc[r][q] += d * xv[q];
      acc[r][NQ] += d;  // the adds run beside the multiply-adds: cheaper than a branch
    }
  }
  for (int r = 0; r < R; ++r) {
    const T* dr = dy + r * ldd;
    for (int q = 0; q <= NQ; ++q) {
      if (q == NQ && !bias) break;
      T* lq = q < NQ ? lanes + r * ldl + q * L : bias + r * ldl;
      *reinterpret_cast<V*>(lq) += acc[r][q];
      for (int l = 0; t + l < len; ++l) lq[l] += q < NQ ? dr[t + l] * xq[q][t + l] : dr[t + l];
    }
  }
}

template <int NQ>
struct ShiftedDot {
  template <class T>
  static void run(int rows, const T* xp, const int64_t* offs, const T* dy, int64_t ldd,
                  int64_t len, T* lanes, T* bias, int64_t ldl) {
    if (rows == kDotRows) {
      shifted_dot<kDotRows, NQ>(xp, offs, dy, ldd, len, lanes, bias, ldl);
      return;
    }
    for (int r = 0; r < rows; ++r)
      shifted_dot<1, NQ>(xp, offs, dy + r * ldd, ldd, len, lanes + r * ldl,
                         bias ? bias + r * ldl : nullptr, ldl);
  }
};

}  // namespace

// direct_forward's stride-1 path (see ShiftedCopies). Threading: items handed out one at a time;
// each output depends on its item only.
template <class T>
void shifted_forward(const T* x, const T* w, const T* b, T* y, const Conv2dShape& s) {
  constexpr int64_t L = kVecBytes / int64_t(sizeof(T)), tile = 2 * L;
  const int64_t cg = s.c / s.groups, kg = s.k / s.groups, nq = cg * s.kh * s.kw;
  const int64_t plane = s.oh * s.ow;
  const ShiftedCopies sc(s, tile);
  // Per group and block of output channels (row_block), the block's weights tap-major (q, r).
  std::vector<T> wpk(s.k * nq);
  for (int64_t g = 0; g < s.groups; ++g)
    for (int64_t blk = 0; blk < row_blocks(kg); ++blk) {
      int64_t o0;
      int rows;
      row_block(kg, blk, o0, rows);
      T* dst = wpk.data() + (g * kg + o0) * nq;
      for (int64_t q = 0; q < nq; ++q)
        for (int r = 0; r < rows; ++r) dst[q * rows + r] = w[(g * kg + o0 + r) * nq + q];
    }
  // NOTE: items are (image, group) pairs with all their blocks of output channels, or single
  // blocks when the pairs are fewer than two per thread (a batch of one image still runs on
  // every thread); a thread refills its copies only when its next item is of another pair.
  // Blocks as items throughout ran the 1->32 28x28 layer 10% slower at 2 threads (each
  // thread copied every image).
  const int64_t blocks = row_blocks(kg), pairs = s.n * s.groups;
  const int team = run_parallel(s.n * s.k * plane * nq) ? get_num_threads() : 1;
  const int64_t per_item = pairs >= 2 * team ? blocks : 1, items = pairs * blocks / per_item;
  const int threads = items > 1 ? team : 1;
  std::vector<T> bufv(threads * sc.size, T(0));
  std::vector<int64_t> filled_for(threads, -1);
  // Planes shorter than a tile go through a buffer (a whole tile would spill into the next).
  std::vector<T> tmpv(plane < tile ? threads * kBlockRows * tile : 0);
  auto run = [&](int64_t ng, int64_t blk, int slot) {
    const int64_t g = ng % s.groups;
    T* buf = bufv.data() + slot * sc.size;
    if (filled_for[slot] != ng) {
      sc.fill(x + ng * cg * s.h * s.w, buf);
      filled_for[slot] = ng;
    }
    int64_t o0;
    int rows;
    row_block(kg, blk, o0, rows);
    const T* wq = wpk.data() + (g * kg + o0) * nq;
    const T* bias = b ? b + g * kg + o0 : nullptr;
    T* yb = y + (ng * kg + o0) * plane;
    auto tiles = [&](int64_t at, T* out, int64_t ldo, int64_t count, bool half_last) {
      with_count<1, kBlockRows, BlockedTiles>(rows, static_cast<const T*>(buf + at),
                                              sc.offs.data(), nq, wq, bias, out + at, ldo,
                                              count, half_last);
    };
    if (plane >= tile) {
      // NOTE: the last partial tile is recomputed over the tile (or half tile) that ends at
      // the plane's end: the overlapped outputs get the same values, the same bits.
      const int64_t full = plane / tile, rem = plane - full * tile;
      tiles(0, yb, plane, full, false);
      if (rem > L)
        tiles(plane - tile, yb, plane, 1, false);
      else if (rem > 0)
        tiles(plane - L, yb, plane, 1, true);
    } else {
      T* tmp = tmpv.data() + slot * kBlockRows * tile;
      tiles(0, tmp, tile, 1, plane <= L);
      for (int r = 0; r < rows; ++r) copy_row(tmp + r * tile, yb + r * plane, plane);
    }
  };
  parallel_for(items, threads, [&](int64_t item, int slot) {
    for (int64_t i = item * per_item; i < (item + 1) * per_item; ++i)
      run(i / blocks, i % blocks, slot);
  });
}

// NOTE: other strides: each thread pads the images of its own items into its own buffer
// (items are image-major, so once per image a run crosses): one parallel region per call.
// Padding the whole batch first took a second region, whose wake-up and barrier cost more than
// the padding on the 1-channel layer at 2 threads (2 threads then ran slower than 1).
template <class T>
void direct_forward(const T* x, const T* w, const T* b, T* y, const Conv2dShape& s) {
  if (s.stride_h == 1 && s.stride_w == 1) {
    shifted_forward(x, w, b, y, s);
    return;
  }
  const int64_t hp = s.h + 2 * s.pad_h, wp = s.w + 2 * s.pad_w;
  const int64_t cg = s.c / s.groups, kg = s.k / s.groups, taps = s.kh * s.kw;
  const int64_t ow = s.ow, sw = s.stride_w;
  const int64_t work = s.n * s.k * s.oh * ow * cg * taps;
  const int threads = s.n * s.k > 1 && run_parallel(work) ? get_num_threads() : 1;
  const int64_t image = s.c * hp * wp;
  std::vector<T> xpv(threads * image, T(0));
  std::vector<int64_t> padded_for(threads, -1);
  for_each_slot(s.n * s.k, threads, [&](int64_t nk, int slot) {
    const int64_t n = nk / s.k, k = nk % s.k, g = k / kg;
    T* yplane = y + nk * s.oh * ow;
    T* xi = xpv.data() + slot * image;  // image n, padded
    if (padded_for[slot] != n) {
      pad_image(x + n * s.c * s.h * s.w, xi, s);
      padded_for[slot] = n;
    }
    for (int64_t oh = 0; oh < s.oh; ++oh) {
      T* __restrict yr = yplane + oh * ow;
      std::fill_n(yr, ow, b ? b[k] : T(0));
      for (int64_t cc = 0; cc < cg; ++cc) {
        const T* xpl = xi + (g * cg + cc) * hp * wp;
        const T* wk = w + (k * cg + cc) * taps;
        for (int64_t i = 0; i < s.kh; ++i) {
          const T* xr = xpl + (oh * s.stride_h + i * s.dil_h) * wp;
          for (int64_t j = 0; j < s.kw; ++j) {
            const T wv = wk[i * s.kw + j];
            const T* __restrict xs = xr + j * s.dil_w;
            for (int64_t o = 0; o < ow; ++o) yr[o] += wv * xs[o * sw];
          }
        }
      }
    }
  });
}

// dw (and db) of a stride-1 direct conv: dw[k, q] = sum over images and output positions p of
// dy[n, k, p] * (copy of tap q)[p] (ShiftedCopies: dy's planes are read as they are), in L
// fixed lanes (p mod L); db[k] = sum of dy[n, k] in the same pass.
// NOTE: images outer, output channels inner: dy streams in memory order and the image's copies
// stay in L1. Each run of images (image_runs) sums into its own lanes; the runs are added in
// order, so the result is the same bits at any thread count.
template <class T>
void shifted_weight_grad(const T* dy, const T* x, T* dw, T* db, const Conv2dShape& s,
                         int threads) {
  constexpr int64_t L = kVecBytes / int64_t(sizeof(T));
  const int64_t cg = s.c / s.groups, kg = s.k / s.groups, nq = cg * s.kh * s.kw;
  const int64_t plane = s.oh * s.ow;
  const ShiftedCopies sc(s, L);
  const int64_t per_k = (nq + 1) * L, per_run = s.k * per_k;  // tap lanes, then the bias lanes
  const int64_t runs = image_runs(s.n, per_run);
  std::vector<T> partv(runs * per_run, T(0));
  std::vector<T> bufv(threads * sc.size, T(0));
  for_image_runs(s.n, runs, threads, [&](int64_t run, int slot, int64_t n0, int64_t n1) {
    T* lanes = partv.data() + run * per_run;
    T* buf = bufv.data() + slot * sc.size;
    for (int64_t n = n0; n < n1; ++n)
      for (int64_t g = 0; g < s.groups; ++g) {
        sc.fill(x + (n * s.groups + g) * cg * s.h * s.w, buf);
        for (int64_t k0 = 0; k0 < kg; k0 += kDotRows) {
          const int rows = int(std::min<int64_t>(kDotRows, kg - k0));
          const int64_t k = g * kg + k0;
          // NOTE: taps in chunks of kDotTaps, each a pass over the channels' dy planes (in L1).
          for (int64_t q0 = 0; q0 < nq; q0 += kDotTaps)
            with_count<1, kDotTaps, ShiftedDot>(
                int(std::min<int64_t>(kDotTaps, nq - q0)), rows, static_cast<const T*>(buf),
                sc.offs.data() + q0, dy + (n * s.k + k) * plane, plane, plane,
                lanes + k * per_k + q0 * L, q0 == 0 ? lanes + k * per_k + nq * L : nullptr,
                per_k);
        }
      }
  });
  for (int64_t k = 0; k < s.k; ++k)
    for (int64_t q = 0; q <= nq; ++q) {
      if (q == nq && !db) break;
      T sum = 0;
      for (int64_t r = 0; r < runs; ++r)
        sum += lane_sum(partv.data() + r * per_run + k * per_k + q * L, L);
      (q < nq ? dw[k * nq + q] : db[k]) = sum;
    }
}

template <class T>
void direct_weight_grad(const T* dy, const T* x, T* dw, T* db, const Conv2dShape& s) {
  NNC_CHECK(s.stride_h == 1 && s.stride_w == 1, "conv2d", "direct_weight_grad needs stride 1");
  const int64_t work = s.n * s.k * s.oh * s.ow * (s.c / s.groups) * s.kh * s.kw;
  shifted_weight_grad(dy, x, dw, db, s, run_parallel(work) ? get_num_threads() : 1);
}

// db rides along the stride-1 dw pass (dy's planes are in L1 there); otherwise bias_grad.
template <class T>
void direct_backward(const T* dy, const T* x, const T* w, T* dx, T* dw, T* db,
                     const Conv2dShape& s) {
  const int64_t hp = s.h + 2 * s.pad_h, wp = s.w + 2 * s.pad_w;
  const int64_t cg = s.c / s.groups, kg = s.k / s.groups, taps = s.kh * s.kw;
  const int64_t ow = s.ow, sw = s.stride_w, plane = s.oh * ow;
  const int64_t work = s.n * s.k * plane * cg * taps;
  const int threads = run_parallel(work) ? get_num_threads() : 1;
  const bool wide = s.stride_h == 1 && s.stride_w == 1;
  if (db && !(dw && wide)) bias_grad(dy, db, s);
  if (dw) {
    if (wide) {
      shifted_weight_grad(dy, x, dw, db, s, threads);
    } else {
      const std::vector<T> xpv = padded_input(x, s);
      const T* xp = xpv.data();
      // dw[k, tap] = sum over (n, oh) of the row products dy * x, kept per output column in
      // acc[tap][o] (vectorisable) and summed over o at the end: the order is fixed per k.
      std::vector<T> accv(threads * cg * taps * ow);
      for_each_slot(s.k, s.k > 1 ? threads : 1, [&](int64_t k, int slot) {
        const int64_t g = k / kg;
        T* acc = accv.data() + slot * cg * taps * ow;
        std::fill_n(acc, cg * taps * ow, T(0));
        for (int64_t n = 0; n < s.n; ++n) {
          for (int64_t oh = 0; oh < s.oh; ++oh) {
            const T* __restrict dyr = dy + (n * s.k + k) * plane + oh * ow;
            for (int64_t cc = 0; cc < cg; ++cc) {
              const T* xpl = xp + (n * s.c + g * cg + cc) * hp * wp;
              for (int64_t i = 0; i < s.kh; ++i) {
                const T* xr = xpl + (oh * s.stride_h + i * s.dil_h) * wp;
                for (int64_t j = 0; j < s.kw; ++j) {
                  T* __restrict a = acc + ((cc * s.kh + i) * s.kw + j) * ow;
                  const T* __restrict xs = xr + j * s.dil_w;
                  if (sw == 1) {
                    for (int64_t o = 0; o < ow; ++o) a[o] += dyr[o] * xs[o];
                  } else {
                    for (int64_t o = 0; o < ow; ++o) a[o] += dyr[o] * xs[o * sw];
                  }
                }
              }
            }
          }
        }
        for (int64_t t = 0; t < cg * taps; ++t) dw[k * cg * taps + t] = lane_sum(acc + t * ow, ow);
      });
    }
  }
  if (dx) {
    // dx[n,c] gathers from every output channel of its group into a padded plane, then crops.
    std::vector<T> bufv(threads * hp * wp);
    for_each_slot(s.n * s.c, threads, [&](int64_t nc, int slot) {
      const int64_t n = nc / s.c, c = nc % s.c, g = c / cg, cc = c % cg;
      T* buf = bufv.data() + slot * hp * wp;
      std::fill_n(buf, hp * wp, T(0));
      for (int64_t kk = 0; kk < kg; ++kk) {
        const int64_t k = g * kg + kk;
        const T* wk = w + (k * cg + cc) * taps;
        for (int64_t oh = 0; oh < s.oh; ++oh) {
          const T* __restrict dyr = dy + (n * s.k + k) * plane + oh * ow;
          for (int64_t i = 0; i < s.kh; ++i) {
            T* br = buf + (oh * s.stride_h + i * s.dil_h) * wp;
            for (int64_t j = 0; j < s.kw; ++j) {
              const T wv = wk[i * s.kw + j];
              T* __restrict bs = br + j * s.dil_w;
              if (sw == 1) {
                for (int64_t o = 0; o < ow; ++o) bs[o] += wv * dyr[o];
              } else {
                for (int64_t o = 0; o < ow; ++o) bs[o * sw] += wv * dyr[o];
              }
            }
          }
        }
      }
      for (int64_t i = 0; i < s.h; ++i)
        copy_row(buf + (i + s.pad_h) * wp + s.pad_w, dx + (nc * s.h + i) * s.w, s.w);
    });
  }
}

template void direct_forward<float>(const float*, const float*, const float*, float*,
                                    const Conv2dShape&);
template void direct_forward<double>(const double*, const double*, const double*, double*,
                                     const Conv2dShape&);
template void direct_weight_grad<float>(const float*, const float*, float*, float*,
                                        const Conv2dShape&);
template void direct_weight_grad<double>(const double*, const double*, double*, double*,
                                         const Conv2dShape&);
template void direct_backward<float>(const float*, const float*, const float*, float*, float*,
                                     float*, const Conv2dShape&);
template void direct_backward<double>(const double*, const double*, const double*, double*,
                                      double*, double*, const Conv2dShape&);

}  // namespace nnc::conv_impl
