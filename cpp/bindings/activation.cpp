#include "kernels/activation.h"

#include <string>

#include "bindings/def.h"

namespace nnc {

namespace {

bool gelu_tanh(const std::string& approximate) {
  NNC_CHECK(approximate == "none" || approximate == "tanh", "gelu",
            "approximate: expected 'none' or 'tanh', got '", approximate, "'");
  return approximate == "tanh";
}

void check_dropout_p(double p) {
  NNC_CHECK(p >= 0.0 && p <= 1.0, "dropout", "p: expected a probability in [0, 1], got ", p);
}

}  // namespace

// FLOPs per element: a transcendental such as exp, erf or tanh counts as one.
void bind_activation(py::module_& m) {
  // ---- elementwise ----
  def_elementwise(m, {NNC_OP_NAMES(relu), "x", 1, 1, "y = max(x, 0).", "dx = dy * (x > 0)."},
                  NNC_KERNEL(relu_forward), NNC_KERNEL(relu_backward));
  def_elementwise<double>(
      m,
      {NNC_OP_NAMES(leaky_relu), "x", 2, 2, "y = x > 0 ? x : negative_slope * x.",
       "dx = dy * (x > 0 ? 1 : negative_slope)."},
      [](double slope) {
        return [slope](const auto* x, auto* y, int64_t n) {
          leaky_relu_forward(x, y, n, static_cast<elem_t<decltype(y)>>(slope));
        };
      },
      [](double slope) {
        return [slope](const auto* dy, const auto* x, auto* dx, int64_t n) {
          leaky_relu_backward(dy, x, dx, n, static_cast<elem_t<decltype(dx)>>(slope));
        };
      },
      py::arg("negative_slope") = 0.01);
  def_elementwise(m,
                  {NNC_OP_NAMES(sigmoid), "y", 4, 3, "y = 1 / (1 + exp(-x)).",
                   "dx = dy * y * (1 - y), y the forward's output."},
                  NNC_KERNEL(sigmoid_forward), NNC_KERNEL(sigmoid_backward));
  def_elementwise(m,
                  {NNC_OP_NAMES(tanh), "y", 1, 3, "y = tanh(x).",
                   "dx = dy * (1 - y^2), y the forward's output."},
                  NNC_KERNEL(tanh_forward), NNC_KERNEL(tanh_backward));
  def_elementwise<const std::string&>(
      m,
      {NNC_OP_NAMES(gelu), "x", 5, 11,
       "y = x * Phi(x) ('none') or its tanh approximation ('tanh').", "dx = dy * gelu'(x)."},
      [](const std::string& approximate) {
        const bool t = gelu_tanh(approximate);
        return costed([t](const auto* x, auto* y, int64_t n) { gelu_forward(x, y, n, t); },
                      t ? 9.0 : 5.0);
      },
      [](const std::string& approximate) {
        const bool t = gelu_tanh(approximate);
        return costed([t](const auto* dy, const auto* x, auto* dx,
                          int64_t n) { gelu_backward(dy, x, dx, n, t); },
                      t ? 18.0 : 11.0);
      },
      py::arg("approximate") = "none");
  // exp and log1p (2), the scale and the compare (3).
  def_elementwise<double, double>(
      m,
      {NNC_OP_NAMES(softplus), "x", 5, 5,
       "y = x where beta * x > threshold, else log(1 + exp(beta * x)) / beta.",
       "dx = dy where beta * x > threshold, else dy * sigmoid(beta * x)."},
      NNC_KERNEL(softplus_forward), NNC_KERNEL(softplus_backward), py::arg("beta") = 1.0,
      py::arg("threshold") = 20.0);

  // ---- softmax, log_softmax over the last axis of [rows, cols] ----
  def_rowwise<SoftmaxShape>(m,
                            {NNC_OP_NAMES(softmax), 5, 4,
                             "Softmax over the last axis of a [rows, cols] array.",
                             "dx = y * (dy - sum(dy * y)) per row, y the forward's output."},
                            NNC_KERNEL(softmax_forward), NNC_KERNEL(softmax_backward));
  def_rowwise<SoftmaxShape>(m,
                            {NNC_OP_NAMES(log_softmax), 5, 4,
                             "Log-softmax over the last axis of a [rows, cols] array.",
                             "dx = dy - exp(y) * sum(dy) per row, y the forward's output."},
                            NNC_KERNEL(log_softmax_forward), NNC_KERNEL(log_softmax_backward));

  // ---- dropout: the mask is regenerated from (seed, element index); backward takes dy ----
  const auto dropout_kernel = [](double p, uint64_t seed) {
    check_dropout_p(p);
    return NNC_KERNEL(dropout_forward)(p, seed);
  };
  const auto dropout_grad_kernel = [](double p, uint64_t seed) {
    check_dropout_p(p);
    return [p, seed](const auto* dy, auto* dx, int64_t n) { dropout_backward(dy, dx, n, p, seed); };
  };
  def_elementwise_dy<double, uint64_t>(
      m,
      {NNC_OP_NAMES(dropout), nullptr, 1, 1,
       "y = x / (1 - p) where the mask of (seed, index) keeps, else 0.",
       "dx = dy / (1 - p) where the forward's mask (same seed) keeps, else 0."},
      dropout_kernel, dropout_grad_kernel, py::arg("p"), py::arg("seed"));
}

}  // namespace nnc
