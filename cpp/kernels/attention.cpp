#include "kernels/attention.h"


#include <algorithm>
#include <array>
#include <cmath>
#include <type_traits>
#include <vector>

#include "common/eigen_map.h"
#include "common/lanes.h"
#include "common/parallel.h"
#include "common/simd.h"
#include "kernels/attention_rows.h"
#include "kernels/linear.h"
#include "kernels/tiled_mm.h"

namespace nnc {

namespace {

using attention_rows::exp_block;
using attention_rows::scale_row;
using attention_rows::softmax_grad_row;

// dst[j] = src[j] * keep(first + j) / (1 - p) for j < n (see activation.cpp's dropout_apply).
template <class T>
void dropout_row(const T* src, T* dst, int64_t n, uint64_t first, const AttentionShape& s) {
  const T scale = static_cast<T>(1.0 / (1.0 - s.dropout));
  const uint64_t threshold = static_cast<uint64_t>(std::ceil(s.dropout * 0x1.0p53));
  for (int64_t j = 0; j < n; ++j) {
    const bool keep = (splitmix64(s.seed, first + static_cast<uint64_t>(j)) >> 11) >= threshold;
    dst[j] = src[j] * (static_cast<T>(keep) * scale);
  }
}

// NOTE: rows per block, so a block of weights (rows x Lk) stays within ~64 KB of L2.
template <class T>
int64_t block_rows(const AttentionShape& s) {
  return std::max<int64_t>(1, std::min<int64_t>(s.lq, (64 * 1024 / sizeof(T)) / s.lk));
}

// NOTE: the per-head products are small (64x64x32 in a typical encoder), and gemm() spends a
// third of their time packing and blocking (p @ v of the benchmark: 0.60 ms for 128 heads
// through gemm(), 0.41 ms here). Products whose two operands fit L1 together run through
// tiled::mm, which reads both in place; larger ones keep gemm(), whose packing avoids the
// cache-set conflicts of strided reads.
constexpr int64_t kSmallBytes = 32 * 1024;  // largest A plus B run by tiled::mm

// Whether an [m,k] @ [k,n] product runs through tiled::mm.
template <class T>
bool fits_l1(int64_t m, int64_t n, int64_t k) {
  return static_cast<int64_t>(sizeof(T)) * k * (m + n) <= kSmallBytes;
}

// C[m,n] (+)= op(A) @ B, all contiguous: op(A) is [m,k] (A stored [k,m] when trans_a), B is
// [k,n]. Serial: it runs inside the per-group parallel loop.
template <class T>
void mm(bool trans_a, int64_t m, int64_t n, int64_t k, const T* a, const T* b, T* c,
        bool accumulate) {
  if (fits_l1<T>(m, n, k))
    tiled::mm(trans_a, m, n, k, a, b, c, accumulate);
  else
    gemm<T>(trans_a, false, m, n, k, a, b, c, accumulate);
}

// C[m, n] (+)= A @ B, A(r, p) = a[r * ars + p * acs], B [k, n] rows ldb apart, C rows ldc apart:
// tiled::mm's loop (the same sums in the same order) over blocks inside larger arrays. Serial.
template <class T>
void mm_strided(int64_t m, int64_t n, int64_t k, const T* a, int64_t ars, int64_t acs,
                const T* b, int64_t ldb, T* c, int64_t ldc, bool accumulate) {
  constexpr int S = tiled::kPacket<T>;
  int64_t j = 0;
  for (; j + 2 * S <= n; j += 2 * S)
    tiled::strip<T, 2>(m, k, a, ars, acs, b + j, ldb, c + j, ldc, accumulate);
  for (; j + S <= n; j += S)
    tiled::strip<T, 1>(m, k, a, ars, acs, b + j, ldb, c + j, ldc, accumulate);
  for (; j < n; ++j)
    for (int64_t i = 0; i < m; ++i) {
      T sum = accumulate ? c[i * ldc + j] : T(0);
      for (int64_t p = 0; p < k; ++p) sum += a[i * ars + p * acs] * b[p * ldb + j];
      c[i * ldc + j] = sum;
    }
}

// NOTE: causal attention skips the hidden keys: rows in blocks of kCausalRows, each block's
// products over the keys its last row sees only (64 x 64 heads: 59% of the full products).
// Only where every product of the full computation runs through tiled::mm (fits_l1): the skipped
// terms are exact zeros, so the sums, in the same order, give the same bits.
constexpr int64_t kCausalRows = 2 * tiled::kTileRows;

template <class T>
bool causal_triangle(const AttentionShape& s, int64_t rb) {
  return s.causal && s.lq > kCausalRows && fits_l1<T>(rb, s.lk, s.d) &&
         fits_l1<T>(rb, s.dv, s.lk) && fits_l1<T>(s.lk, s.dv, rb) && fits_l1<T>(rb, s.lk, s.dv) &&
         fits_l1<T>(rb, s.d, s.lk) && fits_l1<T>(s.lk, s.d, rb);
}

// Keys that rows [i0, i0 + nr) see: all, or the causal triangle's, rounded up to whole packets.
// NOTE: the rounding keeps every column in tiled::strip's vector tiles: the scalar loop for the
// last few columns made the triangle slower than the full products (and rounds differently).
template <class T>
int64_t keys_seen(const AttentionShape& s, bool triangle, int64_t i0, int64_t nr) {
  constexpr int64_t S = tiled::kPacket<T>;
  return triangle ? std::min(s.lk, (i0 + nr + S - 1) / S * S) : s.lk;
}

// dst[c, r] = src[r, c] for src [rows, cols].
// NOTE: float heads go through in-register 16x16 (AVX2: 8x8) block transposes: the scalar
// loop's strided stores were 8% of the forward (k^T) and 10% of the backward (v^T) of a
// 64 x 32 head; the edges that are not whole blocks stay scalar.
template <class T>
void transpose(const T* src, int64_t rows, int64_t cols, T* dst) {
  int64_t rv = 0, cv = 0;
  if constexpr (std::is_same_v<T, float> && simd::kVector) {
    constexpr int64_t F = simd::kFloats;
    rv = rows / F * F;
    cv = cols / F * F;
    for (int64_t r = 0; r < rv; r += F)
      for (int64_t c = 0; c < cv; c += F)
        simd::transpose_tile(src + r * cols + c, cols, dst + c * rows + r, rows);
    for (int64_t r = 0; r < rv; ++r)
      for (int64_t c = cv; c < cols; ++c) dst[c * rows + r] = src[r * cols + c];
  }
  for (int64_t r = rv; r < rows; ++r)
    for (int64_t c = 0; c < cols; ++c) dst[c * rows + r] = src[r * cols + c];
}

// dst row r = src row r for `rows` rows of `width` elements, rows `*_stride` elements apart.
// NOTE: unaligned packet loads and stores inline, not a memmove call per row (a head's rows are
// a few dozen elements: the calls cost more than the copying) nor an Eigen strided assignment
// (its per-row alignment peeling made staging packed q, k, v heads cost as much as the products:
// heads_attention.forward on (32, 64, 384) packed input 3.5 ms against 2.5 ms dense).
template <class T>
inline void copy_rows(const T* src, int64_t src_stride, T* dst, int64_t dst_stride, int64_t rows,
                      int64_t width) {
  namespace ei = Eigen::internal;
  constexpr int S = tiled::kPacket<T>;
  for (int64_t r = 0; r < rows; ++r) {
    const T* s = src + r * src_stride;
    T* d = dst + r * dst_stride;
    int64_t c = 0;
    for (; c + S <= width; c += S) ei::pstoreu(d + c, ei::ploadu<tiled::Packet<T>>(s + c));
    for (; c < width; ++c) d[c] = s[c];
  }
}

// Whether a head's rows are adjacent, so the kernel can use it in place.
inline bool dense(const HeadLayout& l, int64_t width) { return l.row == width; }

// Scratch elements for a head of `rows` x `width` that is not dense.
inline int64_t staged(const HeadLayout& l, int64_t rows, int64_t width) {
  return dense(l, width) ? 0 : rows * width;
}

// The unit of parallel work: heads [h0, h0 + nh) of batch entry b.
struct Group {
  int64_t b, h0, nh;
};

// NOTE: heads per group. A token-major head's rows are short pieces a whole token apart (128
// bytes every 1.5 KB for packed q, k, v at d_model 128), which the hardware prefetcher does not
// follow: staged head by head they cost as much as a third of the products. Staged for every
// head of a batch entry at once, each token's row is read whole and in order. So a group is a
// whole batch entry when its staged heads fit in L2 and there are batch entries enough to share
// between threads; else a single head.
template <class T>
int64_t heads_per_group(const AttentionShape& s, int64_t staged_per_head) {
  constexpr int64_t kGroupBytes = 256 * 1024;
  const int64_t threads = get_num_threads();
  const bool whole = staged_per_head > 0 && s.heads > 1 &&
                     staged_per_head * s.heads * static_cast<int64_t>(sizeof(T)) <= kGroupBytes &&
                     (threads == 1 || s.batch >= 4 * threads);
  return whole ? s.heads : 1;
}

// Calls f(group, buffer) for every group of nh heads (nh divides H), in parallel over groups
// when worth it; each thread owns `per_thread` elements of scratch, allocated here before any
// parallel region.
template <class T, class F>
void for_groups(const AttentionShape& s, int64_t nh, int64_t per_thread, const F& f) {
  const int64_t per_batch = s.heads / nh, groups = s.batch * per_batch;
  const int64_t work = s.batch * s.heads * s.lq * s.lk * (s.d + s.dv);
  const bool parallel = run_parallel(work) && groups > 1;
  const int threads = parallel ? get_num_threads() : 1;
  std::vector<T> scratch(static_cast<size_t>(per_thread * threads));
  auto one = [&](int64_t g, T* buf) {
    f(Group{g / per_batch, (g % per_batch) * nh, nh}, buf);
  };
  if (parallel) {
    // NOTE: dynamic, in chunks of ~1/8 of a thread's share: on a shared machine one thread is
    // often descheduled for a while, and static shares then leave the other waiting at the
    // end. Each head's result does not depend on which thread computes it (its scratch is fully
    // rewritten), so the output stays the same bits.
    const int64_t chunk = std::max<int64_t>(1, groups / (8 * threads));
    parallel_for((groups + chunk - 1) / chunk, threads, [&](int64_t c, int slot) {
      for (int64_t g = c * chunk; g < std::min(groups, (c + 1) * chunk); ++g)
        one(g, scratch.data() + per_thread * slot);
    });
  } else {
    for (int64_t g = 0; g < groups; ++g) one(g, scratch.data());
  }
}

// A group's heads of one array as dense [rows, width] blocks `stride` elements apart.
template <class T>
struct Heads {
  T* first;
  int64_t stride;
  T* operator[](int64_t i) const { return first + i * stride; }
};

// One array to gather for a group: heads [rows, width] under layout l from base.
template <class T>
struct Source {
  const T* base;
  HeadLayout l;
  int64_t rows, width;
};

// The group's heads of each source as dense blocks: in place when dense, else copied into the
// scratch at *buf (which advances past them).
// NOTE: token row by token row across all the sources, so a packed q, k, v token row (the three
// sources interleaved in one array) is read whole and in order: 1.3-1.5x faster than one source
// after another, whose 1/3-row pieces the hardware prefetcher follows poorly.
template <class T, size_t N>
std::array<Heads<const T>, N> gather(const std::array<Source<T>, N>& sources, const Group& g,
                                     T** buf) {
  std::array<Heads<const T>, N> heads;
  std::array<T*, N> dst{};
  int64_t rows = 0;
  for (size_t i = 0; i < N; ++i) {
    const Source<T>& src = sources[i];
    const T* first = src.base + g.b * src.l.batch + g.h0 * src.l.head;
    if (dense(src.l, src.width)) {
      heads[i] = {first, src.l.head};
      continue;
    }
    dst[i] = *buf;
    *buf += g.nh * src.rows * src.width;
    heads[i] = {dst[i], src.rows * src.width};
    rows = std::max(rows, src.rows);
  }
  for (int64_t r = 0; r < rows; ++r)
    for (size_t i = 0; i < N; ++i) {
      const Source<T>& src = sources[i];
      if (!dst[i] || r >= src.rows) continue;
      const T* row = src.base + g.b * src.l.batch + g.h0 * src.l.head + r * src.l.row;
      for (int64_t h = 0; h < g.nh; ++h)
        copy_rows(row + h * src.l.head, 0, dst[i] + (h * src.rows + r) * src.width, 0, 1,
                  src.width);
    }
  return heads;
}

// Where to compute group g's output heads bound for the array at base: in place when dense,
// else scratch taken from *buf, written back by scatter().
template <class T>
Heads<T> stage(T* base, const HeadLayout& l, const Group& g, int64_t rows, int64_t width,
               T** buf) {
  if (dense(l, width)) return {base + g.b * l.batch + g.h0 * l.head, l.head};
  T* out = *buf;
  *buf += g.nh * rows * width;
  return {out, rows * width};
}

// One array a group's staged output heads go back to (skipped when base is null or the heads
// were computed in place).
template <class T>
struct Target {
  T* base;
  HeadLayout l;
  int64_t rows, width;
  Heads<T> heads;
};

// Writes staged heads back, token row by token row across the targets as gather() reads.
template <class T, size_t N>
void scatter(const std::array<Target<T>, N>& targets, const Group& g) {
  auto staged_rows = [](const Target<T>& t) {
    return t.base && !dense(t.l, t.width) ? t.rows : int64_t{0};
  };
  int64_t rows = 0;
  for (const Target<T>& t : targets) rows = std::max(rows, staged_rows(t));
  for (int64_t r = 0; r < rows; ++r)
    for (const Target<T>& t : targets) {
      if (r >= staged_rows(t)) continue;
      T* row = t.base + g.b * t.l.batch + g.h0 * t.l.head + r * t.l.row;
      for (int64_t h = 0; h < g.nh; ++h)
        copy_rows(t.heads[h] + r * t.width, 0, row + h * t.l.head, 0, 1, t.width);
    }
}

template <class T>
const T* mask_of(const T* mask, int64_t bh, const AttentionShape& s) {
  if (!mask) return nullptr;
  const int64_t b = s.mask_batch == 1 ? 0 : bh / s.heads;
  const int64_t h = s.mask_heads == 1 ? 0 : bh % s.heads;
  return mask + (b * s.mask_heads + h) * s.lq * s.lk;
}

}  // namespace

template <class T>
void attention_forward(const T* q, const T* k, const T* v, const T* mask, T* o, T* p,
                       const AttentionShape& s) {
  const bool tri = causal_triangle<T>(s, block_rows<T>(s));
  const int64_t rb = tri ? kCausalRows : block_rows<T>(s);
  const bool drop = s.dropout > 0;
  const int64_t staging = staged(s.lay_q, s.lq, s.d) + staged(s.lay_k, s.lk, s.d) +
                          staged(s.lay_v, s.lk, s.dv) + staged(s.lay_o, s.lq, s.dv);
  const int64_t nh = heads_per_group<T>(s, staging);
  // Scratch: k^T, then the block's dropped weights, its 1 / row sums, and its weights when p
  // is not wanted.
  const int64_t work = s.d * s.lk + (drop ? rb * s.lk : 0) + rb + (p ? 0 : rb * s.lk);
  for_groups<T>(s, nh, work + nh * staging, [&](const Group& g, T* buf) {
    T* Kt = buf;  // k^T [D, Lk], so both products read their right operand row by row
    T* drop_buf = buf + s.d * s.lk;
    T* inv = drop_buf + (drop ? rb * s.lk : 0);
    T* block = inv + rb;
    buf += work;
    const auto [Qs, Ks, Vs] = gather<T, 3>({Source<T>{q, s.lay_q, s.lq, s.d},
                                            Source<T>{k, s.lay_k, s.lk, s.d},
                                            Source<T>{v, s.lay_v, s.lk, s.dv}},
                                           g, &buf);
    const Heads<T> Os = stage(o, s.lay_o, g, s.lq, s.dv, &buf);
    for (int64_t h = 0; h < g.nh; ++h) {
      const int64_t bh = g.b * s.heads + g.h0 + h;
      const T *Q = Qs[h], *K = Ks[h], *V = Vs[h];
      const T* M = mask_of(mask, bh, s);
      T* P = p ? p + bh * s.lq * s.lk : nullptr;
      T* O = Os[h];
      // k^T only for mm()'s loop; gemm() reads k as it is (its transposes of large
      // power-of-two strides would thrash the cache).
      const bool use_kt = tri || fits_l1<T>(rb, s.lk, s.d);
      if (use_kt) transpose(K, s.lk, s.d, Kt);
      for (int64_t i0 = 0; i0 < s.lq; i0 += rb) {
        const int64_t nr = std::min(rb, s.lq - i0), kv = keys_seen<T>(s, tri, i0, nr);
        T* Pb = P ? P + i0 * s.lk : block;
        if (tri)
          mm_strided<T>(nr, kv, s.d, Q + i0 * s.d, s.d, 1, Kt, s.lk, Pb, s.lk, false);
        else if (use_kt)
          mm<T>(false, nr, s.lk, s.d, Q + i0 * s.d, Kt, Pb, false);
        else
          gemm<T>(false, true, nr, s.lk, s.d, Q + i0 * s.d, K, Pb, false);
        exp_block(Pb, M, i0, nr, s.lk, s, inv);
        const T* weights = Pb;
        if (drop) {
          for (int64_t r = 0; r < nr; ++r)
            dropout_row(Pb + r * s.lk, drop_buf + r * s.lk, s.lk,
                        static_cast<uint64_t>((bh * s.lq + i0 + r) * s.lk), s);
          weights = drop_buf;
        }
        if (tri)
          mm_strided<T>(nr, s.dv, kv, weights, s.lk, 1, V, s.dv, O + i0 * s.dv, s.dv, false);
        else
          mm<T>(false, nr, s.dv, s.lk, weights, V, O + i0 * s.dv, false);
        // NOTE: the softmax's normalisation on the output rows (Dv wide) rather than on the
        // weights (Lk wide), which need it only when kept for backward.
        for (int64_t r = 0; r < nr; ++r) {
          scale_row(O + (i0 + r) * s.dv, s.dv, inv[r]);
          if (P) scale_row(Pb + r * s.lk, s.lk, inv[r]);
        }
      }
    }
    scatter<T, 1>({Target<T>{o, s.lay_o, s.lq, s.dv, Os}}, g);
  });
}

template <class T>
void attention_backward(const T* dout, const T* q, const T* k, const T* v, const T* p, T* dq,
                        T* dk, T* dv, const AttentionShape& s) {
  const bool tri = causal_triangle<T>(s, block_rows<T>(s));
  const int64_t rb = tri ? kCausalRows : block_rows<T>(s);
  const bool drop = s.dropout > 0;
  const bool need_ds = dq || dk;
  const T scale = static_cast<T>(s.scale);
  // Staged heads: q, k, v, dout, then whichever of dq, dk, dv are wanted.
  const int64_t staging = staged(s.lay_q, s.lq, s.d) + staged(s.lay_k, s.lk, s.d) +
                          staged(s.lay_v, s.lk, s.dv) + staged(s.lay_o, s.lq, s.dv) +
                          (dq ? staged(s.lay_q, s.lq, s.d) : 0) +
                          (dk ? staged(s.lay_k, s.lk, s.d) : 0) +
                          (dv ? staged(s.lay_v, s.lk, s.dv) : 0);
  const int64_t nh = heads_per_group<T>(s, staging);
  const int64_t work = 2 * rb * s.lk + s.dv * s.lk;
  for_groups<T>(s, nh, work + nh * staging, [&](const Group& g, T* buf) {
    T* pd = buf;              // dropout(p) of the block
    T* ds = buf + rb * s.lk;  // d(weights), then d(logits)
    T* Vt = ds + rb * s.lk;   // v^T [Dv, Lk]
    buf += work;
    const auto [Qs, Ks, Vs, dOs] = gather<T, 4>({Source<T>{q, s.lay_q, s.lq, s.d},
                                                  Source<T>{k, s.lay_k, s.lk, s.d},
                                                  Source<T>{v, s.lay_v, s.lk, s.dv},
                                                  Source<T>{dout, s.lay_o, s.lq, s.dv}},
                                                 g, &buf);
    const Heads<T> dQs = dq ? stage(dq, s.lay_q, g, s.lq, s.d, &buf) : Heads<T>{nullptr, 0};
    const Heads<T> dKs = dk ? stage(dk, s.lay_k, g, s.lk, s.d, &buf) : Heads<T>{nullptr, 0};
    const Heads<T> dVs = dv ? stage(dv, s.lay_v, g, s.lk, s.dv, &buf) : Heads<T>{nullptr, 0};
    for (int64_t h = 0; h < g.nh; ++h) {
      const int64_t bh = g.b * s.heads + g.h0 + h;
      const T *Q = Qs[h], *K = Ks[h], *V = Vs[h], *dO = dOs[h];
      const T* P = p + bh * s.lq * s.lk;
      T* dQ = dq ? dQs[h] : nullptr;
      T* dK = dk ? dKs[h] : nullptr;
      T* dV = dv ? dVs[h] : nullptr;
      const bool use_vt = need_ds && (tri || fits_l1<T>(rb, s.lk, s.dv));  // as k^T in forward
      if (use_vt) transpose(V, s.lk, s.dv, Vt);
      if (s.lq == 0) {
        if (dK) std::fill(dK, dK + s.lk * s.d, T(0));
        if (dV) std::fill(dV, dV + s.lk * s.dv, T(0));
      }
      for (int64_t i0 = 0; i0 < s.lq; i0 += rb) {
        const int64_t nr = std::min(rb, s.lq - i0), kv = keys_seen<T>(s, tri, i0, nr);
        const T* Pb = P + i0 * s.lk;
        const T* dOb = dO + i0 * s.dv;
        const uint64_t first = static_cast<uint64_t>((bh * s.lq + i0) * s.lk);
        // The triangle's first block starts the keys it does not see at zero, as the full
        // product would (later blocks add to them).
        if (tri && i0 == 0) {
          if (dV) std::fill(dV + kv * s.dv, dV + s.lk * s.dv, T(0));
          if (dK) std::fill(dK + kv * s.d, dK + s.lk * s.d, T(0));
        }
        if (dV) {
          const T* weights = Pb;
          if (drop) {
            for (int64_t r = 0; r < nr; ++r)
              dropout_row(Pb + r * s.lk, pd + r * s.lk, s.lk, first + r * s.lk, s);
            weights = pd;
          }
          if (tri)
            mm_strided<T>(kv, s.dv, nr, weights, 1, s.lk, dOb, s.dv, dV, s.dv, i0 > 0);
          else
            mm<T>(true, s.lk, s.dv, nr, weights, dOb, dV, i0 > 0);
        }
        if (!need_ds) continue;
        if (tri) {
          mm_strided<T>(nr, kv, s.dv, dOb, s.dv, 1, Vt, s.lk, ds, s.lk, false);
          for (int64_t r = 0; r < nr; ++r) std::fill(ds + r * s.lk + kv, ds + (r + 1) * s.lk, T(0));
        } else if (use_vt) {
          mm<T>(false, nr, s.lk, s.dv, dOb, Vt, ds, false);
        } else {
          gemm<T>(false, true, nr, s.lk, s.dv, dOb, V, ds, false);
        }
        for (int64_t r = 0; r < nr; ++r) {
          T* row = ds + r * s.lk;
          const T* pr = Pb + r * s.lk;
          if (drop) dropout_row(row, row, s.lk, first + r * s.lk, s);
          softmax_grad_row(row, pr, s.lk, scale);
        }
        if (tri) {
          if (dQ) mm_strided<T>(nr, s.d, kv, ds, s.lk, 1, K, s.d, dQ + i0 * s.d, s.d, false);
          if (dK) mm_strided<T>(kv, s.d, nr, ds, 1, s.lk, Q + i0 * s.d, s.d, dK, s.d, i0 > 0);
          continue;
        }
        if (dQ) mm<T>(false, nr, s.d, s.lk, ds, K, dQ + i0 * s.d, false);
        if (dK) mm<T>(true, s.lk, s.d, nr, ds, Q + i0 * s.d, dK, i0 > 0);
      }
    }
    scatter<T, 3>({Target<T>{dq, s.lay_q, s.lq, s.d, dQs}, Target<T>{dk, s.lay_k, s.lk, s.d, dKs},
                   Target<T>{dv, s.lay_v, s.lk, s.dv, dVs}},
                  g);
  });
}

#define NNC_INSTANTIATE(T)                                                                  \
  template void attention_forward<T>(const T*, const T*, const T*, const T*, T*, T*,       \
                                     const AttentionShape&);                              \
  template void attention_backward<T>(const T*, const T*, const T*, const T*, const T*, T*, \
                                      T*, T*, const AttentionShape&);
NNC_INSTANTIATE(float)
NNC_INSTANTIATE(double)
#undef NNC_INSTANTIATE

}  // namespace nnc
