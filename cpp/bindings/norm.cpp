#include "kernels/norm.h"

#include "bindings/def.h"

namespace nnc {

// ==== batch_norm ===============================================================================

namespace {

BatchNormShape bn_shape(const py::array& x) {
  NNC_CHECK(x.ndim() == 3, "batch_norm", "x: expected 3-D (N, C, L), got shape ",
            shape_str(shape_of(x)));
  NNC_CHECK(x.shape(0) > 0 && x.shape(1) > 0 && x.shape(2) > 0, "batch_norm",
            "empty input of shape ", shape_str(shape_of(x)));
  return {x.shape(0), x.shape(1), x.shape(2)};
}

// A nullable per-channel array of shape (C,): read-only or, when `writable`, updated in place.
template <class T>
T* bn_channel_array(const char* name, const py::object& a, int64_t c, bool writable) {
  if (a.is_none()) return nullptr;
  py::array arr = a.cast<py::array>();
  check_array<T>("batch_norm", name, arr, 1);
  NNC_CHECK(arr.shape(0) == c, "batch_norm", name, ": expected shape (", c, ",), got ",
            shape_str(shape_of(arr)));
  if (writable) return mdata<T>("batch_norm", name, arr);
  return const_cast<T*>(static_cast<const T*>(arr.data()));
}

template <class T>
py::tuple batch_norm_forward_py(const py::array& x, const py::object& w, const py::object& b,
                                const py::object& rm, const py::object& rv, bool training,
                                double momentum, double eps) {
  const BatchNormShape s = bn_shape(x);
  const T* px = cdata<T>("batch_norm", "x", x);
  const T* pw = bn_channel_array<T>("weight", w, s.c, false);
  const T* pb = bn_channel_array<T>("bias", b, s.c, false);
  T* prm = bn_channel_array<T>("running_mean", rm, s.c, true);
  T* prv = bn_channel_array<T>("running_var", rv, s.c, true);
  NNC_CHECK(training || (prm && prv), "batch_norm",
            "running_mean and running_var are required in eval mode");
  NNC_CHECK(!training || s.n * s.l > 1, "batch_norm",
            "expected more than 1 value per channel when training, got input of shape ",
            shape_str(shape_of(x)));
  NNC_CHECK(eps >= 0 && momentum >= 0 && momentum <= 1, "batch_norm",
            "expected eps >= 0 and momentum in [0, 1], got eps=", eps, ", momentum=", momentum);
  auto y = empty_like_shape<T>(shape_of(x));
  auto mean = empty_like_shape<T>({s.c});
  auto invstd = empty_like_shape<T>({s.c});
  T *py_ = y.mutable_data(), *pm = mean.mutable_data(), *pi = invstd.mutable_data();
  {
    py::gil_scoped_release nogil;
    // FLOPs: statistics (when training) and the normalise-scale-shift, ~4 per element each.
    NNC_PROFILE("batch_norm.forward", (training ? 8.0 : 4.0) * x.size(),
                sizeof(T) * (training ? 3.0 : 2.0) * x.size(), x);
    batch_norm_forward<T>(px, pw, pb, prm, prv, py_, pm, pi, s, training, momentum, eps);
  }
  return py::make_tuple(y, mean, invstd);
}

template <class T>
py::tuple batch_norm_backward_py(const py::array& dy, const py::array& x, const py::object& w,
                                 const py::array& mean, const py::array& invstd, bool training,
                                 bool need_dx, bool need_dw, bool need_db) {
  const BatchNormShape s = bn_shape(x);
  NNC_CHECK(shape_of(dy) == shape_of(x), "batch_norm", "dy: expected shape ",
            shape_str(shape_of(x)), ", got ", shape_str(shape_of(dy)));
  const T* pdy = cdata<T>("batch_norm", "dy", dy);
  const T* px = cdata<T>("batch_norm", "x", x);
  const T* pw = bn_channel_array<T>("weight", w, s.c, false);
  const T* pm = bn_channel_array<T>("save_mean", mean, s.c, false);
  const T* pi = bn_channel_array<T>("save_invstd", invstd, s.c, false);
  T *pdx, *pdw, *pdb;
  py::object dx = optional_output<T>(need_dx, shape_of(x), &pdx);
  py::object dw = optional_output<T>(need_dw, {s.c}, &pdw);
  py::object db = optional_output<T>(need_db, {s.c}, &pdb);
  {
    py::gil_scoped_release nogil;
    // FLOPs: two reductions over dy and x-hat, then dx, ~10 per element; bytes: dy, x, dx.
    NNC_PROFILE("batch_norm.backward", 10.0 * x.size(),
                sizeof(T) * (2.0 + (pdx != nullptr)) * x.size(), dy, x);
    batch_norm_backward<T>(pdy, px, pw, pm, pi, pdx, pdw, pdb, s, training);
  }
  return py::make_tuple(dx, dw, db);
}

}  // namespace

void bind_batch_norm(py::module_& m) {
  def_float(m, "batch_norm_forward", {"batch_norm", "x", 0}, NNC_BOTH(batch_norm_forward_py),
            py::arg("x"), py::arg("weight"), py::arg("bias"), py::arg("running_mean"),
            py::arg("running_var"), py::arg("training"), py::arg("momentum"), py::arg("eps"),
            "(y, save_mean, save_invstd) over x (N, C, L); running statistics updated in place "
            "when training.");
  def_float(m, "batch_norm_backward", {"batch_norm", "x", 1}, NNC_BOTH(batch_norm_backward_py),
            py::arg("dy"), py::arg("x"), py::arg("weight"), py::arg("save_mean"),
            py::arg("save_invstd"), py::arg("training"), py::arg("need_dx") = true,
            py::arg("need_dw") = true, py::arg("need_db") = true, "(dx, dweight, dbias) of "
            "batch_norm; None where not needed.");
}

// ==== end batch_norm ===========================================================================

// ==== layer_norm =================================================================================

namespace {

constexpr const char* kLayerNorm = "layer_norm";
constexpr const char* kAddLayerNorm = "add_layer_norm";

// x [rows, cols]; weight and bias (cols,) or None. x_name names x in errors.
LayerNormShape layer_norm_shape(const py::array& x, const py::object& w, const py::object& b,
                                const char* op = kLayerNorm, const char* x_name = "x") {
  NNC_CHECK(x.ndim() == 2, op, x_name, ": expected 2-D (rows, normalized size), got shape ",
            shape_str(shape_of(x)));
  const LayerNormShape s{x.shape(0), x.shape(1)};
  NNC_CHECK(s.cols > 0, op, x_name, ": expected a positive normalized size, got shape ",
            shape_str(shape_of(x)));
  for (const auto& [name, a] : {std::pair<const char*, const py::object&>{"weight", w},
                                std::pair<const char*, const py::object&>{"bias", b}}) {
    if (a.is_none()) continue;
    const py::array arr = a.cast<py::array>();
    NNC_CHECK(arr.ndim() == 1 && arr.shape(0) == s.cols, op, name, ": expected shape (",
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
    // FLOPs: mean, variance and the normalise-scale-shift, ~8 per element; bytes: x, y.
    NNC_PROFILE("layer_norm.forward", 8.0 * s.rows * s.cols, 2.0 * sizeof(T) * s.rows * s.cols,
                x);
    layer_norm_forward<T>(px, pw, pb, py_, pm, pr, s, eps);
  }
  return py::make_tuple(y, mean, rstd);
}

template <class T>
py::tuple layer_norm_backward_py(const py::array& dy, const py::array& x, const py::object& w,
                                 const py::array& mean, const py::array& rstd, bool need_dx,
                                 bool need_dw, bool need_db, const char* op = kLayerNorm,
                                 const char* event = "layer_norm.backward",
                                 const char* x_name = "x") {
  const LayerNormShape s = layer_norm_shape(x, w, py::none(), op, x_name);
  NNC_CHECK(shape_of(dy) == shape_of(x), op, "dy: expected shape ",
            shape_str(shape_of(x)), ", got ", shape_str(shape_of(dy)));
  const std::vector<int64_t> stat{s.rows};
  NNC_CHECK(shape_of(mean) == stat && shape_of(rstd) == stat, op,
            "mean, rstd: expected shape (", s.rows, ",), got ", shape_str(shape_of(mean)), " and ",
            shape_str(shape_of(rstd)));
  const T* pdy = cdata<T>(op, "dy", dy);
  const T* px = cdata<T>(op, x_name, x);
  const T* pw = cdata_or_null<T>(op, "weight", w);
  const T* pm = cdata<T>(op, "mean", mean);
  const T* pr = cdata<T>(op, "rstd", rstd);
  T *pdx, *pdw, *pdb;
  py::object dx = optional_output<T>(need_dx, shape_of(x), &pdx);
  py::object dw = optional_output<T>(need_dw, {s.cols}, &pdw);
  py::object db = optional_output<T>(need_db, {s.cols}, &pdb);
  {
    py::gil_scoped_release nogil;
    // FLOPs: x-hat, two row reductions, dx and the column sums, ~12 per element.
    NNC_PROFILE(event, 12.0 * s.rows * s.cols,
                sizeof(T) * (2.0 + (pdx != nullptr)) * s.rows * s.cols, dy, x);
    layer_norm_backward<T>(pdy, px, pw, pm, pr, pdx, pdw, pdb, s);
  }
  return py::make_tuple(dx, dw, db);
}

// add_layer_norm_forward: x and residual [rows, cols]; returns (y, sum, mean, rstd).
template <class T>
py::tuple add_layer_norm_forward_py(const py::array& x, const py::array& res, const py::object& w,
                                    const py::object& b, double eps) {
  const char* op = kAddLayerNorm;
  const LayerNormShape s = layer_norm_shape(x, w, b, op);
  NNC_CHECK(shape_of(res) == shape_of(x), op, "residual: expected the shape of x ",
            shape_str(shape_of(x)), ", got ", shape_str(shape_of(res)));
  NNC_CHECK(eps >= 0, op, "eps: expected a non-negative number, got ", eps);
  const T* px = cdata<T>(op, "x", x);
  const T* pr = cdata<T>(op, "residual", res);
  const T* pw = cdata_or_null<T>(op, "weight", w);
  const T* pb = cdata_or_null<T>(op, "bias", b);
  auto y = empty_like_shape<T>(shape_of(x));
  auto sum = empty_like_shape<T>(shape_of(x));
  auto mean = empty_like_shape<T>({s.rows});
  auto rstd = empty_like_shape<T>({s.rows});
  T* py_ = y.mutable_data();
  T* ps = sum.mutable_data();
  T* pm = mean.mutable_data();
  T* prs = rstd.mutable_data();
  {
    py::gil_scoped_release nogil;
    // As layer_norm.forward plus the sum: ~9 FLOPs per element; bytes: x, residual, sum, y.
    NNC_PROFILE("add_layer_norm.forward", 9.0 * s.rows * s.cols,
                4.0 * sizeof(T) * s.rows * s.cols, x, res);
    add_layer_norm_forward<T>(px, pr, pw, pb, ps, py_, pm, prs, s, eps);
  }
  return py::make_tuple(y, sum, mean, rstd);
}

// layer_norm_backward_py with layer_norm's own names (the binding takes its 8 arguments).
template <class T>
py::tuple layer_norm_grad_py(const py::array& dy, const py::array& x, const py::object& w,
                             const py::array& mean, const py::array& rstd, bool need_dx,
                             bool need_dw, bool need_db) {
  return layer_norm_backward_py<T>(dy, x, w, mean, rstd, need_dx, need_dw, need_db);
}

void bind_layer_norm(py::module_& m) {
  def_float(m, "layer_norm_forward", {kLayerNorm, "x", 0}, NNC_BOTH(layer_norm_forward_py),
            py::arg("x"), py::arg("weight") = py::none(), py::arg("bias") = py::none(),
            py::arg("eps") = 1e-5, "(y, mean, rstd): each row of x [rows, cols] normalised, times "
            "weight, plus bias.");
  def_float(m, "layer_norm_backward", {kLayerNorm, "x", 1}, NNC_BOTH(layer_norm_grad_py),
            py::arg("dy"), py::arg("x"), py::arg("weight"), py::arg("mean"), py::arg("rstd"),
            py::arg("need_dx") = true, py::arg("need_dw") = true, py::arg("need_db") = true,
            "(dx, dweight, dbias) from the forward's saved mean and rstd; None where not needed.");
  def_float(m, "add_layer_norm_forward", {kAddLayerNorm, "x", 0},
            NNC_BOTH(add_layer_norm_forward_py), py::arg("x"), py::arg("residual"),
            py::arg("weight") = py::none(), py::arg("bias") = py::none(), py::arg("eps") = 1e-5,
            "(y, sum, mean, rstd): layer_norm_forward of sum = x + residual, both [rows, cols].");
  m.def(
      "add_layer_norm_backward",
      [](const py::array& dy, const py::array& sum, const py::object& weight,
         const py::array& mean, const py::array& rstd, bool need_dx, bool need_dw,
         bool need_db) -> py::tuple {
        return dispatch_float(kAddLayerNorm, "sum", sum, [&](auto t) -> py::tuple {
          return layer_norm_backward_py<decltype(t)>(dy, sum, weight, mean, rstd, need_dx,
                                                     need_dw, need_db, kAddLayerNorm,
                                                     "add_layer_norm.backward", "sum");
        });
      },
      py::arg("dy"), py::arg("sum"), py::arg("weight"), py::arg("mean"), py::arg("rstd"),
      py::arg("need_dx") = true, py::arg("need_dw") = true, py::arg("need_db") = true,
      "(dx, dweight, dbias): layer_norm_backward at the forward's sum; dx is the gradient of "
      "both x and residual.");
}

}  // namespace

// ==== end layer_norm =============================================================================

void bind_norm(py::module_& m) {
  bind_batch_norm(m);
  bind_layer_norm(m);
}

}  // namespace nnc
