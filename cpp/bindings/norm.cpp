#include "kernels/norm.h"

#include "bindings/common.h"

namespace nnc {

// ==== layer_norm =================================================================================

namespace {

constexpr const char* kLayerNorm = "layer_norm";

// x [rows, cols]; weight and bias (cols,) or None.
LayerNormShape layer_norm_shape(const py::array& x, const py::object& w, const py::object& b) {
  NNC_CHECK(x.ndim() == 2, kLayerNorm, "x: expected 2-D (rows, normalized size), got shape ",
            shape_str(shape_of(x)));
  const LayerNormShape s{x.shape(0), x.shape(1)};
  NNC_CHECK(s.cols > 0, kLayerNorm, "x: expected a positive normalized size, got shape ",
            shape_str(shape_of(x)));
  for (const auto& [name, a] : {std::pair<const char*, const py::object&>{"weight", w},
                                std::pair<const char*, const py::object&>{"bias", b}}) {
    if (a.is_none()) continue;
    const py::array arr = a.cast<py::array>();
    NNC_CHECK(arr.ndim() == 1 && arr.shape(0) == s.cols, kLayerNorm, name, ": expected shape (",
              s.cols, ",), got ", shape_str(shape_of(arr)));
  }
  return s;
}

template <class T>
py::tuple layer_norm_forward_py(const py::array& x, const py::object& w, const py::object& b,
                                double eps) {
  const LayerNormShape s = layer_norm_shape(x, w, b);
  NNC_CHECK(eps >= 0, kLayerNorm, "eps: expected a non-negative number, got ", eps);
  const T* px = cdata<T>(kLayerNorm, "x", x);
  const T* pw = cdata_or_null<T>(kLayerNorm, "weight", w);
  const T* pb = cdata_or_null<T>(kLayerNorm, "bias", b);
  auto y = empty_like_shape<T>(shape_of(x));
  auto mean = empty_like_shape<T>({s.rows});
  auto rstd = empty_like_shape<T>({s.rows});
  T* py_ = y.mutable_data();
  T* pm = mean.mutable_data();
  T* pr = rstd.mutable_data();
  {
    py::gil_scoped_release nogil;
    layer_norm_forward<T>(px, pw, pb, py_, pm, pr, s, eps);
  }
  return py::make_tuple(y, mean, rstd);
}

template <class T>
py::tuple layer_norm_backward_py(const py::array& dy, const py::array& x, const py::object& w,
                                 const py::array& mean, const py::array& rstd, bool need_dx,
                                 bool need_dw, bool need_db) {
  const LayerNormShape s = layer_norm_shape(x, w, py::none());
  NNC_CHECK(shape_of(dy) == shape_of(x), kLayerNorm, "dy: expected shape ",
            shape_str(shape_of(x)), ", got ", shape_str(shape_of(dy)));
  const std::vector<int64_t> stat{s.rows};
  NNC_CHECK(shape_of(mean) == stat && shape_of(rstd) == stat, kLayerNorm,
            "mean, rstd: expected shape (", s.rows, ",), got ", shape_str(shape_of(mean)), " and ",
            shape_str(shape_of(rstd)));
  const T* pdy = cdata<T>(kLayerNorm, "dy", dy);
  const T* px = cdata<T>(kLayerNorm, "x", x);
  const T* pw = cdata_or_null<T>(kLayerNorm, "weight", w);
  const T* pm = cdata<T>(kLayerNorm, "mean", mean);
  const T* pr = cdata<T>(kLayerNorm, "rstd", rstd);
  py::object dx = py::none(), dw = py::none(), db = py::none();
  T *pdx = nullptr, *pdw = nullptr, *pdb = nullptr;
  if (need_dx) {
    auto arr = empty_like_shape<T>(shape_of(x));
    pdx = arr.mutable_data();
    dx = arr;
  }
  if (need_dw) {
    auto arr = empty_like_shape<T>({s.cols});
    pdw = arr.mutable_data();
    dw = arr;
  }
  if (need_db) {
    auto arr = empty_like_shape<T>({s.cols});
    pdb = arr.mutable_data();
    db = arr;
  }
  {
    py::gil_scoped_release nogil;
    layer_norm_backward<T>(pdy, px, pw, pm, pr, pdx, pdw, pdb, s);
  }
  return py::make_tuple(dx, dw, db);
}

void bind_layer_norm(py::module_& m) {
  m.def(
      "layer_norm_forward",
      [](const py::array& x, const py::object& weight, const py::object& bias,
         double eps) -> py::tuple {
        return dispatch_float(kLayerNorm, "x", x, [&](auto t) -> py::tuple {
          return layer_norm_forward_py<decltype(t)>(x, weight, bias, eps);
        });
      },
      py::arg("x"), py::arg("weight") = py::none(), py::arg("bias") = py::none(),
      py::arg("eps") = 1e-5,
      "(y, mean, rstd): each row of x [rows, cols] normalised, times weight, plus bias.");
  m.def(
      "layer_norm_backward",
      [](const py::array& dy, const py::array& x, const py::object& weight, const py::array& mean,
         const py::array& rstd, bool need_dx, bool need_dw, bool need_db) -> py::tuple {
        return dispatch_float(kLayerNorm, "x", x, [&](auto t) -> py::tuple {
          return layer_norm_backward_py<decltype(t)>(dy, x, weight, mean, rstd, need_dx, need_dw,
                                                     need_db);
        });
      },
      py::arg("dy"), py::arg("x"), py::arg("weight"), py::arg("mean"), py::arg("rstd"),
      py::arg("need_dx") = true, py::arg("need_dw") = true, py::arg("need_db") = true,
      "(dx, dweight, dbias) from the forward's saved mean and rstd; None where not needed.");
}

}  // namespace

// ==== end layer_norm =============================================================================

void bind_norm(py::module_& m) { bind_layer_norm(m); }

}  // namespace nnc
