// Shared by the binding files: dtype dispatch and argument checks at the Python boundary.
// Every check raises before a kernel runs, naming the op, the argument and the shapes:
// std::invalid_argument becomes ValueError, pybind11::type_error becomes TypeError.
#pragma once
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <cstdint>
#include <string>
#include <vector>

#include "common/buffer_pool.h"
#include "common/check.h"
#include "common/checked.h"
#include "profiler/profiler.h"

namespace nnc {

namespace py = pybind11;

inline std::vector<int64_t> shape_of(const py::array& a) {
  return std::vector<int64_t>(a.shape(), a.shape() + a.ndim());
}

template <class T>
const char* dtype_name() {
  return sizeof(T) == 4 ? "float32" : "float64";
}

// Checks that `a` is a C-contiguous array of T (no silent copy or cast: Python converts on
// purpose) and, when ndim >= 0, of that rank.
template <class T>
void check_array(const char* op, const char* name, const py::array& a, int ndim = -1) {
  if (!py::isinstance<py::array_t<T>>(a))
    throw py::type_error(concat("[", op, "] ", name, ": expected ", dtype_name<T>(), ", got ",
                                std::string(py::str(a.dtype())), " with shape ",
                                shape_str(shape_of(a))));
  NNC_CHECK(a.flags() & py::array::c_style, op, name, ": expected a C-contiguous array");
  // NOTE: NumPy allows a float view at an odd byte offset (np.frombuffer(b, offset=1)); the
  // kernels' loads assume natural alignment (misaligned loads are undefined behaviour), so such
  // arrays are refused here and Function.apply copies them before they reach a kernel.
  NNC_CHECK(reinterpret_cast<uintptr_t>(a.data()) % alignof(T) == 0, op, name,
            ": array is not aligned to its dtype (a view at an odd byte offset); copy it first");
  if (ndim >= 0)
    NNC_CHECK(a.ndim() == ndim, op, name, ": expected ", ndim, "-D, got shape ",
              shape_str(shape_of(a)));
}

// The data of an integer array already checked for dtype and contiguity (indices, targets),
// refusing a misaligned view as check_array does for float arrays.
template <class T>
const T* aligned_data(const char* op, const char* name, const py::array& a) {
  NNC_CHECK(reinterpret_cast<uintptr_t>(a.data()) % alignof(T) == 0, op, name,
            ": array is not aligned to its dtype (a view at an odd byte offset); copy it first");
  return static_cast<const T*>(a.data());
}

template <class T>
const T* cdata(const char* op, const char* name, const py::array& a, int ndim = -1) {
  check_array<T>(op, name, a, ndim);
  return static_cast<const T*>(a.data());
}

template <class T>
T* mdata(const char* op, const char* name, py::array& a, int ndim = -1) {
  check_array<T>(op, name, a, ndim);
  NNC_CHECK(a.writeable(), op, name, ": array is read-only");
  return static_cast<T*>(a.mutable_data());
}

// Nullable input (an optional bias, say): None -> nullptr.
template <class T>
const T* cdata_or_null(const char* op, const char* name, const py::object& a, int ndim = -1) {
  if (a.is_none()) return nullptr;
  return cdata<T>(op, name, a.cast<py::array>(), ndim);
}

// A new uninitialised array of `shape`; large ones take their memory from the buffer pool and
// give it back when numpy frees them.
// A shape with a negative size or more than kMaxElements elements is a ValueError (the byte
// count is computed from checked products, never wrapped).
template <class T>
py::array_t<T> empty_like_shape(const std::vector<int64_t>& shape, const char* op = "alloc") {
  std::vector<py::ssize_t> dims(shape.begin(), shape.end());
  int64_t numel = 1;
  for (int64_t d : shape) {
    NNC_CHECK(d >= 0, op, "output: negative size in shape ", shape_str(shape));
    NNC_CHECK(!__builtin_mul_overflow(numel, d, &numel) && numel <= kMaxElements, op,
              "output: shape ", shape_str(shape), " has too many elements");
  }
  const size_t bytes = sizeof(T) * size_t(numel);
  if (bytes < kPoolMinBytes) return py::array_t<T>(dims);
  void* buf = pool_acquire(bytes);
  py::capsule owner(buf, [](void* p) { pool_release(p); });
  return py::array_t<T>(dims, static_cast<T*>(buf), owner);
}

// A gradient output the caller asked for: a new array of `shape` (*p = its data) when `want`,
// else None (*p = nullptr).
template <class T>
py::object optional_output(bool want, const std::vector<int64_t>& shape, T** p) {
  if (!want) {
    *p = nullptr;
    return py::none();
  }
  auto arr = empty_like_shape<T>(shape);
  *p = arr.mutable_data();
  return std::move(arr);
}

// Calls f(T{}) with T = float or double after the dtype of `a`; any other dtype is a TypeError.
template <class F>
auto dispatch_float(const char* op, const char* name, const py::array& a, F&& f) {
  if (py::isinstance<py::array_t<float>>(a)) return f(float{});
  if (py::isinstance<py::array_t<double>>(a)) return f(double{});
  throw py::type_error(concat("[", op, "] ", name, ": expected float32 or float64, got ",
                              std::string(py::str(a.dtype())), " with shape ",
                              shape_str(shape_of(a))));
}

void bind_linear(py::module_& m);
void bind_activation(py::module_& m);
void bind_loss(py::module_& m);
void bind_optim(py::module_& m);
void bind_conv(py::module_& m);
void bind_pool(py::module_& m);
void bind_norm(py::module_& m);
void bind_profiler(py::module_& m);
void bind_attention(py::module_& m);
void bind_rnn(py::module_& m);
void bind_sort(py::module_& m);

}  // namespace nnc
