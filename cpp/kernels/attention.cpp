#include "kernels/attention.h"

#include <omp.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "common/eigen_map.h"
#include "common/parallel.h"
#include "kernels/linear.h"

namespace nnc {

namespace {

// NOTE: as in activation.cpp, Eigen's vectorised exp and sums run on fixed local blocks of
// kLanes elements (the tail padded), never on a Map whose head peeling depends on the address,
// so every result depends on the values alone.
constexpr int64_t kLanes = 16;
template <class T>
using Lanes = Eigen::Array<T, kLanes, 1>;

// x[i] = exp(x[i] - shift) for i < n.
template <class T>
void exp_shifted(T* x, int64_t n, T shift) {
  Lanes<T> v;
  int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes) {
    v = Eigen::Map<const Lanes<T>>(x + i);
    v = (v - shift).exp();
    Eigen::Map<Lanes<T>>(x + i) = v;
  }
  if (i < n) {
    const int64_t r = n - i;
    v.setConstant(shift);
    v.head(r) = MapConstArr<T>(x + i, r);
    v = (v - shift).exp();
    MapArr<T>(x + i, r) = v.head(r);
  }
}

// sum_i a[i] * b[i] (b null: sum_i a[i]), accumulated lane by lane in a fixed order.
template <class T>
T lane_dot(const T* a, const T* b, int64_t n) {
  Lanes<T> acc = Lanes<T>::Zero(), va, vb;
  int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes) {
    va = Eigen::Map<const Lanes<T>>(a + i);
    if (b) va *= Eigen::Map<const Lanes<T>>(b + i);
    acc += va;
  }
  if (i < n) {
    const int64_t r = n - i;
    va.setZero();
    va.head(r) = MapConstArr<T>(a + i, r);
    if (b) {
      vb.setZero();
      vb.head(r) = MapConstArr<T>(b + i, r);
      va *= vb;
    }
    acc += va;
  }
  return acc.sum();
}

// splitmix64 (Steele, Lea, Flood 2014): output number i of the stream seeded with `seed`; the
// same stream as the activation family's dropout.
inline uint64_t splitmix64(uint64_t seed, uint64_t i) {
  uint64_t z = seed + (i + 1) * 0x9E3779B97F4A7C15ULL;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

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

// Row i of the weights in place: x = scale * x + mask over the first n_valid keys, softmax, and
// zeros beyond (causally hidden keys). A row whose keys are all -inf becomes all zeros.
template <class T>
void softmax_row(T* x, const T* mask_row, int64_t n_valid, int64_t n, T scale) {
  const T neg_inf = -std::numeric_limits<T>::infinity();
  T m = neg_inf;
  for (int64_t j = 0; j < n_valid; ++j) {
    T z = x[j] * scale;
    if (mask_row) z += mask_row[j];
    x[j] = z;
    m = z > m ? z : m;
  }
  if (m == neg_inf) n_valid = 0;
  if (n_valid > 0) {
    exp_shifted(x, n_valid, m);
    const T inv = T(1) / lane_dot<T>(x, nullptr, n_valid);
    for (int64_t j = 0; j < n_valid; ++j) x[j] *= inv;
  }
  std::fill(x + n_valid, x + n, T(0));
}

// NOTE: rows per block, so a block of weights (rows x Lk) stays within ~64 KB of L2.
template <class T>
int64_t block_rows(const AttentionShape& s) {
  return std::max<int64_t>(1, std::min<int64_t>(s.lq, (64 * 1024 / sizeof(T)) / s.lk));
}

// Calls f(bh, buffer) for every (batch, head) pair, in parallel over pairs when worth it; each
// thread owns `per_thread` elements of scratch, allocated here before any OpenMP region.
template <class T, class F>
void for_pairs(const AttentionShape& s, int64_t per_thread, const F& f) {
  const int64_t pairs = s.batch * s.heads;
  const int64_t work = pairs * s.lq * s.lk * (s.d + s.dv);
  const bool parallel = run_parallel(work) && pairs > 1;
  const int threads = parallel ? get_num_threads() : 1;
  std::vector<T> scratch(static_cast<size_t>(per_thread * threads));
  if (parallel) {
#pragma omp parallel for schedule(static) num_threads(threads)
    for (int64_t bh = 0; bh < pairs; ++bh)
      f(bh, scratch.data() + per_thread * omp_get_thread_num());
  } else {
    for (int64_t bh = 0; bh < pairs; ++bh) f(bh, scratch.data());
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
  const int64_t rb = block_rows<T>(s);
  const bool drop = s.dropout > 0;
  const T scale = static_cast<T>(s.scale);
  for_pairs<T>(s, drop ? rb * s.lk : 0, [&](int64_t bh, T* buf) {
    const T* Q = q + bh * s.lq * s.d;
    const T* K = k + bh * s.lk * s.d;
    const T* V = v + bh * s.lk * s.dv;
    const T* M = mask_of(mask, bh, s);
    T* P = p + bh * s.lq * s.lk;
    T* O = o + bh * s.lq * s.dv;
    for (int64_t i0 = 0; i0 < s.lq; i0 += rb) {
      const int64_t nr = std::min(rb, s.lq - i0);
      T* Pb = P + i0 * s.lk;
      gemm<T>(false, true, nr, s.lk, s.d, Q + i0 * s.d, K, Pb, false);
      for (int64_t r = 0; r < nr; ++r) {
        const int64_t i = i0 + r;
        const int64_t valid = s.causal ? std::min(s.lk, i + 1) : s.lk;
        softmax_row(Pb + r * s.lk, M ? M + i * s.lk : nullptr, valid, s.lk, scale);
      }
      const T* weights = Pb;
      if (drop) {
        for (int64_t r = 0; r < nr; ++r)
          dropout_row(Pb + r * s.lk, buf + r * s.lk, s.lk,
                      static_cast<uint64_t>((bh * s.lq + i0 + r) * s.lk), s);
        weights = buf;
      }
      gemm<T>(false, false, nr, s.dv, s.lk, weights, V, O + i0 * s.dv, false);
    }
  });
}

template <class T>
void attention_backward(const T* dout, const T* q, const T* k, const T* v, const T* p, T* dq,
                        T* dk, T* dv, const AttentionShape& s) {
  const int64_t rb = block_rows<T>(s);
  const bool drop = s.dropout > 0;
  const bool need_ds = dq || dk;
  const T scale = static_cast<T>(s.scale);
  for_pairs<T>(s, 2 * rb * s.lk, [&](int64_t bh, T* buf) {
    const T* Q = q + bh * s.lq * s.d;
    const T* K = k + bh * s.lk * s.d;
    const T* V = v + bh * s.lk * s.dv;
    const T* P = p + bh * s.lq * s.lk;
    const T* dO = dout + bh * s.lq * s.dv;
    T* dQ = dq ? dq + bh * s.lq * s.d : nullptr;
    T* dK = dk ? dk + bh * s.lk * s.d : nullptr;
    T* dV = dv ? dv + bh * s.lk * s.dv : nullptr;
    T* pd = buf;             // dropout(p) of the block
    T* ds = buf + rb * s.lk;  // d(weights), then d(logits)
    if (s.lq == 0) {
      if (dK) std::fill(dK, dK + s.lk * s.d, T(0));
      if (dV) std::fill(dV, dV + s.lk * s.dv, T(0));
    }
    for (int64_t i0 = 0; i0 < s.lq; i0 += rb) {
      const int64_t nr = std::min(rb, s.lq - i0);
      const T* Pb = P + i0 * s.lk;
      const T* dOb = dO + i0 * s.dv;
      const uint64_t first = static_cast<uint64_t>((bh * s.lq + i0) * s.lk);
      if (dV) {
        const T* weights = Pb;
        if (drop) {
          for (int64_t r = 0; r < nr; ++r)
            dropout_row(Pb + r * s.lk, pd + r * s.lk, s.lk, first + r * s.lk, s);
          weights = pd;
        }
        gemm<T>(true, false, s.lk, s.dv, nr, weights, dOb, dV, i0 > 0);
      }
      if (!need_ds) continue;
      gemm<T>(false, true, nr, s.lk, s.dv, dOb, V, ds, false);
      for (int64_t r = 0; r < nr; ++r) {
        T* row = ds + r * s.lk;
        const T* pr = Pb + r * s.lk;
        if (drop) dropout_row(row, row, s.lk, first + r * s.lk, s);
        const T dot = lane_dot(row, pr, s.lk);
        for (int64_t j = 0; j < s.lk; ++j) row[j] = scale * (pr[j] * (row[j] - dot));
      }
      if (dQ) gemm<T>(false, false, nr, s.d, s.lk, ds, K, dQ + i0 * s.d, false);
      if (dK) gemm<T>(true, false, s.lk, s.d, nr, ds, Q + i0 * s.d, dK, i0 > 0);
    }
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
