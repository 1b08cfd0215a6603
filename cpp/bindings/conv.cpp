#include "kernels/conv.h"
#include "kernels/pool.h"

#include <utility>

#include <pybind11/stl.h>

#include "bindings/def.h"
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

void check_4d(const char* op, const char* name, const py::array& a) {
  NNC_CHECK(a.ndim() == 4, op, name, ": expected 4-D (N, C, H, W), got shape ",
            shape_str(shape_of(a)));
}

Pool2dShape pool_shape(const char* op, const py::array& x, Pair kernel, Pair stride,
                       Pair padding, Pair dilation, bool ceil_mode) {
  check_4d(op, "x", x);
  return pool2d_shape(op, x.shape(0) * x.shape(1), x.shape(2), x.shape(3), kernel.first,
                      kernel.second, stride.first, stride.second, padding.first, padding.second,
                      dilation.first, dilation.second, ceil_mode);
}

// The shape of the input gradient (N, C, H, W) for an output gradient dy of shape (N, C, oh, ow).
std::vector<int64_t> input_shape(const py::array& dy, Pair hw) {
  return {dy.shape(0), dy.shape(1), hw.first, hw.second};
}

void check_dy(const char* op, const py::array& dy, const Pool2dShape& s) {
  const std::vector<int64_t> expected{dy.shape(0), dy.shape(1), s.oh, s.ow};
  NNC_CHECK(shape_of(dy) == expected, op, "dy: expected shape ", shape_str(expected), ", got ",
            shape_str(shape_of(dy)));
}

template <class T>
py::tuple max_pool2d_forward_py(const py::array& x, Pair kernel, Pair stride, Pair padding,
                                Pair dilation, bool ceil_mode, bool need_indices) {
  const Pool2dShape s = pool_shape("max_pool2d", x, kernel, stride, padding, dilation, ceil_mode);
  const T* px = cdata<T>("max_pool2d", "x", x);
  const std::vector<int64_t> yshape{x.shape(0), x.shape(1), s.oh, s.ow};
  auto y = empty_like_shape<T>(yshape);
  if (!need_indices && max_pool2d_is_even_2x2(s)) {
    auto taps = empty_like_shape<uint8_t>(yshape);
    T* py_ = y.mutable_data();
    uint8_t* ptap = taps.mutable_data();
    {
      py::gil_scoped_release nogil;
      NNC_PROFILE("max_pool2d.forward", double(y.size()) * 4,
                  sizeof(T) * (x.size() + y.size()) + y.size(), x);
      max_pool2d_2x2_forward<T>(px, py_, ptap, s);
    }
    return py::make_tuple(y, taps);
  }
  auto idx = empty_like_shape<int64_t>(yshape);
  T* py_ = y.mutable_data();
  int64_t* pidx = idx.mutable_data();
  {
    py::gil_scoped_release nogil;
    NNC_PROFILE("max_pool2d.forward", double(y.size()) * s.kh * s.kw,
                sizeof(T) * (x.size() + y.size()) + sizeof(int64_t) * y.size(), x);
    max_pool2d_forward<T>(px, py_, pidx, s);
  }
  return py::make_tuple(y, idx);
}

template <class T>
py::array max_pool2d_backward_py(const py::array& dy, const py::array& indices, Pair hw,
                                 Pair kernel, Pair stride, Pair padding, Pair dilation,
                                 bool ceil_mode) {
  const char* op = "max_pool2d";
  check_4d(op, "dy", dy);
  const std::vector<int64_t> xshape = input_shape(dy, hw);
  const Pool2dShape s = pool2d_shape(op, xshape[0] * xshape[1], hw.first, hw.second,
                                     kernel.first, kernel.second, stride.first, stride.second,
                                     padding.first, padding.second, dilation.first,
                                     dilation.second, ceil_mode);
  check_dy(op, dy, s);
  NNC_CHECK(shape_of(indices) == shape_of(dy), op, "indices: expected shape ",
            shape_str(shape_of(dy)), ", got ", shape_str(shape_of(indices)));
  if (py::isinstance<py::array_t<uint8_t>>(indices)) {
    NNC_CHECK(max_pool2d_is_even_2x2(s), op,
              "indices: uint8 taps come only from a 2x2 stride-2 pool over even planes");
    NNC_CHECK(indices.flags() & py::array::c_style, op, "indices: expected a C-contiguous array");
    const T* pdy = cdata<T>(op, "dy", dy);
    const uint8_t* ptap = static_cast<const uint8_t*>(indices.data());
    auto dx = empty_like_shape<T>(xshape, op);
    T* pdx = dx.mutable_data();
    {
      py::gil_scoped_release nogil;
      NNC_PROFILE("max_pool2d.backward", dy.size(),
                  sizeof(T) * (dy.size() + dx.size()) + dy.size(), dy);
      max_pool2d_2x2_backward<T>(pdy, ptap, pdx, s);
    }
    return dx;
  }
  if (!py::isinstance<py::array_t<int64_t>>(indices))
    throw py::type_error(concat("[", op, "] indices: expected int64, got ",
                                std::string(py::str(indices.dtype()))));
  NNC_CHECK(indices.flags() & py::array::c_style, op, "indices: expected a C-contiguous array");
  const T* pdy = cdata<T>(op, "dy", dy);
  const int64_t* pidx = aligned_data<int64_t>(op, "indices", indices);
  const int64_t* end = pidx + indices.size();
  for (const int64_t* p = pidx; p != end; ++p)
    NNC_CHECK(*p >= 0 && *p < s.h * s.w, op, "indices: value ", *p, " outside the ", s.h, "x",
              s.w, " input plane");
  auto dx = empty_like_shape<T>(xshape, op);
  T* pdx = dx.mutable_data();
  {
    py::gil_scoped_release nogil;
    NNC_PROFILE("max_pool2d.backward", dy.size(),
                sizeof(T) * (dy.size() + dx.size()) + sizeof(int64_t) * dy.size(), dy);
    max_pool2d_backward<T>(pdy, pidx, pdx, s);
  }
  return dx;
}

template <class T>
py::array avg_pool2d_forward_py(const py::array& x, Pair kernel, Pair stride, Pair padding,
                                bool ceil_mode, bool count_include_pad, int64_t divisor) {
  const char* op = "avg_pool2d";
  NNC_CHECK(divisor >= 0, op, "divisor_override must be positive, got ", divisor);
  const Pool2dShape s = pool_shape(op, x, kernel, stride, padding, {1, 1}, ceil_mode);
  const T* px = cdata<T>(op, "x", x);
  auto y = empty_like_shape<T>({x.shape(0), x.shape(1), s.oh, s.ow});
  T* py_ = y.mutable_data();
  {
    py::gil_scoped_release nogil;
    NNC_PROFILE("avg_pool2d.forward", double(y.size()) * s.kh * s.kw,
                sizeof(T) * (x.size() + y.size()), x);
    avg_pool2d_forward<T>(px, py_, s, count_include_pad, divisor);
  }
  return y;
}

template <class T>
py::array avg_pool2d_backward_py(const py::array& dy, Pair hw, Pair kernel, Pair stride,
                                 Pair padding, bool ceil_mode, bool count_include_pad,
                                 int64_t divisor) {
  const char* op = "avg_pool2d";
  NNC_CHECK(divisor >= 0, op, "divisor_override must be positive, got ", divisor);
  check_4d(op, "dy", dy);
  const std::vector<int64_t> xshape = input_shape(dy, hw);
  const Pool2dShape s = pool2d_shape(op, xshape[0] * xshape[1], hw.first, hw.second,
                                     kernel.first, kernel.second, stride.first, stride.second,
                                     padding.first, padding.second, 1, 1, ceil_mode);
  check_dy(op, dy, s);
  const T* pdy = cdata<T>(op, "dy", dy);
  auto dx = empty_like_shape<T>(xshape, op);
  T* pdx = dx.mutable_data();
  {
    py::gil_scoped_release nogil;
    NNC_PROFILE("avg_pool2d.backward", double(dy.size()) * s.kh * s.kw,
                sizeof(T) * (dy.size() + dx.size()), dy);
    avg_pool2d_backward<T>(pdy, pdx, s, count_include_pad, divisor);
  }
  return dx;
}

Pool2dShape adaptive_shape(const char* op, const std::vector<int64_t>& xshape, Pair out) {
  NNC_CHECK(xshape[0] * xshape[1] > 0 && xshape[2] > 0 && xshape[3] > 0, op,
            "empty input of shape ", shape_str(xshape));
  NNC_CHECK(out.first > 0 && out.second > 0, op, "output_size must be positive, got (",
            out.first, ", ", out.second, ")");
  // NOTE: the kernels compute window bounds as o * h / oh: bound those products and the output.
  checked_numel(op, "output_size", {xshape[0], xshape[1], out.first, out.second});
  checked_numel(op, "output_size", {out.first, xshape[2]});
  checked_numel(op, "output_size", {out.second, xshape[3]});
  checked_numel(op, "input_size", {xshape[0], xshape[1], xshape[2], xshape[3]});
  return {xshape[0] * xshape[1], xshape[2], xshape[3], out.first, out.second, 1, 1, 1, 1, 0, 0,
          1, 1};
}

template <class T>
py::array adaptive_forward_py(const py::array& x, Pair out) {
  const char* op = "adaptive_avg_pool2d";
  check_4d(op, "x", x);
  const Pool2dShape s = adaptive_shape(op, shape_of(x), out);
  const T* px = cdata<T>(op, "x", x);
  auto y = empty_like_shape<T>({x.shape(0), x.shape(1), s.oh, s.ow});
  T* py_ = y.mutable_data();
  {
    py::gil_scoped_release nogil;
    NNC_PROFILE("adaptive_avg_pool2d.forward", x.size(), sizeof(T) * (x.size() + y.size()), x);
    adaptive_avg_pool2d_forward<T>(px, py_, s);
  }
  return y;
}

template <class T>
py::array adaptive_backward_py(const py::array& dy, Pair hw) {
  const char* op = "adaptive_avg_pool2d";
  check_4d(op, "dy", dy);
  const std::vector<int64_t> xshape = input_shape(dy, hw);
  const Pool2dShape s = adaptive_shape(op, xshape, {dy.shape(2), dy.shape(3)});
  const T* pdy = cdata<T>(op, "dy", dy);
  auto dx = empty_like_shape<T>(xshape, op);
  T* pdx = dx.mutable_data();
  {
    py::gil_scoped_release nogil;
    NNC_PROFILE("adaptive_avg_pool2d.backward", dx.size(),
                sizeof(T) * (dy.size() + dx.size()), dy);
    adaptive_avg_pool2d_backward<T>(pdy, pdx, s);
  }
  return dx;
}

}  // namespace

void bind_conv(py::module_& m) {
  def_float(m, "conv2d_forward", {"conv2d", "x", 0}, NNC_BOTH(conv2d_forward_py), py::arg("x"),
            py::arg("weight"), py::arg("bias"), py::arg("stride"), py::arg("padding"),
            py::arg("dilation"), py::arg("groups") = 1, "y = conv2d(x, weight) + bias, NCHW; "
            "stride, padding, dilation are (h, w) pairs.");
  def_float(m, "conv2d_backward", {"conv2d", "x", 1}, NNC_BOTH(conv2d_backward_py), py::arg("dy"),
            py::arg("x"), py::arg("weight"), py::arg("stride"), py::arg("padding"),
            py::arg("dilation"), py::arg("groups") = 1, py::arg("need_dx") = true,
            py::arg("need_dw") = true, py::arg("need_db") = true, "(dx, dw, db) of conv2d; None "
            "where not needed.");
  def_float(m, "max_pool2d_forward", {"max_pool2d", "x", 0}, NNC_BOTH(max_pool2d_forward_py),
            py::arg("x"), py::arg("kernel_size"), py::arg("stride"), py::arg("padding"),
            py::arg("dilation"), py::arg("ceil_mode") = false, py::arg("need_indices") = true,
            "(y, indices): window maxima and their flat h*w positions (int64). Without "
            "need_indices, a 2x2 stride-2 pool over even planes returns uint8 taps (0..3, "
            "row-major in the window) instead, for max_pool2d_backward alone.");
  def_float(m, "max_pool2d_backward", {"max_pool2d", "dy", 0}, NNC_BOTH(max_pool2d_backward_py),
            py::arg("dy"), py::arg("indices"), py::arg("input_size"), py::arg("kernel_size"),
            py::arg("stride"), py::arg("padding"), py::arg("dilation"),
            py::arg("ceil_mode") = false, "dx: dy scattered to the forward's argmax positions "
            "(int64 indices or uint8 taps); input_size is (H, W).");
  def_float(m, "avg_pool2d_forward", {"avg_pool2d", "x", 0}, NNC_BOTH(avg_pool2d_forward_py),
            py::arg("x"), py::arg("kernel_size"), py::arg("stride"), py::arg("padding"),
            py::arg("ceil_mode") = false, py::arg("count_include_pad") = true,
            py::arg("divisor_override") = 0, "y = window sums / divisor (PyTorch's rules; 0 = "
            "none).");
  def_float(m, "avg_pool2d_backward", {"avg_pool2d", "dy", 0}, NNC_BOTH(avg_pool2d_backward_py),
            py::arg("dy"), py::arg("input_size"), py::arg("kernel_size"), py::arg("stride"),
            py::arg("padding"), py::arg("ceil_mode") = false, py::arg("count_include_pad") = true,
            py::arg("divisor_override") = 0, "dx: dy / divisor spread over each window.");
  def_float(m, "adaptive_avg_pool2d_forward", {"adaptive_avg_pool2d", "x", 0},
            NNC_BOTH(adaptive_forward_py), py::arg("x"), py::arg("output_size"),
            "y = means over "
            "PyTorch's adaptive windows.");
  def_float(m, "adaptive_avg_pool2d_backward", {"adaptive_avg_pool2d", "dy", 0},
            NNC_BOTH(adaptive_backward_py), py::arg("dy"), py::arg("input_size"),
            "dx: dy / "
            "window size spread over each window.");
}

}  // namespace nnc
