// Checked integer arithmetic for shape and size computations. Every sum and product of
// user-given sizes (padding, dilation, an output size, a byte count) goes through these, so a
// huge value is a ValueError naming the op and the argument, never a wrapped count that a kernel
// then reads or writes past its buffer.
#pragma once
#include <cstdint>
#include <initializer_list>

#include "common/check.h"

namespace nnc {

// NOTE: no array can hold more elements than this (2^48 float64 are 2 PiB): products of sizes
// are refused above it, so a kernel's own index arithmetic (element counts times small
// factors such as threads or taps) cannot overflow int64 either.
constexpr int64_t kMaxElements = int64_t{1} << 48;

// a + b, or a ValueError "[op] what: ... overflows" when the sum leaves int64.
inline int64_t checked_add(const char* op, const char* what, int64_t a, int64_t b) {
  int64_t r;
  NNC_CHECK(!__builtin_add_overflow(a, b, &r), op, what, ": size arithmetic overflows (", a,
            " + ", b, ")");
  return r;
}

// a * b, or a ValueError when the product leaves int64.
inline int64_t checked_mul(const char* op, const char* what, int64_t a, int64_t b) {
  int64_t r;
  NNC_CHECK(!__builtin_mul_overflow(a, b, &r), op, what, ": size arithmetic overflows (", a,
            " * ", b, ")");
  return r;
}

// The product of non-negative sizes, or a ValueError when a size is negative or the product
// exceeds kMaxElements.
inline int64_t checked_numel(const char* op, const char* what,
                             std::initializer_list<int64_t> dims) {
  int64_t n = 1;
  for (int64_t d : dims) {
    NNC_CHECK(d >= 0, op, what, ": negative size ", d);
    NNC_CHECK(!__builtin_mul_overflow(n, d, &n) && n <= kMaxElements, op, what,
              ": too many elements (the sizes multiply past 2^48)");
  }
  return n;
}

}  // namespace nnc
