// The blocked direct conv kernel (stride 1): forward and input gradient.
#include <algorithm>
#include <cstring>
#include <type_traits>
#include <vector>

#include "common/parallel.h"
#include "kernels/conv_blocked.h"

namespace nnc::conv_impl {

namespace {

// y[n, g*cout + o] = bias + sum_q wpk[...] * (x's group g of image n, padded)[offs[q] + t]
// for every image n: wpk holds, per group and block of output channels, the block's
// weights tap-major (q, r). Threading: the pool over (image, group) pairs handed out dynamically
// when there are two per thread or more, else over (image, group, chunk of tiles) items in static
// runs; a thread pads an image once for the items of it that it owns.
// NOTE: every block of output channels of a chunk runs before the next chunk, so the chunk's
// input rows stay in L2 (on a 64-channel 56x56 image, channels outer re-read the whole padded
// image, 0.9 MB, from L3 for each block).
template <class T>
void blocked_conv(const T* x, const T* wpk, const T* bias, T* y, int64_t n,
                  const BlockedConv& bc) {
  const int64_t per_tile = 2 * kVecBytes / int64_t(sizeof(T));
  const int64_t chunk =
      std::max<int64_t>(1, kChunkBytes / (bc.cin * int64_t(sizeof(T)) * per_tile));
  const int64_t chunks = (bc.tiles + chunk - 1) / chunk, items = n * bc.groups * chunks;
  const int64_t in_plane = bc.h * bc.w, out_plane = bc.oh * bc.ow, wide = bc.oh * bc.wp;
  const int64_t work = n * bc.groups * bc.cout * bc.nq * wide;
  const int threads = items > 1 && run_parallel(work) ? get_num_threads() : 1;
  const int64_t ldo = std::min(chunk, bc.tiles) * per_tile;
  std::vector<T> xpv(threads * bc.padded, T(0));
  std::vector<T> outv(threads * kBlockRows * ldo);
  auto run = [&](int t, int64_t i0, int64_t i1) {
    T* xp = xpv.data() + t * bc.padded + bc.lead;
    T* out = outv.data() + t * kBlockRows * ldo;
    int64_t padded_for = -1;  // the (image, group) now in xp
    for (int64_t item = i0; item < i1; ++item) {
      const int64_t ng = item / chunks, g = ng % bc.groups, tile0 = item % chunks * chunk;
      const int64_t tiles = std::min(chunk, bc.tiles - tile0);
      if (ng != padded_for) {
        const T* xg = x + ng * bc.cin * in_plane;
        for (int64_t c = 0; c < bc.cin; ++c)
          for (int64_t r = 0; r < bc.h; ++r)
            copy_row(xg + (c * bc.h + r) * bc.w, xp + bc.data(c, r), bc.w);
        padded_for = ng;
      }
      // The chunk's wide positions [p0, p1), and the output rows they cross.
      const int64_t p0 = tile0 * per_tile, p1 = std::min(wide, p0 + tiles * per_tile);
      const bool half_last = p1 - p0 <= (tiles - 1) * per_tile + per_tile / 2;
      for (int64_t blk = 0; blk < bc.blocks(); ++blk) {
        int64_t o0;
        int rows;
        bc.block(blk, o0, rows);
        with_count<1, kBlockRows, BlockedTiles>(
            rows, static_cast<const T*>(xp + p0), bc.offs.data(), bc.nq,
            wpk + (g * bc.cout + o0) * bc.nq, bias ? bias + g * bc.cout + o0 : nullptr, out, ldo,
            tiles, half_last);
        T* yb = y + (ng * bc.cout + o0) * out_plane;
        for (int64_t orow = p0 / bc.wp; orow * bc.wp < p1; ++orow) {
          const int64_t row0 = orow * bc.wp;
          const int64_t c0 = std::max(p0, row0), c1 = std::min(p1, row0 + bc.ow);
          if (c1 <= c0) continue;
          for (int r = 0; r < rows; ++r)
            copy_row(out + r * ldo + (c0 - p0), yb + r * out_plane + orow * bc.ow + (c0 - row0),
                     c1 - c0);
        }
      }
    }
  };
  const int64_t images = n * bc.groups;
  if (threads > 1 && images >= 2 * threads) {
    // NOTE: images handed out one at a time (with all their chunks, so each is padded once),
    // not in fixed halves: on these shared 2-core machines one thread often runs slower for a
    // while, and the other then waited at the end (dynamic: 14x14 forward and dx 15-18% faster
    // at 2 threads, 56x56 forward 11%). Each output depends only on its item: the same bits.
    parallel_for(images, threads,
                 [&](int64_t ng, int slot) { run(slot, ng * chunks, (ng + 1) * chunks); });
  } else if (threads > 1) {
    const int64_t runs = std::min<int64_t>(items, 4 * int64_t(threads));
    parallel_for(runs, threads, [&](int64_t r, int slot) {
      run(slot, items * r / runs, items * (r + 1) / runs);
    });
  } else {
    run(0, 0, items);
  }
}

// Packs weights for blocked_conv: per group g and block [o0, o0 + rows) of output channels
// (BlockedConv::block), wpk[(g * cout + o0) * nq + q * rows + r] = weight(g, o0 + r, q).
template <class T, class F>
std::vector<T> pack_blocked_weights(const BlockedConv& bc, const F& weight) {
  std::vector<T> wpk(bc.groups * bc.cout * bc.nq);
  for (int64_t g = 0; g < bc.groups; ++g)
    for (int64_t blk = 0; blk < bc.blocks(); ++blk) {
      int64_t o0;
      int rows;
      bc.block(blk, o0, rows);
      T* dst = wpk.data() + (g * bc.cout + o0) * bc.nq;
      for (int64_t q = 0; q < bc.nq; ++q)
        for (int64_t r = 0; r < rows; ++r) dst[q * rows + r] = weight(g, o0 + r, q);
    }
  return wpk;
}

}  // namespace

// NOTE: stride 1 only (the wide positions need it). Chosen where the junk columns of the wide
// rows cost less than im2col's column matrix: see use_blocked.
template <class T>
void blocked_forward(const T* x, const T* w, const T* b, T* y, const Conv2dShape& s) {
  const int64_t cg = s.c / s.groups, kg = s.k / s.groups;
  const BlockedConv bc(s.groups, cg, s.h, s.w, s.pad_h, s.pad_w, kg, s.kh, s.kw, s.dil_h,
                       s.dil_w, sizeof(T));
  const std::vector<T> wpk = pack_blocked_weights<T>(
      bc, [&](int64_t g, int64_t o, int64_t q) { return w[(g * kg + o) * bc.nq + q]; });
  blocked_conv(x, wpk.data(), b, y, s.n, bc);
}

// dx of a stride-1 conv is a stride-1 correlation of dy, padded by (k - 1) * d - p, with the
// weights flipped and in/out channels swapped: dx[c] = sum_{k,i,j} w[k, c, kh-1-i, kw-1-j] *
// dyp[k, ih + i*d, iw + j*d].
template <class T>
void blocked_input_grad(const T* dy, const T* w, T* dx, const Conv2dShape& s) {
  const int64_t cg = s.c / s.groups, kg = s.k / s.groups, taps = s.kh * s.kw;
  const BlockedConv bc(s.groups, kg, s.oh, s.ow, (s.kh - 1) * s.dil_h - s.pad_h,
                       (s.kw - 1) * s.dil_w - s.pad_w, cg, s.kh, s.kw, s.dil_h, s.dil_w,
                       sizeof(T));
  const std::vector<T> wpk =
      pack_blocked_weights<T>(bc, [&](int64_t g, int64_t c, int64_t q) {
        const int64_t k = g * kg + q / taps, tap = taps - 1 - q % taps;  // flipped (i, j)
        return w[(k * cg + c) * taps + tap];
      });
  blocked_conv(dy, wpk.data(), static_cast<const T*>(nullptr), dx, s.n, bc);
}
#define NNC_INSTANTIATE(T)                                                                 \
  template void blocked_forward<T>(const T*, const T*, const T*, T*, const Conv2dShape&);  \
  template void blocked_input_grad<T>(const T*, const T*, T*, const Conv2dShape&);
NNC_INSTANTIATE(float)
NNC_INSTANTIATE(double)
#undef NNC_INSTANTIATE

}  // namespace nnc::conv_impl
