#include "kernels/conv.h"

#include <utility>

#include <pybind11/stl.h>

#include "bindings/common.h"
#include "common/checked.h"

namespace nnc {

namespace {

using Pair = std::pair<int64_t, int64_t>;

Conv2dShape conv_shape(const py::array& x, const py::array& w, Pair stride, Pair padding,
                       Pair dilation, int64_t groups) {
  const char* op = "conv2d";
  NNC_CHECK(x.ndim() == 4, op, "x: expected 4-D (N, C, H, W), got shape ",
            shape_str(shape_of(x)));
  NNC_CHECK(w.ndim() == 4, op, "weight: expected 4-D (out_channels, in_channels / groups, kH, "
            "kW), got shape ", shape_str(shape_of(w)));
  return conv2d_shape(x.shape(0), x.shape(1), x.shape(2), x.shape(3), w.shape(0), w.shape(1),
                      w.shape(2), w.shape(3), stride.first, stride.second, padding.first,
                      padding.second, dilation.first, dilation.second, groups);
}

// Multiply-adds of one convolution: every output element sums (c / groups) * kh * kw products.
double conv_macs(const Conv2dShape& s) {
  return double(s.n) * s.k * s.oh * s.ow * (s.c / s.groups) * s.kh * s.kw;
}

template <class T>
py::array conv2d_forward_py(const py::array& x, const py::array& w, const py::object& b,
                            Pair stride, Pair padding, Pair dilation, int64_t groups) {
  const Conv2dShape s = conv_shape(x, w, stride, padding, dilation, groups);
  const T* px = cdata<T>("conv2d", "x", x);
  const T* pw = cdata<T>("conv2d", "weight", w);
  const T* pb = cdata_or_null<T>("conv2d", "bias", b, 1);
  if (pb)
    NNC_CHECK(b.cast<py::array>().shape(0) == s.k, "conv2d", "bias: expected shape (", s.k,
              ",), got ", shape_str(shape_of(b.cast<py::array>())));
  auto y = empty_like_shape<T>({s.n, s.k, s.oh, s.ow});
  T* py_ = y.mutable_data();
  {
    py::gil_scoped_release nogil;
    // FLOPs: 2 per multiply-add of the convolution, plus the bias; bytes: x, weight, y.
    NNC_PROFILE("conv2d.forward", 2.0 * conv_macs(s) + (pb ? s.n * s.k * s.oh * s.ow : 0),
                sizeof(T) * (x.size() + w.size() + y.size()), x, w);
    conv2d_forward<T>(px, pw, pb, py_, s);
  }
  return y;
}

template <class T>
py::tuple conv2d_backward_py(const py::array& dy, const py::array& x, const py::array& w,
                             Pair stride, Pair padding, Pair dilation, int64_t groups,
                             bool need_dx, bool need_dw, bool need_db) {
  const Conv2dShape s = conv_shape(x, w, stride, padding, dilation, groups);
  const std::vector<int64_t> yshape{s.n, s.k, s.oh, s.ow};
  NNC_CHECK(shape_of(dy) == yshape, "conv2d", "dy: expected shape ", shape_str(yshape), ", got ",
            shape_str(shape_of(dy)));
  const T* pdy = cdata<T>("conv2d", "dy", dy);
  const T* px = cdata<T>("conv2d", "x", x);
  const T* pw = cdata<T>("conv2d", "weight", w);
  T *pdx, *pdw, *pdb;
  py::object dx = optional_output<T>(need_dx, shape_of(x), &pdx);
  py::object dw = optional_output<T>(need_dw, shape_of(w), &pdw);
  py::object db = optional_output<T>(need_db, {s.k}, &pdb);
  {
    py::gil_scoped_release nogil;
    // FLOPs: the forward product once per gradient requested, plus a pass over dy for db.
    NNC_PROFILE("conv2d.backward",
                2.0 * conv_macs(s) * ((pdx != nullptr) + (pdw != nullptr)) +
                    (pdb ? s.n * s.k * s.oh * s.ow : 0),
                sizeof(T) * (dy.size() + x.size() + w.size() + (pdx ? x.size() : 0) +
                             (pdw ? w.size() : 0)),
                dy, x, w);
    conv2d_backward<T>(pdy, px, pw, pdx, pdw, pdb, s);
  }
  return py::make_tuple(dx, dw, db);
}

}  // namespace

void bind_conv(py::module_& m) {
  m.def(
      "conv2d_forward",
      [](const py::array& x, const py::array& w, const py::object& b, Pair stride, Pair padding,
         Pair dilation, int64_t groups) -> py::array {
        return dispatch_float("conv2d", "x", x, [&](auto t) -> py::array {
          return conv2d_forward_py<decltype(t)>(x, w, b, stride, padding, dilation, groups);
        });
      },
      py::arg("x"), py::arg("weight"), py::arg("bias"), py::arg("stride"),
      py::arg("padding"), py::arg("dilation"), py::arg("groups") = 1,
      "y = conv2d(x, weight) + bias, NCHW; stride, padding, dilation are (h, w) pairs.");
  m.def(
      "conv2d_backward",
      [](const py::array& dy, const py::array& x, const py::array& w, Pair stride, Pair padding,
         Pair dilation, int64_t groups, bool need_dx, bool need_dw, bool need_db) -> py::tuple {
        return dispatch_float("conv2d", "x", x, [&](auto t) -> py::tuple {
          return conv2d_backward_py<decltype(t)>(dy, x, w, stride, padding, dilation, groups,
                                                 need_dx, need_dw, need_db);
        });
      },
      py::arg("dy"), py::arg("x"), py::arg("weight"), py::arg("stride"), py::arg("padding"),
      py::arg("dilation"), py::arg("groups") = 1, py::arg("need_dx") = true,
      py::arg("need_dw") = true, py::arg("need_db") = true,
      "(dx, dw, db) of conv2d; None where not needed.");
}

}  // namespace nnc
