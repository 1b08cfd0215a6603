// Row-wise pieces of the attention family's softmax over a block of logits (one row per query,
// one column per key): maxima, exps and their sums, the normalisation, and the softmax's
// backward. Internal to cpp/kernels/attention.cpp, its only includer. Float rows run in packets
// of the target's width (Eigen's), the rest in Eigen's fixed 16-lane arrays.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>

#include "common/eigen_map.h"
#include "common/lanes.h"
#include "kernels/attention.h"

namespace nnc::attention_rows {

// x[i] = exp(x[i] * mul - shift) for i < n (float: one fused multiply-add); returns sum_i x[i]
// (summed as lane_dot(x, nullptr, n) for double). mul = 1 leaves x as it is (exact).
template <class T>
T exp_shifted_sum(T* x, int64_t n, T shift, T mul) {
  Lanes<T> v, acc = Lanes<T>::Zero();
  int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes) {
    v = Eigen::Map<const Lanes<T>>(x + i);
    v = (v * mul - shift).exp();
    Eigen::Map<Lanes<T>>(x + i) = v;
    acc += v;
  }
  if (i < n) {
    const int64_t r = n - i;
    v.setConstant(shift / mul);
    v.head(r) = MapConstArr<T>(x + i, r);
    v = (v * mul - shift).exp();
    MapArr<T>(x + i, r) = v.head(r);
    v.tail(kLanes - r).setZero();
    acc += v;
  }
  return acc.sum();
}

// max_j x[j] over j < n (-inf when n = 0); exact, so the order does not matter.
template <class T>
T row_max(const T* x, int64_t n) {
  Lanes<T> top = Lanes<T>::Constant(-std::numeric_limits<T>::infinity());
  int64_t j = 0;
  for (; j + kLanes <= n; j += kLanes) top = top.max(Eigen::Map<const Lanes<T>>(x + j));
  T m = top.maxCoeff();
  for (; j < n; ++j) m = x[j] > m ? x[j] : m;
  return m;
}

// scaled_row_max's scalar tail: columns [j, n) scaled (and masked) in place; returns the
// maximum of m and them.
template <class T>
inline T scaled_row_max_tail(T* x, const T* mask, int64_t j, int64_t n, T scale, T m) {
  for (; j < n; ++j) {
    T z = x[j] * scale;
    if (mask) z += mask[j];
    x[j] = z;
    m = z > m ? z : m;
  }
  return m;
}

// x[j] = scale * x[j] (+ mask[j]) for j < n, in place; returns their maximum (-inf when n = 0).
template <class T>
T scaled_row_max(T* x, const T* mask, int64_t n, T scale) {
  Lanes<T> v, top = Lanes<T>::Constant(-std::numeric_limits<T>::infinity());
  int64_t j = 0;
  for (; j + kLanes <= n; j += kLanes) {
    v = Eigen::Map<const Lanes<T>>(x + j) * scale;
    if (mask) v += Eigen::Map<const Lanes<T>>(mask + j);
    Eigen::Map<Lanes<T>>(x + j) = v;
    top = top.max(v);
  }
  return scaled_row_max_tail(x, mask, j, n, scale, top.maxCoeff());
}

// The softmax's backward on one row in place: dz = scale * p * (dp - sum_j dp[j] p[j]).
template <class T>
void softmax_grad_row(T* dp, const T* p, int64_t n, T scale) {
  const T dot = lane_dot(dp, p, n);
  for (int64_t j = 0; j < n; ++j) dp[j] = scale * (p[j] * (dp[j] - dot));
}

#if defined(__AVX2__) && defined(__FMA__)
// softmax_grad_row in packets of the target's width (half the time of Eigen's 16-lane arrays
// on 64-key rows: ~7% of the backward).
template <>
inline void softmax_grad_row<float>(float* dp, const float* p, int64_t n, float scale) {
  using namespace Eigen::internal;
  using P = packet_traits<float>::type;
  constexpr int64_t width = packet_traits<float>::size;  // (not unpacket_traits<P>: GCC warns)
  P acc = pset1<P>(0.0f);
  int64_t j = 0;
  for (; j + width <= n; j += width) acc = pmadd(ploadu<P>(dp + j), ploadu<P>(p + j), acc);
  float dot = predux(acc);
  for (int64_t t = j; t < n; ++t) dot += dp[t] * p[t];
  const P d = pset1<P>(dot), sc = pset1<P>(scale);
  for (j = 0; j + width <= n; j += width)
    pstoreu(dp + j, pmul(sc, pmul(ploadu<P>(p + j), psub(ploadu<P>(dp + j), d))));
  for (; j < n; ++j) dp[j] = scale * (p[j] * (dp[j] - dot));
}

// scaled_row_max in packets of the target's width (as row_max).
template <>
inline float scaled_row_max<float>(float* x, const float* mask, int64_t n, float scale) {
  using namespace Eigen::internal;
  using P = packet_traits<float>::type;
  constexpr int64_t width = packet_traits<float>::size;  // (not unpacket_traits<P>: GCC warns)
  const P sc = pset1<P>(scale);
  P top = pset1<P>(-std::numeric_limits<float>::infinity());
  int64_t j = 0;
  for (; j + width <= n; j += width) {
    P v = pmul(ploadu<P>(x + j), sc);
    if (mask) v = padd(v, ploadu<P>(mask + j));
    pstoreu(x + j, v);
    top = pmax(top, v);
  }
  return scaled_row_max_tail(x, mask, j, n, scale, predux_max(top));
}

// row_max in packets of the target's width, reduced once: Eigen's fixed 16-lane array took ~40
// cycles a 64-key row (a third of the softmax).
template <>
inline float row_max<float>(const float* x, int64_t n) {
  using namespace Eigen::internal;
  using P = packet_traits<float>::type;
  constexpr int64_t width = packet_traits<float>::size;  // (not unpacket_traits<P>: GCC warns)
  P top = pset1<P>(-std::numeric_limits<float>::infinity());
  int64_t j = 0;
  for (; j + width <= n; j += width) top = pmax(top, ploadu<P>(x + j));
  float m = predux_max(top);
  for (; j < n; ++j) m = x[j] > m ? x[j] : m;
  return m;
}

// 2^t of a packet of floats t <= 0 (log2 of a weight: logits minus their row maximum, times
// log2 e), at the target's full width (Eigen's packets: 16 floats with AVX-512, 8 with AVX2):
// t = m + f with m = rint(t) and |f| <= 1/2, 2^f by a degree-6 polynomial (a Chebyshev fit,
// relative error 1.0e-7 evaluated in float), 2^m straight into the exponent bits (valid as
// m >= -126), and t < -126 gives 0 (2^t < 1.2e-38 there).
// NOTE: log2 units save Cephes exp's two-step reduction by ln 2 (15 vector operations a packet
// against 20). The price is t's rounding, |t| * 6e-8 absolute: weights near the row's maximum
// (|t| < 2) keep ~1e-7 relative accuracy, and a weight 2^t's error |t| * 2^t * 4e-8 stays below
// 2e-8 of the largest weight.
template <class P>
inline P exp2_nonpositive(const P& t) {
  using namespace Eigen::internal;
  using PI = typename unpacket_traits<P>::integer_packet;
  const P m = print(t);
  const P f = psub(t, m);
  P y = pmadd(pset1<P>(1.5469732170458883e-4f), f, pset1<P>(1.3400432653725147e-3f));
  y = pmadd(y, f, pset1<P>(9.61802527308464e-3f));
  y = pmadd(y, f, pset1<P>(5.550327152013779e-2f));
  y = pmadd(y, f, pset1<P>(2.4022650718688965e-1f));
  y = pmadd(y, f, pset1<P>(6.931471824645996e-1f));
  y = pmadd(y, f, pset1<P>(1.0f));
  // NOTE: m is integral, so pcast's truncation is exact.
  const PI e = plogical_shift_left<23>(padd(pcast<P, PI>(m), pset1<PI>(127)));
  y = pmul(y, preinterpret<P>(e));
  // NaN compares false and stays NaN (f, so y, is NaN); t = -inf gives 0.
  return pandnot(y, pcmp_lt(t, pset1<P>(-126.0f)));
}

template <>
inline float exp_shifted_sum<float>(float* x, int64_t n, float shift, float mul) {
  using namespace Eigen::internal;
  using P = packet_traits<float>::type;
  constexpr int64_t width = packet_traits<float>::size, packets = kLanes / width;
  static_assert(kLanes % width == 0, "whole packets per lane block");
  // exp(x * mul - shift) = 2^(x * mul * log2 e - shift * log2 e); the constants rounded once.
  // NOTE: the shift's rounding scales a whole row alike, which the normalisation cancels.
  constexpr double kLog2e = 1.4426950408889634;
  const float mul2 = static_cast<float>(mul * kLog2e), shift2 = static_cast<float>(shift * kLog2e);
  const P nsh = pset1<P>(-shift2), mu = pset1<P>(mul2);
  P acc[packets];
  for (auto& a : acc) a = pzero(mu);
  int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes)
    for (int64_t k = 0; k < packets; ++k) {
      const P v = exp2_nonpositive(pmadd(ploadu<P>(x + i + k * width), mu, nsh));
      pstoreu(x + i + k * width, v);
      acc[k] = padd(acc[k], v);
    }
  if (i < n) {
    alignas(64) float t[kLanes];
    const int64_t r = n - i;
    for (int64_t j = 0; j < kLanes; ++j)
      t[j] = j < r ? std::fma(x[i + j], mul2, -shift2) : -INFINITY;
    for (int64_t k = 0; k < packets; ++k) {
      const P v = exp2_nonpositive(pload<P>(t + k * width));
      pstore(t + k * width, v);
      acc[k] = padd(acc[k], v);
    }
    std::copy(t, t + r, x + i);
  }
  for (int64_t k = 1; k < packets; ++k) acc[0] = padd(acc[0], acc[k]);
  return predux(acc[0]);
}
#endif

// Rows [i0, i0 + nr) of one head's weights in place (x: nr rows of n), unnormalised:
// x = exp(z - max z) with z = scale * x + mask over each row's keys (all of them, or the first
// i + 1 when causal), zeros beyond; inv[r] = 1 / sum of row r, the softmax's normalisation, which
// the caller applies. A row whose keys are all -inf becomes all zeros, with inv 0.
// NOTE: a pass at a time over the whole block, not row by row: a 64-key row is 4 packets, and
// each row's chain (maximum, horizontal reduction, exps, sum, division) is serial, so rows taken
// one after another left the vector units idle (the sum and division alone were 7% of the
// forward). Without a mask and with a positive scale, max z = scale * max x exactly (rounding is
// monotonic), so z is not stored and reloaded: the exp pass forms it.
template <class T>
void exp_block(T* x, const T* mask, int64_t i0, int64_t nr, int64_t n, const AttentionShape& s,
               T* inv) {
  const T neg_inf = -std::numeric_limits<T>::infinity();
  const T scale = static_cast<T>(s.scale);
  const bool fold = !mask && scale > T(0);
  auto valid = [&](int64_t r) { return s.causal ? std::min(n, i0 + r + 1) : n; };
  // Each row's maximum (exact, so its order does not matter), kept in inv for now.
  for (int64_t r = 0; r < nr; ++r) {
    T* row = x + r * n;
    const T* mrow = mask ? mask + (i0 + r) * n : nullptr;
    inv[r] = fold ? row_max(row, valid(r)) * scale : scaled_row_max(row, mrow, valid(r), scale);
  }
  for (int64_t r = 0; r < nr; ++r) {
    T* row = x + r * n;
    const int64_t nv = inv[r] == neg_inf ? 0 : valid(r);
    inv[r] = nv > 0 ? exp_shifted_sum(row, nv, inv[r], fold ? scale : T(1)) : T(0);
    std::fill(row + nv, row + n, T(0));
  }
  // NOTE: a sum over seen keys is at least exp(0) = 1 (or NaN, which stays NaN): 0 marks only
  // the rows with no key.
  for (int64_t r = 0; r < nr; ++r) inv[r] = inv[r] == T(0) ? T(0) : T(1) / inv[r];
}

// x[j] *= c for j < n.
template <class T>
void scale_row(T* x, int64_t n, T c) {
  int64_t j = 0;
  for (; j + kLanes <= n; j += kLanes) Eigen::Map<Lanes<T>>(x + j) *= c;
  for (; j < n; ++j) x[j] *= c;
}

}  // namespace nnc::attention_rows
