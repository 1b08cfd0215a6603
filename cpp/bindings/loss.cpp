#include "kernels/loss.h"

#include "bindings/def.h"

namespace nnc {

namespace {

Reduction parse_reduction(const char* op, const std::string& r) {
  if (r == "mean") return Reduction::kMean;
  if (r == "sum") return Reduction::kSum;
  NNC_CHECK(r == "none", op, "reduction: expected 'none', 'mean' or 'sum', got '", r, "'");
  return Reduction::kNone;
}

const int64_t* index_data(const char* op, const char* name, const py::array& a) {
  if (!py::isinstance<py::array_t<int64_t>>(a))
    throw py::type_error(concat("[", op, "] ", name, ": expected int64 class indices, got ",
                                std::string(py::str(a.dtype())), " with shape ",
                                shape_str(shape_of(a))));
  NNC_CHECK(a.flags() & py::array::c_style, op, name, ": expected a C-contiguous array");
  return aligned_data<int64_t>(op, name, a);
}

// scores: [rows, classes] with classes >= 1; target: [rows] (class indices) or the same shape.
ClassLossShape class_shape(const char* op, const py::array& scores, const py::array& target,
                           bool soft) {
  NNC_CHECK(scores.ndim() == 2 && scores.shape(1) >= 1, op,
            "input: expected 2-D (N, C) with C >= 1, got shape ", shape_str(shape_of(scores)));
  const ClassLossShape s{scores.shape(0), scores.shape(1)};
  if (soft)
    NNC_CHECK(shape_of(target) == shape_of(scores), op, "target: expected shape ",
              shape_str(shape_of(scores)), " (probabilities), got ", shape_str(shape_of(target)));
  else
    NNC_CHECK(target.ndim() == 1 && target.shape(0) == s.rows, op, "target: expected shape (",
              s.rows, ",) for input of shape ", shape_str(shape_of(scores)), ", got ",
              shape_str(shape_of(target)));
  return s;
}

template <class T>
const T* class_weight(const char* op, const py::object& weight, int64_t classes) {
  const T* pw = cdata_or_null<T>(op, "weight", weight, 1);
  if (pw)
    NNC_CHECK(weight.cast<py::array>().shape(0) == classes, op, "weight: expected shape (",
              classes, ",), got ", shape_str(shape_of(weight.cast<py::array>())));
  return pw;
}

void check_smoothing(const char* op, double label_smoothing) {
  NNC_CHECK(label_smoothing >= 0.0 && label_smoothing <= 1.0, op,
            "label_smoothing: expected a value in [0, 1], got ", label_smoothing);
}

std::vector<int64_t> loss_shape(Reduction r, std::vector<int64_t> per_item) {
  return r == Reduction::kNone ? per_item : std::vector<int64_t>{};
}

void check_dloss(const char* op, const py::array& dloss, const std::vector<int64_t>& expected) {
  NNC_CHECK(shape_of(dloss) == expected, op, "dloss: expected shape ", shape_str(expected),
            ", got ", shape_str(shape_of(dloss)));
}

template <class T>
py::tuple cross_entropy_forward_py(const py::array& logits, const py::array& target,
                                   const py::object& weight, int64_t ignore_index,
                                   double label_smoothing, const std::string& reduction) {
  const char* op = "cross_entropy";
  const ClassLossShape s = class_shape(op, logits, target, false);
  const ClassTargetOptions o{ignore_index, label_smoothing, parse_reduction(op, reduction)};
  check_smoothing(op, label_smoothing);
  const T* pz = cdata<T>(op, "input", logits);
  const int64_t* pt = index_data(op, "target", target);
  const T* pw = class_weight<T>(op, weight, s.classes);
  auto loss = empty_like_shape<T>(loss_shape(o.reduction, {s.rows}));
  auto lse = empty_like_shape<T>({s.rows});
  T *pl = loss.mutable_data(), *plse = lse.mutable_data();
  {
    py::gil_scoped_release nogil;
    // Per logit: max, subtract, exp, sum (+ a weighted log-probability sum when smoothing).
    const double n = double(s.rows) * s.classes;
    NNC_PROFILE("cross_entropy.forward", n * (label_smoothing > 0 ? 6 : 4),
                sizeof(T) * (n + s.rows + loss.size() + (pw ? s.classes : 0)) + 8.0 * s.rows,
                logits, target);
    cross_entropy_forward<T>(pz, pt, pw, pl, plse, s, o);
  }
  return py::make_tuple(loss, lse);
}

template <class T>
py::array_t<T> cross_entropy_backward_py(const py::array& dloss, const py::array& logits,
                                         const py::array& target, const py::array& lse,
                                         const py::object& weight, int64_t ignore_index,
                                         double label_smoothing, const std::string& reduction) {
  const char* op = "cross_entropy";
  const ClassLossShape s = class_shape(op, logits, target, false);
  const ClassTargetOptions o{ignore_index, label_smoothing, parse_reduction(op, reduction)};
  check_smoothing(op, label_smoothing);
  check_dloss(op, dloss, loss_shape(o.reduction, {s.rows}));
  NNC_CHECK(lse.ndim() == 1 && lse.shape(0) == s.rows, op, "lse: expected shape (", s.rows,
            ",), got ", shape_str(shape_of(lse)));
  const T* pdl = cdata<T>(op, "dloss", dloss);
  const T* pz = cdata<T>(op, "input", logits);
  const int64_t* pt = index_data(op, "target", target);
  const T* plse = cdata<T>(op, "lse", lse);
  const T* pw = class_weight<T>(op, weight, s.classes);
  auto dz = empty_like_shape<T>({s.rows, s.classes});
  T* pdz = dz.mutable_data();
  {
    py::gil_scoped_release nogil;
    // Per logit: p = exp(z - lse), then scale and subtract the (smoothed) target.
    const double n = double(s.rows) * s.classes;
    NNC_PROFILE("cross_entropy.backward", n * (label_smoothing > 0 ? 6 : 4),
                sizeof(T) * (2 * n + s.rows + dloss.size() + (pw ? s.classes : 0)) + 8.0 * s.rows,
                dloss, logits, target);
    cross_entropy_backward<T>(pdl, pz, pt, pw, plse, pdz, s, o);
  }
  return dz;
}

template <class T>
py::tuple soft_cross_entropy_forward_py(const py::array& logits, const py::array& target,
                                        const py::object& weight, double label_smoothing,
                                        const std::string& reduction) {
  const char* op = "soft_cross_entropy";
  const ClassLossShape s = class_shape(op, logits, target, true);
  const Reduction r = parse_reduction(op, reduction);
  check_smoothing(op, label_smoothing);
  const T* pz = cdata<T>(op, "input", logits);
  const T* pt = cdata<T>(op, "target", target);
  const T* pw = class_weight<T>(op, weight, s.classes);
  auto loss = empty_like_shape<T>(loss_shape(r, {s.rows}));
  auto lse = empty_like_shape<T>({s.rows});
  T *pl = loss.mutable_data(), *plse = lse.mutable_data();
  {
    py::gil_scoped_release nogil;
    // Per logit: log-sum-exp (4), smoothed target (2), weighted product accumulated (3).
    const double n = double(s.rows) * s.classes;
    NNC_PROFILE("soft_cross_entropy.forward", 9 * n,
                sizeof(T) * (2 * n + s.rows + loss.size() + (pw ? s.classes : 0)), logits, target);
    soft_cross_entropy_forward<T>(pz, pt, pw, pl, plse, s, label_smoothing, r);
  }
  return py::make_tuple(loss, lse);
}

template <class T>
py::tuple soft_cross_entropy_backward_py(const py::array& dloss, const py::array& logits,
                                         const py::array& target, const py::array& lse,
                                         const py::object& weight, double label_smoothing,
                                         const std::string& reduction, bool need_dinput,
                                         bool need_dtarget) {
  const char* op = "soft_cross_entropy";
  const ClassLossShape s = class_shape(op, logits, target, true);
  const Reduction r = parse_reduction(op, reduction);
  check_smoothing(op, label_smoothing);
  check_dloss(op, dloss, loss_shape(r, {s.rows}));
  NNC_CHECK(lse.ndim() == 1 && lse.shape(0) == s.rows, op, "lse: expected shape (", s.rows,
            ",), got ", shape_str(shape_of(lse)));
  const T* pdl = cdata<T>(op, "dloss", dloss);
  const T* pz = cdata<T>(op, "input", logits);
  const T* pt = cdata<T>(op, "target", target);
  const T* plse = cdata<T>(op, "lse", lse);
  const T* pw = class_weight<T>(op, weight, s.classes);
  T *pdz, *pdt;
  py::object dz = optional_output<T>(need_dinput, {s.rows, s.classes}, &pdz);
  py::object dt = optional_output<T>(need_dtarget, {s.rows, s.classes}, &pdt);
  {
    py::gil_scoped_release nogil;
    // dz per logit: p (2), weighted target sum (2), p * sum - w t' (2), scale (1); dt: 3.
    const double n = double(s.rows) * s.classes;
    NNC_PROFILE("soft_cross_entropy.backward", n * ((pdz ? 7 : 0) + (pdt ? 3 : 0)),
                sizeof(T) * ((2 + (pdz != nullptr) + (pdt != nullptr)) * n + s.rows +
                             dloss.size() + (pw ? s.classes : 0)),
                dloss, logits, target);
    soft_cross_entropy_backward<T>(pdl, pz, pt, pw, plse, pdz, pdt, s, label_smoothing, r);
  }
  return py::make_tuple(dz, dt);
}

template <class T>
py::array_t<T> nll_loss_forward_py(const py::array& input, const py::array& target,
                                   const py::object& weight, int64_t ignore_index,
                                   const std::string& reduction) {
  const char* op = "nll_loss";
  const ClassLossShape s = class_shape(op, input, target, false);
  const Reduction r = parse_reduction(op, reduction);
  const T* px = cdata<T>(op, "input", input);
  const int64_t* pt = index_data(op, "target", target);
  const T* pw = class_weight<T>(op, weight, s.classes);
  auto loss = empty_like_shape<T>(loss_shape(r, {s.rows}));
  T* pl = loss.mutable_data();
  {
    py::gil_scoped_release nogil;
    // One input value per row is read (the target's), weighted and summed.
    NNC_PROFILE("nll_loss.forward", 2.0 * s.rows,
                sizeof(T) * (s.rows * (pw ? 2 : 1) + loss.size()) + 8.0 * s.rows, input, target);
    nll_loss_forward<T>(px, pt, pw, pl, s, ignore_index, r);
  }
  return loss;
}

template <class T>
py::array_t<T> nll_loss_backward_py(const py::array& dloss, const py::array& input,
                                    const py::array& target, const py::object& weight,
                                    int64_t ignore_index, const std::string& reduction) {
  const char* op = "nll_loss";
  const ClassLossShape s = class_shape(op, input, target, false);
  const Reduction r = parse_reduction(op, reduction);
  check_dloss(op, dloss, loss_shape(r, {s.rows}));
  const T* pdl = cdata<T>(op, "dloss", dloss);
  check_array<T>(op, "input", input);
  const int64_t* pt = index_data(op, "target", target);
  const T* pw = class_weight<T>(op, weight, s.classes);
  auto dx = empty_like_shape<T>({s.rows, s.classes});
  T* pdx = dx.mutable_data();
  {
    py::gil_scoped_release nogil;
    // Writes the whole (mostly zero) dinput; one scaled weight per row.
    NNC_PROFILE("nll_loss.backward", 2.0 * s.rows,
                sizeof(T) * (double(s.rows) * s.classes + dloss.size() + (pw ? s.rows : 0)) +
                    8.0 * s.rows,
                dloss, input, target);
    nll_loss_backward<T>(pdl, pt, pw, pdx, s, ignore_index, r);
  }
  return dx;
}

void check_same_shape(const char* op, const py::array& input, const py::array& target) {
  NNC_CHECK(shape_of(input) == shape_of(target), op, "input and target must have one shape, got ",
            shape_str(shape_of(input)), " and ", shape_str(shape_of(target)));
}

// mse_loss and l1_loss share their boundary: same-shape input and target, any rank.
template <class T>
py::array_t<T> pointwise_forward_py(const char* op,
                                    void (*kernel)(const T*, const T*, T*, int64_t, Reduction),
                                    const py::array& input, const py::array& target,
                                    const std::string& reduction, const char* event,
                                    double flops_per_item) {
  check_same_shape(op, input, target);
  const Reduction r = parse_reduction(op, reduction);
  const T* px = cdata<T>(op, "input", input);
  const T* pt = cdata<T>(op, "target", target);
  auto loss = empty_like_shape<T>(loss_shape(r, shape_of(input)));
  T* pl = loss.mutable_data();
  const int64_t n = input.size();
  {
    py::gil_scoped_release nogil;
    NNC_PROFILE(event, flops_per_item * n, sizeof(T) * (2.0 * n + loss.size()), input, target);
    kernel(px, pt, pl, n, r);
  }
  return loss;
}

template <class T>
py::tuple pointwise_backward_py(const char* op,
                                void (*kernel)(const T*, const T*, const T*, T*, T*, int64_t,
                                               Reduction),
                                const py::array& dloss, const py::array& input,
                                const py::array& target, const std::string& reduction,
                                bool need_dinput, bool need_dtarget, const char* event,
                                double flops_per_item) {
  check_same_shape(op, input, target);
  const Reduction r = parse_reduction(op, reduction);
  check_dloss(op, dloss, loss_shape(r, shape_of(input)));
  const T* pdl = cdata<T>(op, "dloss", dloss);
  const T* px = cdata<T>(op, "input", input);
  const T* pt = cdata<T>(op, "target", target);
  T *pdx, *pdt;
  py::object dx = optional_output<T>(need_dinput, shape_of(input), &pdx);
  py::object dt = optional_output<T>(need_dtarget, shape_of(input), &pdt);
  const int64_t n = input.size();
  {
    py::gil_scoped_release nogil;
    NNC_PROFILE(event, flops_per_item * n * ((pdx != nullptr) + (pdt != nullptr)),
                sizeof(T) * ((2.0 + (pdx != nullptr) + (pdt != nullptr)) * n + dloss.size()),
                dloss, input, target);
    kernel(pdl, px, pt, pdx, pdt, n, r);
  }
  return py::make_tuple(dx, dt);
}

// input, target, weight: one shape (weight already broadcast); pos_weight: [last dim].
template <class T>
BceShape bce_shape(const py::array& input, const py::array& target, const py::object& weight,
                   const py::object& pos_weight, const T** pw, const T** ppw) {
  const char* op = "bce_with_logits";
  check_same_shape(op, input, target);
  const int64_t cols = input.ndim() ? input.shape(input.ndim() - 1) : 1;
  const BceShape s{cols ? int64_t(input.size()) / cols : 0, cols};
  *pw = cdata_or_null<T>(op, "weight", weight);
  if (*pw)
    NNC_CHECK(shape_of(weight.cast<py::array>()) == shape_of(input), op,
              "weight: expected shape ", shape_str(shape_of(input)), ", got ",
              shape_str(shape_of(weight.cast<py::array>())));
  *ppw = cdata_or_null<T>(op, "pos_weight", pos_weight, 1);
  if (*ppw)
    NNC_CHECK(pos_weight.cast<py::array>().shape(0) == cols, op, "pos_weight: expected shape (",
              cols, ",) for input of shape ", shape_str(shape_of(input)), ", got ",
              shape_str(shape_of(pos_weight.cast<py::array>())));
  return s;
}

template <class T>
py::array_t<T> bce_with_logits_forward_py(const py::array& input, const py::array& target,
                                          const py::object& weight, const py::object& pos_weight,
                                          const std::string& reduction) {
  const char* op = "bce_with_logits";
  const Reduction r = parse_reduction(op, reduction);
  const T *pw = nullptr, *ppw = nullptr;
  const BceShape s = bce_shape<T>(input, target, weight, pos_weight, &pw, &ppw);
  const T* px = cdata<T>(op, "input", input);
  const T* pt = cdata<T>(op, "target", target);
  auto loss = empty_like_shape<T>(loss_shape(r, shape_of(input)));
  T* pl = loss.mutable_data();
  {
    py::gil_scoped_release nogil;
    // Per element: softplus(-x) (6 with exp and log1p), the two terms (4), sum and weight (3).
    const double n = double(s.rows) * s.cols;
    NNC_PROFILE("bce_with_logits.forward", 13 * n,
                sizeof(T) * ((pw ? 3 : 2) * n + (ppw ? s.cols : 0) + loss.size()), input, target);
    bce_with_logits_forward<T>(px, pt, pw, ppw, pl, s, r);
  }
  return loss;
}

template <class T>
py::tuple bce_with_logits_backward_py(const py::array& dloss, const py::array& input,
                                      const py::array& target, const py::object& weight,
                                      const py::object& pos_weight, const std::string& reduction,
                                      bool need_dinput, bool need_dtarget) {
  const char* op = "bce_with_logits";
  const Reduction r = parse_reduction(op, reduction);
  const T *pw = nullptr, *ppw = nullptr;
  const BceShape s = bce_shape<T>(input, target, weight, pos_weight, &pw, &ppw);
  check_dloss(op, dloss, loss_shape(r, shape_of(input)));
  const T* pdl = cdata<T>(op, "dloss", dloss);
  const T* px = cdata<T>(op, "input", input);
  const T* pt = cdata<T>(op, "target", target);
  T *pdx, *pdt;
  py::object dx = optional_output<T>(need_dinput, shape_of(input), &pdx);
  py::object dt = optional_output<T>(need_dtarget, shape_of(input), &pdt);
  {
    py::gil_scoped_release nogil;
    // dx: sigmoid(-x) (3), terms (6), scale * weight (2); dt: softplus(-x) (6), terms (4).
    const double n = double(s.rows) * s.cols;
    NNC_PROFILE("bce_with_logits.backward", n * ((pdx ? 11 : 0) + (pdt ? 10 : 0)),
                sizeof(T) * ((pw ? 3 : 2) * n + (pdx ? n : 0) + (pdt ? n : 0) +
                             (ppw ? s.cols : 0) + dloss.size()),
                dloss, input, target);
    bce_with_logits_backward<T>(pdl, px, pt, pw, ppw, pdx, pdt, s, r);
  }
  return py::make_tuple(dx, dt);
}

// mse_loss: (x - t)^2 accumulated, 3 FLOPs per element; backward 2 * scale * (x - t), 3 per
// element and output. l1_loss: |x - t| and scale * sign(x - t), 3 each.
template <class T>
py::array_t<T> mse_loss_forward_py(const py::array& input, const py::array& target,
                                   const std::string& reduction) {
  return pointwise_forward_py<T>("mse_loss", &mse_loss_forward<T>, input, target, reduction,
                                 "mse_loss.forward", 3);
}

template <class T>
py::tuple mse_loss_backward_py(const py::array& dloss, const py::array& input,
                               const py::array& target, const std::string& reduction,
                               bool need_dinput, bool need_dtarget) {
  return pointwise_backward_py<T>("mse_loss", &mse_loss_backward<T>, dloss, input, target,
                                  reduction, need_dinput, need_dtarget, "mse_loss.backward", 3);
}

template <class T>
py::array_t<T> l1_loss_forward_py(const py::array& input, const py::array& target,
                                  const std::string& reduction) {
  return pointwise_forward_py<T>("l1_loss", &l1_loss_forward<T>, input, target, reduction,
                                 "l1_loss.forward", 3);
}

template <class T>
py::tuple l1_loss_backward_py(const py::array& dloss, const py::array& input,
                              const py::array& target, const std::string& reduction,
                              bool need_dinput, bool need_dtarget) {
  return pointwise_backward_py<T>("l1_loss", &l1_loss_backward<T>, dloss, input, target,
                                  reduction, need_dinput, need_dtarget, "l1_loss.backward", 3);
}

}  // namespace

void bind_loss(py::module_& m) {
  def_float(m, "cross_entropy_forward", {"cross_entropy", "input", 0},
            NNC_BOTH(cross_entropy_forward_py), py::arg("input"), py::arg("target"),
            py::arg("weight") = py::none(), py::arg("ignore_index") = -100,
            py::arg("label_smoothing") = 0.0, py::arg("reduction") = "mean",
            "(loss, lse): softmax cross-entropy of logits (N, C) against int64 class indices "
            "(N,).");
  def_float(m, "cross_entropy_backward", {"cross_entropy", "input", 1},
            NNC_BOTH(cross_entropy_backward_py), py::arg("dloss"), py::arg("input"),
            py::arg("target"), py::arg("lse"), py::arg("weight") = py::none(),
            py::arg("ignore_index") = -100, py::arg("label_smoothing") = 0.0,
            py::arg("reduction") = "mean",
            "dinput = (softmax - smoothed one-hot) * scale, from the forward's lse.");
  def_float(m, "soft_cross_entropy_forward", {"soft_cross_entropy", "input", 0},
            NNC_BOTH(soft_cross_entropy_forward_py), py::arg("input"), py::arg("target"),
            py::arg("weight") = py::none(), py::arg("label_smoothing") = 0.0,
            py::arg("reduction") = "mean",
            "(loss, lse): softmax cross-entropy of logits (N, C) against probabilities (N, C).");
  def_float(m, "soft_cross_entropy_backward", {"soft_cross_entropy", "input", 1},
            NNC_BOTH(soft_cross_entropy_backward_py), py::arg("dloss"), py::arg("input"),
            py::arg("target"), py::arg("lse"), py::arg("weight") = py::none(),
            py::arg("label_smoothing") = 0.0, py::arg("reduction") = "mean",
            py::arg("need_dinput") = true, py::arg("need_dtarget") = true,
            "(dinput, dtarget); None where not needed.");
  def_float(m, "nll_loss_forward", {"nll_loss", "input", 0}, NNC_BOTH(nll_loss_forward_py),
            py::arg("input"), py::arg("target"), py::arg("weight") = py::none(),
            py::arg("ignore_index") = -100, py::arg("reduction") = "mean",
            "Negative log-likelihood of log-probabilities (N, C) at int64 class indices (N,).");
  def_float(m, "nll_loss_backward", {"nll_loss", "input", 1}, NNC_BOTH(nll_loss_backward_py),
            py::arg("dloss"), py::arg("input"), py::arg("target"),
            py::arg("weight") = py::none(), py::arg("ignore_index") = -100,
            py::arg("reduction") = "mean",
            "dinput: -weight[target] * scale at each row's target, 0 elsewhere.");
  def_float(m, "mse_loss_forward", {"mse_loss", "input", 0}, NNC_BOTH(mse_loss_forward_py),
            py::arg("input"), py::arg("target"), py::arg("reduction") = "mean",
            "(input - target)^2, reduced.");
  def_float(m, "mse_loss_backward", {"mse_loss", "input", 1}, NNC_BOTH(mse_loss_backward_py),
            py::arg("dloss"), py::arg("input"), py::arg("target"), py::arg("reduction") = "mean",
            py::arg("need_dinput") = true, py::arg("need_dtarget") = true,
            "(dinput, dtarget); None where not needed.");
  def_float(m, "l1_loss_forward", {"l1_loss", "input", 0}, NNC_BOTH(l1_loss_forward_py),
            py::arg("input"), py::arg("target"), py::arg("reduction") = "mean",
            "|input - target|, reduced.");
  def_float(m, "l1_loss_backward", {"l1_loss", "input", 1}, NNC_BOTH(l1_loss_backward_py),
            py::arg("dloss"), py::arg("input"), py::arg("target"), py::arg("reduction") = "mean",
            py::arg("need_dinput") = true, py::arg("need_dtarget") = true,
            "(dinput, dtarget); None where not needed.");
  def_float(m, "bce_with_logits_forward", {"bce_with_logits", "input", 0},
            NNC_BOTH(bce_with_logits_forward_py), py::arg("input"), py::arg("target"),
            py::arg("weight") = py::none(), py::arg("pos_weight") = py::none(),
            py::arg("reduction") = "mean",
            "Binary cross-entropy of logits; weight has the input's shape, pos_weight its last "
            "dim.");
  def_float(m, "bce_with_logits_backward", {"bce_with_logits", "input", 1},
            NNC_BOTH(bce_with_logits_backward_py), py::arg("dloss"), py::arg("input"),
            py::arg("target"), py::arg("weight") = py::none(),
            py::arg("pos_weight") = py::none(), py::arg("reduction") = "mean",
            py::arg("need_dinput") = true, py::arg("need_dtarget") = true,
            "(dinput, dtarget); None where not needed.");
}

}  // namespace nnc
