// Argument checks for kernels and bindings. NNC_CHECK throws std::invalid_argument("[op] message"),
// which pybind11 turns into ValueError. Run every check before any OpenMP region: an exception
// must never leave one.
#pragma once
#include <cstdint>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

namespace nnc {

template <class... Parts>
std::string concat(const Parts&... parts) {
  std::ostringstream os;
  (os << ... << parts);
  return os.str();
}

inline std::string shape_str(const std::vector<int64_t>& shape) {
  std::ostringstream os;
  os << '(';
  for (size_t i = 0; i < shape.size(); ++i) os << (i ? ", " : "") << shape[i];
  if (shape.size() == 1) os << ',';
  os << ')';
  return os.str();
}

}  // namespace nnc

#define NNC_CHECK(cond, op, ...)                                                   \
  do {                                                                             \
    if (!(cond)) throw std::invalid_argument(::nnc::concat("[", op, "] ", __VA_ARGS__)); \
  } while (0)
