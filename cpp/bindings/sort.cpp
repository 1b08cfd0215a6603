#include "kernels/sort.h"

#include "bindings/def.h"

namespace nnc {

namespace {

// x: [rows, n]; 0 <= k <= n.
TopkShape topk_shape(const py::array& x, int64_t k, bool largest) {
  NNC_CHECK(x.ndim() == 2, "topk", "x: expected 2-D (rows, n), got shape ",
            shape_str(shape_of(x)));
  NNC_CHECK(k >= 0 && k <= x.shape(1), "topk", "k = ", k, " is out of range for rows of ",
            x.shape(1), " elements");
  return {x.shape(0), x.shape(1), k, largest};
}

template <class T>
py::tuple topk_forward_py(const py::array& x, int64_t k, bool largest) {
  const TopkShape s = topk_shape(x, k, largest);
  const T* px = cdata<T>("topk", "x", x);
  auto values = empty_like_shape<T>({s.rows, s.k});
  auto indices = empty_like_shape<int64_t>({s.rows, s.k});
  T* pv = values.mutable_data();
  int64_t* pi = indices.mutable_data();
  {
    py::gil_scoped_release nogil;
    // About one compare per element scanned; reads x, writes k values and indices per row.
    NNC_PROFILE("topk.forward", double(s.rows) * s.n,
                double(s.rows) * (sizeof(T) * s.n + (sizeof(T) + sizeof(int64_t)) * s.k), x);
    topk_forward<T>(px, pv, pi, s);
  }
  return py::make_tuple(values, indices);
}

template <class T>
py::array_t<T> topk_backward_py(const py::array& dy, const py::array& indices, int64_t n) {
  const char* op = "topk";
  const T* pdy = cdata<T>(op, "dy", dy, 2);
  if (!py::isinstance<py::array_t<int64_t>>(indices))
    throw py::type_error(concat("[", op, "] indices: expected int64, got ",
                                std::string(py::str(indices.dtype()))));
  NNC_CHECK((indices.flags() & py::array::c_style) && shape_of(indices) == shape_of(dy), op,
            "indices: expected a C-contiguous array of dy's shape ", shape_str(shape_of(dy)),
            ", got ", shape_str(shape_of(indices)));
  NNC_CHECK(n >= dy.shape(1), op, "n = ", n, " is smaller than k = ", dy.shape(1));
  const TopkShape s{dy.shape(0), n, dy.shape(1), true};
  const int64_t* pi = aligned_data<int64_t>(op, "indices", indices);
  for (int64_t i = 0; i < s.rows * s.k; ++i)
    NNC_CHECK(pi[i] >= 0 && pi[i] < n, op, "index ", pi[i], " is out of range for rows of ", n,
              " elements");
  auto dx = empty_like_shape<T>({s.rows, s.n}, op);
  T* pdx = dx.mutable_data();
  {
    py::gil_scoped_release nogil;
    NNC_PROFILE("topk.backward", 0,
                double(s.rows) * (sizeof(T) * s.n + (sizeof(T) + sizeof(int64_t)) * s.k), dy);
    topk_backward<T>(pdy, pi, pdx, s);
  }
  return dx;
}

}  // namespace

void bind_sort(py::module_& m) {
  def_float(m, "topk_forward", {"topk", "x", 0}, NNC_BOTH(topk_forward_py), py::arg("x"),
            py::arg("k"), py::arg("largest") = true, "(values, indices) [rows, k]: the k largest "
            "(smallest) of each row of x [rows, n], best first, ties by lower index.");
  def_float(m, "topk_backward", {"topk", "dy", 0}, NNC_BOTH(topk_backward_py), py::arg("dy"),
            py::arg("indices"), py::arg("n"), "dx [rows, n]: zeros with dy [rows, k] written at "
            "indices [rows, k].");
}

}  // namespace nnc
