#include "kernels/activation.h"

#include <string>

#include "bindings/common.h"

namespace nnc {

namespace {

// What the profiler records of one call: its event name and the FLOPs per element or row entry
// (a transcendental such as exp, erf or tanh counts as one).
struct Cost {
  const char* event;
  double flops_per_item;
};

// y = kernel(x) elementwise, any shape; `name` is what errors call x.
template <class T, class K>
py::array unary_forward(const char* op, const char* name, const py::array& x, const K& kernel,
                        Cost cost) {
  const T* px = cdata<T>(op, name, x);
  auto y = empty_like_shape<T>(shape_of(x));
  T* py_ = y.mutable_data();
  const int64_t n = x.size();
  {
    py::gil_scoped_release nogil;
    NNC_PROFILE(cost.event, cost.flops_per_item * n, 2.0 * sizeof(T) * n, x);
    kernel(px, py_, n);
  }
  return y;
}

// dx = kernel(dy, saved) elementwise; `saved` is the input x or the output y of the forward.
template <class T, class K>
py::array unary_backward(const char* op, const py::array& dy, const char* saved_name,
                         const py::array& saved, const K& kernel, Cost cost) {
  NNC_CHECK(shape_of(dy) == shape_of(saved), op, "dy: expected shape ", shape_str(shape_of(saved)),
            " (the shape of ", saved_name, "), got ", shape_str(shape_of(dy)));
  const T* pdy = cdata<T>(op, "dy", dy);
  const T* ps = cdata<T>(op, saved_name, saved);
  auto dx = empty_like_shape<T>(shape_of(saved));
  T* pdx = dx.mutable_data();
  const int64_t n = saved.size();
  {
    py::gil_scoped_release nogil;
    NNC_PROFILE(cost.event, cost.flops_per_item * n, 3.0 * sizeof(T) * n, dy, saved);
    kernel(pdy, ps, pdx, n);
  }
  return dx;
}

SoftmaxShape softmax_shape(const char* op, const char* name, const py::array& a) {
  NNC_CHECK(a.ndim() == 2, op, name, ": expected 2-D (rows, cols), got shape ",
            shape_str(shape_of(a)));
  return {a.shape(0), a.shape(1)};
}

// y = kernel(x) row by row over a [rows, cols] array.
template <class T, class K>
py::array rows_forward(const char* op, const py::array& x, const K& kernel, Cost cost) {
  const SoftmaxShape s = softmax_shape(op, "x", x);
  const T* px = cdata<T>(op, "x", x);
  auto y = empty_like_shape<T>(shape_of(x));
  T* py_ = y.mutable_data();
  {
    py::gil_scoped_release nogil;
    const double n = double(s.rows) * s.cols;
    NNC_PROFILE(cost.event, cost.flops_per_item * n, 2.0 * sizeof(T) * n, x);
    kernel(px, py_, s);
  }
  return y;
}

// dx = kernel(dy, y) row by row, from the saved output y.
template <class T, class K>
py::array rows_backward(const char* op, const py::array& dy, const py::array& y, const K& kernel,
                        Cost cost) {
  const SoftmaxShape s = softmax_shape(op, "y", y);
  NNC_CHECK(shape_of(dy) == shape_of(y), op, "dy: expected shape ", shape_str(shape_of(y)),
            " (the shape of y), got ", shape_str(shape_of(dy)));
  const T* pdy = cdata<T>(op, "dy", dy);
  const T* py_ = cdata<T>(op, "y", y);
  auto dx = empty_like_shape<T>(shape_of(y));
  T* pdx = dx.mutable_data();
  {
    py::gil_scoped_release nogil;
    const double n = double(s.rows) * s.cols;
    NNC_PROFILE(cost.event, cost.flops_per_item * n, 3.0 * sizeof(T) * n, dy, y);
    kernel(pdy, py_, pdx, s);
  }
  return dx;
}

bool gelu_tanh(const std::string& approximate) {
  NNC_CHECK(approximate == "none" || approximate == "tanh", "gelu",
            "approximate: expected 'none' or 'tanh', got '", approximate, "'");
  return approximate == "tanh";
}

void check_dropout_p(double p) {
  NNC_CHECK(p >= 0.0 && p <= 1.0, "dropout", "p: expected a probability in [0, 1], got ", p);
}

}  // namespace

void bind_activation(py::module_& m) {
  // ---- elementwise: relu, leaky_relu, sigmoid, tanh, gelu ----
  m.def(
      "relu_forward",
      [](const py::array& x) -> py::array {
        return dispatch_float("relu", "x", x, [&](auto t) -> py::array {
          using T = decltype(t);
          return unary_forward<T>("relu", "x", x, relu_forward<T>, {"relu.forward", 1});
        });
      },
      py::arg("x"), "y = max(x, 0).");
  m.def(
      "relu_backward",
      [](const py::array& dy, const py::array& x) -> py::array {
        return dispatch_float("relu", "x", x, [&](auto t) -> py::array {
          using T = decltype(t);
          return unary_backward<T>("relu", dy, "x", x, relu_backward<T>, {"relu.backward", 1});
        });
      },
      py::arg("dy"), py::arg("x"), "dx = dy * (x > 0).");
  m.def(
      "leaky_relu_forward",
      [](const py::array& x, double negative_slope) -> py::array {
        return dispatch_float("leaky_relu", "x", x, [&](auto t) -> py::array {
          using T = decltype(t);
          const T slope = static_cast<T>(negative_slope);
          return unary_forward<T>("leaky_relu", "x", x, [slope](const T* a, T* b, int64_t n) {
            leaky_relu_forward<T>(a, b, n, slope);
          }, {"leaky_relu.forward", 2});
        });
      },
      py::arg("x"), py::arg("negative_slope") = 0.01, "y = x > 0 ? x : negative_slope * x.");
  m.def(
      "leaky_relu_backward",
      [](const py::array& dy, const py::array& x, double negative_slope) -> py::array {
        return dispatch_float("leaky_relu", "x", x, [&](auto t) -> py::array {
          using T = decltype(t);
          const T slope = static_cast<T>(negative_slope);
          return unary_backward<T>("leaky_relu", dy, "x", x,
                                   [slope](const T* g, const T* a, T* d, int64_t n) {
                                     leaky_relu_backward<T>(g, a, d, n, slope);
                                   }, {"leaky_relu.backward", 2});
        });
      },
      py::arg("dy"), py::arg("x"), py::arg("negative_slope") = 0.01,
      "dx = dy * (x > 0 ? 1 : negative_slope).");
  m.def(
      "sigmoid_forward",
      [](const py::array& x) -> py::array {
        return dispatch_float("sigmoid", "x", x, [&](auto t) -> py::array {
          using T = decltype(t);
          return unary_forward<T>("sigmoid", "x", x, sigmoid_forward<T>, {"sigmoid.forward", 4});
        });
      },
      py::arg("x"), "y = 1 / (1 + exp(-x)).");
  m.def(
      "sigmoid_backward",
      [](const py::array& dy, const py::array& y) -> py::array {
        return dispatch_float("sigmoid", "y", y, [&](auto t) -> py::array {
          using T = decltype(t);
          return unary_backward<T>("sigmoid", dy, "y", y, sigmoid_backward<T>, {"sigmoid.backward", 3});
        });
      },
      py::arg("dy"), py::arg("y"), "dx = dy * y * (1 - y), y the forward's output.");
  m.def(
      "tanh_forward",
      [](const py::array& x) -> py::array {
        return dispatch_float("tanh", "x", x, [&](auto t) -> py::array {
          using T = decltype(t);
          return unary_forward<T>("tanh", "x", x, tanh_forward<T>, {"tanh.forward", 1});
        });
      },
      py::arg("x"), "y = tanh(x).");
  m.def(
      "tanh_backward",
      [](const py::array& dy, const py::array& y) -> py::array {
        return dispatch_float("tanh", "y", y, [&](auto t) -> py::array {
          using T = decltype(t);
          return unary_backward<T>("tanh", dy, "y", y, tanh_backward<T>, {"tanh.backward", 3});
        });
      },
      py::arg("dy"), py::arg("y"), "dx = dy * (1 - y^2), y the forward's output.");
  m.def(
      "gelu_forward",
      [](const py::array& x, const std::string& approximate) -> py::array {
        const bool approx = gelu_tanh(approximate);
        return dispatch_float("gelu", "x", x, [&](auto t) -> py::array {
          using T = decltype(t);
          return unary_forward<T>("gelu", "x", x, [approx](const T* a, T* b, int64_t n) {
            gelu_forward<T>(a, b, n, approx);
          }, {"gelu.forward", approx ? 9.0 : 5.0});
        });
      },
      py::arg("x"), py::arg("approximate") = "none",
      "y = x * Phi(x) ('none') or its tanh approximation ('tanh').");
  m.def(
      "gelu_backward",
      [](const py::array& dy, const py::array& x, const std::string& approximate) -> py::array {
        const bool approx = gelu_tanh(approximate);
        return dispatch_float("gelu", "x", x, [&](auto t) -> py::array {
          using T = decltype(t);
          return unary_backward<T>("gelu", dy, "x", x,
                                   [approx](const T* g, const T* a, T* d, int64_t n) {
                                     gelu_backward<T>(g, a, d, n, approx);
                                   }, {"gelu.backward", approx ? 18.0 : 11.0});
        });
      },
      py::arg("dy"), py::arg("x"), py::arg("approximate") = "none", "dx = dy * gelu'(x).");

  // ---- softmax, log_softmax over the last axis of [rows, cols] ----
  m.def(
      "softmax_forward",
      [](const py::array& x) -> py::array {
        return dispatch_float("softmax", "x", x, [&](auto t) -> py::array {
          using T = decltype(t);
          return rows_forward<T>("softmax", x, softmax_forward<T>, {"softmax.forward", 5});
        });
      },
      py::arg("x"), "Softmax over the last axis of a [rows, cols] array.");
  m.def(
      "softmax_backward",
      [](const py::array& dy, const py::array& y) -> py::array {
        return dispatch_float("softmax", "y", y, [&](auto t) -> py::array {
          using T = decltype(t);
          return rows_backward<T>("softmax", dy, y, softmax_backward<T>, {"softmax.backward", 4});
        });
      },
      py::arg("dy"), py::arg("y"), "dx = y * (dy - sum(dy * y)) per row, y the forward's output.");
  m.def(
      "log_softmax_forward",
      [](const py::array& x) -> py::array {
        return dispatch_float("log_softmax", "x", x, [&](auto t) -> py::array {
          using T = decltype(t);
          return rows_forward<T>("log_softmax", x, log_softmax_forward<T>, {"log_softmax.forward", 5});
        });
      },
      py::arg("x"), "Log-softmax over the last axis of a [rows, cols] array.");
  m.def(
      "log_softmax_backward",
      [](const py::array& dy, const py::array& y) -> py::array {
        return dispatch_float("log_softmax", "y", y, [&](auto t) -> py::array {
          using T = decltype(t);
          return rows_backward<T>("log_softmax", dy, y, log_softmax_backward<T>, {"log_softmax.backward", 4});
        });
      },
      py::arg("dy"), py::arg("y"),
      "dx = dy - exp(y) * sum(dy) per row, y the forward's output.");

  // ---- dropout: the mask is regenerated from (seed, element index) ----
  m.def(
      "dropout_forward",
      [](const py::array& x, double p, uint64_t seed) -> py::array {
        check_dropout_p(p);
        return dispatch_float("dropout", "x", x, [&](auto t) -> py::array {
          using T = decltype(t);
          return unary_forward<T>("dropout", "x", x, [p, seed](const T* a, T* b, int64_t n) {
            dropout_forward<T>(a, b, n, p, seed);
          }, {"dropout.forward", 1});
        });
      },
      py::arg("x"), py::arg("p"), py::arg("seed"),
      "y = x / (1 - p) where the mask of (seed, index) keeps, else 0.");
  m.def(
      "dropout_backward",
      [](const py::array& dy, double p, uint64_t seed) -> py::array {
        check_dropout_p(p);
        return dispatch_float("dropout", "dy", dy, [&](auto t) -> py::array {
          using T = decltype(t);
          return unary_forward<T>("dropout", "dy", dy, [p, seed](const T* a, T* b, int64_t n) {
            dropout_backward<T>(a, b, n, p, seed);
          }, {"dropout.backward", 1});
        });
      },
      py::arg("dy"), py::arg("p"), py::arg("seed"),
      "dx = dy / (1 - p) where the forward's mask (same seed) keeps, else 0.");
}

}  // namespace nnc
