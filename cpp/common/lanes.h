// Fixed-lane helpers for bit-reproducible vectorised maths, shared by the kernels.
// NOTE: Eigen peels an unaligned head by address before its packet loop, so its vectorised exp
// and sums over a Map can differ in the last bit between two calls on the same values stored at
// different addresses. These helpers run Eigen on fixed, aligned blocks of kLanes elements
// instead (the tail padded), so every result depends on the values alone.
#pragma once
#include <cstdint>
#include <type_traits>

#include "common/eigen_map.h"

namespace nnc {

constexpr int64_t kLanes = 16;
template <class T>
using Lanes = Eigen::Array<T, kLanes, 1>;

// y[i] = f(block of x)[i] for i < n; f maps a Lanes<T> to a Lanes<T> or an Eigen expression of
// one (an expression may refer only to f's argument and captures, never to f's locals).
template <class T, class F>
void lanewise(const T* x, T* y, int64_t n, const F& f) {
  Lanes<T> in, out;
  int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes) {
    in = Eigen::Map<const Lanes<T>>(x + i);
    out = f(in);
    Eigen::Map<Lanes<T>>(y + i) = out;
  }
  if (i < n) {
    const int64_t r = n - i;
    in.setZero();
    in.head(r) = MapConstArr<T>(x + i, r);
    out = f(in);
    MapArr<T>(y + i, r) = out.head(r);
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

// splitmix64 (Steele, Lea, Flood 2014): output number i of the stream seeded with `seed`. The
// dropout masks of the activation and attention families are pure functions of (seed, index), so
// backward regenerates them and the thread count never changes them.
inline uint64_t splitmix64(uint64_t seed, uint64_t i) {
  uint64_t z = seed + (i + 1) * 0x9E3779B97F4A7C15ULL;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

// tanh of a block. NOTE: Eigen vectorises tanh for float only; for double it calls std::tanh
// lane by lane, a large share of a small float64 LSTM step. expm1 is vectorised
// for both: tanh|x| = -e / (e + 2) with e = expm1(-2|x|) keeps full relative accuracy near 0 and
// saturates at 1 without overflow.
template <class T>
Lanes<T> lane_tanh(const Lanes<T>& v) {
  if constexpr (std::is_same_v<T, double>) {
    const Lanes<T> e = (T(-2) * v.abs()).expm1();
    const Lanes<T> t = -e / (e + T(2));
    return (v < T(0)).select(-t, t);
  } else {
    return v.tanh();
  }
}

}  // namespace nnc
