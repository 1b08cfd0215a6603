#include "kernels/linear.h"

#include "bindings/def.h"

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

// linear_relu's forward: linear_forward_py with the fused relu.
template <class T>
py::array_t<T> linear_relu_forward_py(const py::array& x, const py::array& w,
                                      const py::object& b) {
  return linear_forward_py<T>(x, w, b, true);
}

template <class T>
py::array_t<T> plain_linear_forward_py(const py::array& x, const py::array& w,
                                       const py::object& b) {
  return linear_forward_py<T>(x, w, b, false);
}

}  // namespace

void bind_linear(py::module_& m) {
  def_float(m, "matmul_forward", {"matmul", "a", 0}, NNC_BOTH(matmul_forward_py), py::arg("a"),
            py::arg("b"), "y = a @ b for 2-D or batched 3-D operands.");
  def_float(m, "matmul_backward", {"matmul", "a", 1}, NNC_BOTH(matmul_backward_py),
            py::arg("dy"), py::arg("a"), py::arg("b"), py::arg("need_da") = true,
            py::arg("need_db") = true, "(da, db) = (dy @ b^T, a^T @ dy); None where not needed.");
  def_float(m, "linear_forward", {"linear", "x", 0}, NNC_BOTH(plain_linear_forward_py),
            py::arg("x"), py::arg("weight"), py::arg("bias") = py::none(),
            "y = x @ weight^T + bias.");
  def_float(m, "linear_backward", {"linear", "x", 1}, NNC_BOTH(linear_backward_py),
            py::arg("dy"), py::arg("x"), py::arg("weight"), py::arg("need_dx") = true,
            py::arg("need_dw") = true, py::arg("need_db") = true,
            "(dx, dw, db) = (dy @ weight, dy^T @ x, sum_rows(dy)); None where not needed.");
  def_float(m, "linear_relu_forward", {"linear_relu", "x", 0}, NNC_BOTH(linear_relu_forward_py),
            py::arg("x"), py::arg("weight"), py::arg("bias") = py::none(),
            "y = relu(x @ weight^T + bias).");
  def_float(m, "linear_relu_backward", {"linear_relu", "x", 2},
            NNC_BOTH(linear_relu_backward_py), py::arg("dy"), py::arg("y"), py::arg("x"),
            py::arg("weight"), py::arg("need_dx") = true, py::arg("need_dw") = true,
            py::arg("need_db") = true,
            "linear_backward of dz = dy * (y > 0), y the forward's output; None where not "
            "needed.");
}

}  // namespace nnc
