#include "kernels/linear.h"

#include "bindings/common.h"

namespace nnc {

namespace {

// a: [m,k] or [batch,m,k]; b: [k,n] or [batch,k,n] (same rank and batch).
MatmulShape matmul_shape(const py::array& a, const py::array& b) {
  const char* op = "matmul";
  NNC_CHECK((a.ndim() == 2 || a.ndim() == 3) && a.ndim() == b.ndim(), op,
            "expected a and b both 2-D or both 3-D, got shapes ", shape_str(shape_of(a)), " and ",
            shape_str(shape_of(b)));
  const int off = static_cast<int>(a.ndim()) - 2;
  MatmulShape s{off ? a.shape(0) : 1, a.shape(off), a.shape(off + 1), b.shape(off + 1)};
  NNC_CHECK(b.shape(off) == s.k && (!off || b.shape(0) == s.batch), op,
            "shapes ", shape_str(shape_of(a)), " and ", shape_str(shape_of(b)),
            " cannot be multiplied");
  return s;
}

LinearShape linear_shape(const py::array& x, const py::array& w, const char* op = "linear") {
  NNC_CHECK(x.ndim() == 2, op, "x: expected 2-D (rows, in_features), got shape ",
            shape_str(shape_of(x)));
  NNC_CHECK(w.ndim() == 2, op, "weight: expected 2-D (out_features, in_features), got shape ",
            shape_str(shape_of(w)));
  NNC_CHECK(x.shape(1) == w.shape(1), op, "x has ", x.shape(1), " features but weight expects ",
            w.shape(1), ": shapes ", shape_str(shape_of(x)), " and ", shape_str(shape_of(w)));
  return {x.shape(0), x.shape(1), w.shape(0)};
}

template <class T>
py::array_t<T> matmul_forward_py(const py::array& a, const py::array& b) {
  const MatmulShape s = matmul_shape(a, b);
  const T* pa = cdata<T>("matmul", "a", a);
  const T* pb = cdata<T>("matmul", "b", b);
  std::vector<int64_t> shape = shape_of(a);
  shape.back() = s.n;
  auto y = empty_like_shape<T>(shape);
  T* py_ = y.mutable_data();
  {
    py::gil_scoped_release nogil;
    NNC_PROFILE("matmul.forward", 2.0 * s.batch * s.m * s.n * s.k,
                sizeof(T) * s.batch * double(s.m * s.k + s.k * s.n + s.m * s.n), a, b);
    matmul_forward<T>(pa, pb, py_, s);
  }
  return y;
}

template <class T>
py::tuple matmul_backward_py(const py::array& dy, const py::array& a, const py::array& b,
                             bool need_da, bool need_db) {
  const MatmulShape s = matmul_shape(a, b);
  std::vector<int64_t> yshape = shape_of(a);
  yshape.back() = s.n;
  NNC_CHECK(shape_of(dy) == yshape, "matmul", "dy: expected shape ", shape_str(yshape), ", got ",
            shape_str(shape_of(dy)));
  const T* pdy = cdata<T>("matmul", "dy", dy);
  const T* pa = cdata<T>("matmul", "a", a);
  const T* pb = cdata<T>("matmul", "b", b);
  T *pda, *pdb;
  py::object da = optional_output<T>(need_da, shape_of(a), &pda);
  py::object db = optional_output<T>(need_db, shape_of(b), &pdb);
  {
    py::gil_scoped_release nogil;
    // da = dy b^T reads b and writes da; db = a^T dy reads a and writes db; both read dy.
    NNC_PROFILE("matmul.backward",
                2.0 * s.batch * s.m * s.n * s.k * ((pda != nullptr) + (pdb != nullptr)),
                sizeof(T) * s.batch *
                    double(s.m * s.n + (s.k * s.n + s.m * s.k) *
                                           ((pda != nullptr) + (pdb != nullptr))),
                dy, a, b);
    matmul_backward<T>(pdy, pa, pb, pda, pdb, s);
  }
  return py::make_tuple(da, db);
}

// linear_forward, or linear_relu_forward when `relu` (op names the errors and the profile).
template <class T>
py::array_t<T> linear_forward_py(const py::array& x, const py::array& w, const py::object& b,
                                 bool relu = false) {
  const char* op = relu ? "linear_relu" : "linear";
  const LinearShape s = linear_shape(x, w, op);
  const T* px = cdata<T>(op, "x", x);
  const T* pw = cdata<T>(op, "weight", w);
  const T* pb = cdata_or_null<T>(op, "bias", b, 1);
  if (pb)
    NNC_CHECK(b.cast<py::array>().shape(0) == s.out_features, op, "bias: expected shape (",
              s.out_features, ",), got ", shape_str(shape_of(b.cast<py::array>())));
  auto y = empty_like_shape<T>({s.rows, s.out_features});
  T* py_ = y.mutable_data();
  {
    py::gil_scoped_release nogil;
    // GEMM 2*rows*in*out, plus one add per output when there is a bias (and one max with relu).
    const double outputs = double(s.rows) * s.out_features;
    NNC_PROFILE(relu ? "linear_relu.forward" : "linear.forward",
                2.0 * s.rows * s.in_features * s.out_features + (pb ? outputs : 0) +
                    (relu ? outputs : 0),
                sizeof(T) * double(s.rows * s.in_features + s.out_features * s.in_features +
                                   (pb ? s.out_features : 0) + s.rows * s.out_features),
                x, w);
    if (relu)
      linear_relu_forward<T>(px, pw, pb, py_, s);
    else
      linear_forward<T>(px, pw, pb, py_, s);
  }
  return y;
}

template <class T>
py::tuple linear_relu_backward_py(const py::array& dy, const py::array& y, const py::array& x,
                                  const py::array& w, bool need_dx, bool need_dw,
                                  bool need_db) {
  const char* op = "linear_relu";
  const LinearShape s = linear_shape(x, w, op);
  const std::vector<int64_t> yshape{s.rows, s.out_features};
  NNC_CHECK(shape_of(dy) == yshape && shape_of(y) == yshape, op, "dy, y: expected shape ",
            shape_str(yshape), ", got ", shape_str(shape_of(dy)), " and ",
            shape_str(shape_of(y)));
  const T* pdy = cdata<T>(op, "dy", dy);
  const T* py_ = cdata<T>(op, "y", y);
  const T* px = cdata<T>(op, "x", x);
  const T* pw = cdata<T>(op, "weight", w);
  auto dz = empty_like_shape<T>(yshape);  // workspace: dy masked by the ReLU
  T* pdz = dz.mutable_data();
  T *pdx, *pdw, *pdb;
  py::object dx = optional_output<T>(need_dx, {s.rows, s.in_features}, &pdx);
  py::object dw = optional_output<T>(need_dw, {s.out_features, s.in_features}, &pdw);
  py::object db = optional_output<T>(need_db, {s.out_features}, &pdb);
  {
    py::gil_scoped_release nogil;
    // As linear.backward, plus the mask: one select per output, reading dy and y.
    const double rows = s.rows, in = s.in_features, out = s.out_features;
    NNC_PROFILE("linear_relu.backward",
                2.0 * rows * in * out * ((pdx != nullptr) + (pdw != nullptr)) + rows * out +
                    (pdb ? rows * out : 0),
                sizeof(T) * (3.0 * rows * out + (pdx ? out * in + rows * in : 0) +
                             (pdw ? rows * in + out * in : 0) + (pdb ? out : 0)),
                dy, x, w);
    linear_relu_backward<T>(pdy, py_, px, pw, pdz, pdx, pdw, pdb, s);
  }
  return py::make_tuple(dx, dw, db);
}

template <class T>
py::tuple linear_backward_py(const py::array& dy, const py::array& x, const py::array& w,
                             bool need_dx, bool need_dw, bool need_db) {
  const LinearShape s = linear_shape(x, w);
  NNC_CHECK(dy.ndim() == 2 && dy.shape(0) == s.rows && dy.shape(1) == s.out_features, "linear",
            "dy: expected shape (", s.rows, ", ", s.out_features, "), got ",
            shape_str(shape_of(dy)));
  const T* pdy = cdata<T>("linear", "dy", dy);
  const T* px = cdata<T>("linear", "x", x);
  const T* pw = cdata<T>("linear", "weight", w);
  T *pdx, *pdw, *pdb;
  py::object dx = optional_output<T>(need_dx, {s.rows, s.in_features}, &pdx);
  py::object dw = optional_output<T>(need_dw, {s.out_features, s.in_features}, &pdw);
  py::object db = optional_output<T>(need_db, {s.out_features}, &pdb);
  {
    py::gil_scoped_release nogil;
    // dx = dy W and dw = dy^T x are GEMMs of 2*rows*in*out each, db sums rows*out; each reads dy,
    // dx also reads W and writes dx, dw reads x and writes dw, db writes out_features.
    const double rows = s.rows, in = s.in_features, out = s.out_features;
    NNC_PROFILE("linear.backward",
                2.0 * rows * in * out * ((pdx != nullptr) + (pdw != nullptr)) + (pdb ? rows * out : 0),
                sizeof(T) * (rows * out + (pdx ? out * in + rows * in : 0) +
                             (pdw ? rows * in + out * in : 0) + (pdb ? out : 0)),
                dy, x, w);
    linear_backward<T>(pdy, px, pw, pdx, pdw, pdb, s);
  }
  return py::make_tuple(dx, dw, db);
}

const int64_t* index_data(const char* op, const py::array& indices) {
  if (!py::isinstance<py::array_t<int64_t>>(indices))
    throw py::type_error(concat("[", op, "] indices: expected int64, got ",
                                std::string(py::str(indices.dtype())), " with shape ",
                                shape_str(shape_of(indices))));
  NNC_CHECK(indices.flags() & py::array::c_style, op, "indices: expected a C-contiguous array");
  return aligned_data<int64_t>(op, "indices", indices);
}

template <class T>
py::array_t<T> embedding_forward_py(const py::array& indices, const py::array& w) {
  const char* op = "embedding";
  const int64_t* pi = index_data(op, indices);
  const T* pw = cdata<T>(op, "weight", w, 2);
  const EmbeddingShape s{static_cast<int64_t>(indices.size()), w.shape(0), w.shape(1)};
  std::vector<int64_t> shape = shape_of(indices);
  shape.push_back(s.dim);
  auto y = empty_like_shape<T>(shape);
  T* py_ = y.mutable_data();
  {
    py::gil_scoped_release nogil;
    NNC_PROFILE("embedding.forward", 0, (sizeof(T) * 2.0 * s.dim + sizeof(int64_t)) * s.count,
                indices, w);
    embedding_forward<T>(pi, pw, py_, s);
  }
  return y;
}

template <class T>
py::array_t<T> embedding_backward_py(const py::array& dy, const py::array& indices,
                                     int64_t num_embeddings, int64_t padding_idx) {
  const char* op = "embedding";
  const int64_t* pi = index_data(op, indices);
  const T* pdy = cdata<T>(op, "dy", dy);
  NNC_CHECK(num_embeddings > 0, op, "num_embeddings must be positive, got ", num_embeddings);
  std::vector<int64_t> lead = shape_of(dy);
  NNC_CHECK(!lead.empty(), op, "dy: expected indices.shape + (embedding_dim,), got shape ()");
  const int64_t dim = lead.back();
  lead.pop_back();
  NNC_CHECK(lead == shape_of(indices), op, "dy: expected shape indices.shape + (", dim,
            ",) with indices ", shape_str(shape_of(indices)), ", got ", shape_str(shape_of(dy)));
  const EmbeddingShape s{static_cast<int64_t>(indices.size()), num_embeddings, dim};
  auto dw = empty_like_shape<T>({num_embeddings, dim}, op);
  T* pdw = dw.mutable_data();
  {
    py::gil_scoped_release nogil;
    NNC_PROFILE("embedding.backward", double(s.count) * s.dim,
                sizeof(T) * (double(s.count) * s.dim + double(s.num_embeddings) * s.dim), indices);
    embedding_backward<T>(pi, pdy, pdw, padding_idx, s);
  }
  return dw;
}

}  // namespace

void bind_linear(py::module_& m) {
  m.def(
      "matmul_forward",
      [](const py::array& a, const py::array& b) -> py::array {
        return dispatch_float("matmul", "a", a,
                              [&](auto t) -> py::array { return matmul_forward_py<decltype(t)>(a, b); });
      },
      py::arg("a"), py::arg("b"), "y = a @ b for 2-D or batched 3-D operands.");
  m.def(
      "matmul_backward",
      [](const py::array& dy, const py::array& a, const py::array& b, bool need_da, bool need_db) {
        return dispatch_float("matmul", "a", a, [&](auto t) {
          return matmul_backward_py<decltype(t)>(dy, a, b, need_da, need_db);
        });
      },
      py::arg("dy"), py::arg("a"), py::arg("b"), py::arg("need_da") = true,
      py::arg("need_db") = true, "(da, db) = (dy @ b^T, a^T @ dy); None where not needed.");
  m.def(
      "linear_forward",
      [](const py::array& x, const py::array& w, const py::object& b) -> py::array {
        return dispatch_float("linear", "x", x,
                              [&](auto t) -> py::array { return linear_forward_py<decltype(t)>(x, w, b); });
      },
      py::arg("x"), py::arg("weight"), py::arg("bias") = py::none(), "y = x @ weight^T + bias.");
  m.def(
      "linear_backward",
      [](const py::array& dy, const py::array& x, const py::array& w, bool need_dx, bool need_dw,
         bool need_db) {
        return dispatch_float("linear", "x", x, [&](auto t) {
          return linear_backward_py<decltype(t)>(dy, x, w, need_dx, need_dw, need_db);
        });
      },
      py::arg("dy"), py::arg("x"), py::arg("weight"), py::arg("need_dx") = true,
      py::arg("need_dw") = true, py::arg("need_db") = true,
      "(dx, dw, db) = (dy @ weight, dy^T @ x, sum_rows(dy)); None where not needed.");
  m.def(
      "linear_relu_forward",
      [](const py::array& x, const py::array& w, const py::object& b) -> py::array {
        return dispatch_float("linear_relu", "x", x, [&](auto t) -> py::array {
          return linear_forward_py<decltype(t)>(x, w, b, true);
        });
      },
      py::arg("x"), py::arg("weight"), py::arg("bias") = py::none(),
      "y = relu(x @ weight^T + bias).");
  m.def(
      "linear_relu_backward",
      [](const py::array& dy, const py::array& y, const py::array& x, const py::array& w,
         bool need_dx, bool need_dw, bool need_db) {
        return dispatch_float("linear_relu", "x", x, [&](auto t) {
          return linear_relu_backward_py<decltype(t)>(dy, y, x, w, need_dx, need_dw, need_db);
        });
      },
      py::arg("dy"), py::arg("y"), py::arg("x"), py::arg("weight"), py::arg("need_dx") = true,
      py::arg("need_dw") = true, py::arg("need_db") = true,
      "linear_backward of dz = dy * (y > 0), y the forward's output; None where not needed.");
  m.def(
      "embedding_forward",
      [](const py::array& indices, const py::array& w) -> py::array {
        return dispatch_float("embedding", "weight", w, [&](auto t) -> py::array {
          return embedding_forward_py<decltype(t)>(indices, w);
        });
      },
      py::arg("indices"), py::arg("weight"), "y[..., :] = weight[indices[...], :].");
  m.def(
      "embedding_backward",
      [](const py::array& dy, const py::array& indices, int64_t num_embeddings,
         int64_t padding_idx) -> py::array {
        return dispatch_float("embedding", "dy", dy, [&](auto t) -> py::array {
          return embedding_backward_py<decltype(t)>(dy, indices, num_embeddings, padding_idx);
        });
      },
      py::arg("dy"), py::arg("indices"), py::arg("num_embeddings"), py::arg("padding_idx") = -1,
      "dw [num_embeddings, D]: rows of dy added at their indices; padding_idx (>= 0) skipped.");
}

}  // namespace nnc
