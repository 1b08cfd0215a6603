#include "kernels/optim.h"

#include <pybind11/stl.h>

#include "bindings/common.h"

namespace nnc {

namespace {

// Raw pointers of a list of buffers, gathered while holding the GIL.
template <class T>
struct Buffers {
  std::vector<T*> ptr;
  std::vector<int64_t> numel;
};

py::array item_array(const char* op, const std::string& name, const py::handle& item) {
  if (!py::isinstance<py::array>(item))
    throw py::type_error(concat("[", op, "] ", name, ": expected a NumPy array, got ",
                                std::string(py::str(py::type::handle_of(item).attr("__name__")))));
  return py::reinterpret_borrow<py::array>(item);
}

// Checks list `name`: one C-contiguous T array per parameter, shaped like params[i] and writeable
// when the step updates it. Runs before the GIL is released, so a bad entry never half-updates.
template <class T>
Buffers<T> gather(const char* op, const char* name, const py::list& arrays, const py::list& params,
                  bool writeable) {
  const size_t count = params.size();
  NNC_CHECK(arrays.size() == count, op, name, ": expected ", count, " arrays (one per param), got ",
            arrays.size());
  Buffers<T> out;
  out.ptr.reserve(count);
  out.numel.reserve(count);
  for (size_t i = 0; i < count; ++i) {
    const std::string item = concat(name, "[", i, "]");
    py::array a = item_array(op, item, arrays[i]);
    check_array<T>(op, item.c_str(), a);
    if (arrays.ptr() != params.ptr()) {
      py::array p = py::reinterpret_borrow<py::array>(params[i]);
      NNC_CHECK(shape_of(a) == shape_of(p), op, item, ": expected shape ", shape_str(shape_of(p)),
                " like params[", i, "], got ", shape_str(shape_of(a)));
    }
    if (writeable) NNC_CHECK(a.writeable(), op, item, ": array is read-only");
    out.ptr.push_back(static_cast<T*>(a.mutable_data()));
    out.numel.push_back(static_cast<int64_t>(a.size()));
  }
  return out;
}

// An optional state list: empty when the option is off, else one buffer per parameter.
template <class T>
Buffers<T> gather_optional(const char* op, const char* name, const py::list& arrays,
                           const py::list& params, bool needed, const char* option) {
  if (!needed) {
    NNC_CHECK(arrays.size() == 0, op, name, ": expected an empty list when ", option,
              " is off, got ", arrays.size(), " arrays");
    return {std::vector<T*>(params.size(), nullptr), {}};
  }
  return gather<T>(op, name, arrays, params, true);
}

template <class F>
auto dispatch_params(const char* op, const py::list& params, F&& f) {
  if (params.size() == 0) return f(float{});  // nothing to update
  py::array first = item_array(op, "params[0]", params[0]);
  return dispatch_float(op, "params[0]", first, f);
}

void check_steps(const char* op, const std::vector<double>& steps, size_t count) {
  NNC_CHECK(steps.size() == count, op, "steps: expected ", count, " step counts (one per param), got ",
            steps.size());
  for (size_t i = 0; i < steps.size(); ++i)
    NNC_CHECK(steps[i] >= 1, op, "steps[", i, "]: expected a step count >= 1 (counted before the ",
              "update), got ", steps[i]);
}

// The profiler's view of a step: every parameter's elements as one shape (elements,).
template <class T>
int64_t total_numel(const Buffers<T>& b) {
  int64_t n = 0;
  for (int64_t k : b.numel) n += k;
  return n;
}

void check_non_negative(const char* op, const char* name, double value) {
  NNC_CHECK(value >= 0, op, "invalid ", name, ": ", value, " (expected >= 0)");
}

template <class T>
void sgd_step_py(const py::list& params, const py::list& grads, const py::list& bufs,
                 const std::vector<bool>& fresh, const SgdOptions& o) {
  const char* op = "sgd_step";
  auto p = gather<T>(op, "params", params, params, true);
  auto g = gather<T>(op, "grads", grads, params, false);
  auto b = gather_optional<T>(op, "momentum_buffers", bufs, params, o.momentum != 0, "momentum");
  if (o.momentum != 0)
    NNC_CHECK(fresh.size() == params.size(), op, "fresh_buffers: expected ", params.size(),
              " flags (one per param), got ", fresh.size());
  {
    py::gil_scoped_release nogil;
    // Per element: weight decay (2), momentum (3), Nesterov (2), update (2); reads p and g, writes
    // p, and reads and writes the momentum buffer.
    const int64_t n = total_numel(p);
    const bool mom = o.momentum != 0;
    NNC_PROFILE("sgd.step",
                double(n) * ((o.weight_decay != 0 ? 2 : 0) + (mom ? 3 : 0) + (o.nesterov ? 2 : 0) + 2),
                sizeof(T) * double(n) * (3 + (mom ? 2 : 0)), std::vector<int64_t>{n});
    for (size_t i = 0; i < p.ptr.size(); ++i)
      sgd_step<T>(p.ptr[i], g.ptr[i], b.ptr[i], o.momentum != 0 && fresh[i], p.numel[i], o);
  }
}

template <class T>
void adam_step_py(const py::list& params, const py::list& grads, const py::list& exp_avgs,
                  const py::list& exp_avg_sqs, const py::list& max_exp_avg_sqs,
                  const std::vector<double>& steps, const AdamOptions& o) {
  const char* op = "adam_step";
  auto p = gather<T>(op, "params", params, params, true);
  auto g = gather<T>(op, "grads", grads, params, false);
  auto m = gather<T>(op, "exp_avgs", exp_avgs, params, true);
  auto v = gather<T>(op, "exp_avg_sqs", exp_avg_sqs, params, true);
  auto vmax = gather_optional<T>(op, "max_exp_avg_sqs", max_exp_avg_sqs, params, o.amsgrad,
                                 "amsgrad");
  check_steps(op, steps, params.size());
  {
    py::gil_scoped_release nogil;
    // Per element: decay (2), m (2), v (4), denominator (3), update (3), amsgrad max (1); reads p,
    // g, m, v (and vmax), writes p, m, v (and vmax).
    const int64_t n = total_numel(p);
    NNC_PROFILE("adam.step",
                double(n) * (12 + (o.weight_decay != 0 ? 2 : 0) + (o.amsgrad ? 1 : 0)),
                sizeof(T) * double(n) * (7 + (o.amsgrad ? 2 : 0)), std::vector<int64_t>{n});
    for (size_t i = 0; i < p.ptr.size(); ++i)
      adam_step<T>(p.ptr[i], g.ptr[i], m.ptr[i], v.ptr[i], vmax.ptr[i], steps[i], p.numel[i], o);
  }
}

template <class T>
void rmsprop_step_py(const py::list& params, const py::list& grads, const py::list& square_avgs,
                     const py::list& bufs, const py::list& grad_avgs, const RmspropOptions& o) {
  const char* op = "rmsprop_step";
  auto p = gather<T>(op, "params", params, params, true);
  auto g = gather<T>(op, "grads", grads, params, false);
  auto s = gather<T>(op, "square_avgs", square_avgs, params, true);
  auto b = gather_optional<T>(op, "momentum_buffers", bufs, params, o.momentum > 0, "momentum");
  auto ga = gather_optional<T>(op, "grad_avgs", grad_avgs, params, o.centered, "centered");
  {
    py::gil_scoped_release nogil;
    // Per element: decay (2), square average (4), centered average (4), root (2), update (3, or
    // 5 through the momentum buffer); reads and writes p, s (buf, ga), reads g.
    const int64_t n = total_numel(p);
    NNC_PROFILE("rmsprop.step",
                double(n) * (9 + (o.weight_decay != 0 ? 2 : 0) + (o.centered ? 4 : 0) +
                             (o.momentum > 0 ? 2 : 0)),
                sizeof(T) * double(n) * (5 + (o.centered ? 2 : 0) + (o.momentum > 0 ? 2 : 0)),
                std::vector<int64_t>{n});
    for (size_t i = 0; i < p.ptr.size(); ++i)
      rmsprop_step<T>(p.ptr[i], g.ptr[i], s.ptr[i], b.ptr[i], ga.ptr[i], p.numel[i], o);
  }
}

template <class T>
void adagrad_step_py(const py::list& params, const py::list& grads, const py::list& state_sums,
                     const std::vector<double>& steps, const AdagradOptions& o) {
  const char* op = "adagrad_step";
  auto p = gather<T>(op, "params", params, params, true);
  auto g = gather<T>(op, "grads", grads, params, false);
  auto s = gather<T>(op, "state_sums", state_sums, params, true);
  check_steps(op, steps, params.size());
  {
    py::gil_scoped_release nogil;
    // Per element: decay (2), sum += g^2 (2), update (5); reads p, g, sum, writes p, sum.
    const int64_t n = total_numel(p);
    NNC_PROFILE("adagrad.step", double(n) * (7 + (o.weight_decay != 0 ? 2 : 0)),
                sizeof(T) * 5.0 * double(n), std::vector<int64_t>{n});
    for (size_t i = 0; i < p.ptr.size(); ++i)
      adagrad_step<T>(p.ptr[i], g.ptr[i], s.ptr[i], steps[i], p.numel[i], o);
  }
}

template <class T>
void adadelta_step_py(const py::list& params, const py::list& grads, const py::list& square_avgs,
                      const py::list& acc_deltas, const AdadeltaOptions& o) {
  const char* op = "adadelta_step";
  auto p = gather<T>(op, "params", params, params, true);
  auto g = gather<T>(op, "grads", grads, params, false);
  auto s = gather<T>(op, "square_avgs", square_avgs, params, true);
  auto acc = gather<T>(op, "acc_deltas", acc_deltas, params, true);
  {
    py::gil_scoped_release nogil;
    // Per element: decay (2), two averages (4 each), delta (5), update (2); reads p, g, s, acc,
    // writes p, s, acc.
    const int64_t n = total_numel(p);
    NNC_PROFILE("adadelta.step", double(n) * (15 + (o.weight_decay != 0 ? 2 : 0)),
                sizeof(T) * 7.0 * double(n), std::vector<int64_t>{n});
    for (size_t i = 0; i < p.ptr.size(); ++i)
      adadelta_step<T>(p.ptr[i], g.ptr[i], s.ptr[i], acc.ptr[i], p.numel[i], o);
  }
}

template <class T>
void adamax_step_py(const py::list& params, const py::list& grads, const py::list& exp_avgs,
                    const py::list& exp_infs, const std::vector<double>& steps,
                    const AdamaxOptions& o) {
  const char* op = "adamax_step";
  auto p = gather<T>(op, "params", params, params, true);
  auto g = gather<T>(op, "grads", grads, params, false);
  auto m = gather<T>(op, "exp_avgs", exp_avgs, params, true);
  auto u = gather<T>(op, "exp_infs", exp_infs, params, true);
  check_steps(op, steps, params.size());
  {
    py::gil_scoped_release nogil;
    // Per element: decay (2), m (3), u (4), update (3); reads p, g, m, u, writes p, m, u.
    const int64_t n = total_numel(p);
    NNC_PROFILE("adamax.step", double(n) * (10 + (o.weight_decay != 0 ? 2 : 0)),
                sizeof(T) * 7.0 * double(n), std::vector<int64_t>{n});
    for (size_t i = 0; i < p.ptr.size(); ++i)
      adamax_step<T>(p.ptr[i], g.ptr[i], m.ptr[i], u.ptr[i], steps[i], p.numel[i], o);
  }
}

template <class T>
void nadam_step_py(const py::list& params, const py::list& grads, const py::list& exp_avgs,
                   const py::list& exp_avg_sqs, const std::vector<double>& mu_products,
                   const std::vector<double>& steps, const NadamOptions& o) {
  const char* op = "nadam_step";
  auto p = gather<T>(op, "params", params, params, true);
  auto g = gather<T>(op, "grads", grads, params, false);
  auto m = gather<T>(op, "exp_avgs", exp_avgs, params, true);
  auto v = gather<T>(op, "exp_avg_sqs", exp_avg_sqs, params, true);
  check_steps(op, steps, params.size());
  NNC_CHECK(mu_products.size() == params.size(), op, "mu_products: expected ", params.size(),
            " values (one per param), got ", mu_products.size());
  {
    py::gil_scoped_release nogil;
    // Per element: decay (2), m (3), v (4), denominator (3), two updates (3 each); reads p, g,
    // m, v, writes p, m, v.
    const int64_t n = total_numel(p);
    NNC_PROFILE("nadam.step", double(n) * (16 + (o.weight_decay != 0 ? 2 : 0)),
                sizeof(T) * 7.0 * double(n), std::vector<int64_t>{n});
    for (size_t i = 0; i < p.ptr.size(); ++i)
      nadam_step<T>(p.ptr[i], g.ptr[i], m.ptr[i], v.ptr[i], steps[i], mu_products[i],
                    p.numel[i], o);
  }
}

template <class T>
void radam_step_py(const py::list& params, const py::list& grads, const py::list& exp_avgs,
                   const py::list& exp_avg_sqs, const std::vector<double>& steps,
                   const RadamOptions& o) {
  const char* op = "radam_step";
  auto p = gather<T>(op, "params", params, params, true);
  auto g = gather<T>(op, "grads", grads, params, false);
  auto m = gather<T>(op, "exp_avgs", exp_avgs, params, true);
  auto v = gather<T>(op, "exp_avg_sqs", exp_avg_sqs, params, true);
  check_steps(op, steps, params.size());
  {
    py::gil_scoped_release nogil;
    // Per element: decay (2), m (3), v (4), rectified update (8); reads p, g, m, v, writes p,
    // m, v.
    const int64_t n = total_numel(p);
    NNC_PROFILE("radam.step", double(n) * (15 + (o.weight_decay != 0 ? 2 : 0)),
                sizeof(T) * 7.0 * double(n), std::vector<int64_t>{n});
    for (size_t i = 0; i < p.ptr.size(); ++i)
      radam_step<T>(p.ptr[i], g.ptr[i], m.ptr[i], v.ptr[i], steps[i], p.numel[i], o);
  }
}

template <class T>
void asgd_step_py(const py::list& params, const py::list& grads, const py::list& axs,
                  const std::vector<double>& etas, const std::vector<double>& mus,
                  const AsgdOptions& o) {
  const char* op = "asgd_step";
  auto p = gather<T>(op, "params", params, params, true);
  auto g = gather<T>(op, "grads", grads, params, false);
  auto ax = gather<T>(op, "axs", axs, params, true);
  NNC_CHECK(etas.size() == params.size() && mus.size() == params.size(), op,
            "etas, mus: expected ", params.size(), " values each (one per param), got ",
            etas.size(), " and ", mus.size());
  {
    py::gil_scoped_release nogil;
    // Per element: decay (2), update (3), average (3); reads p, g, ax, writes p, ax.
    const int64_t n = total_numel(p);
    NNC_PROFILE("asgd.step", double(n) * (6 + (o.weight_decay != 0 ? 2 : 0)),
                sizeof(T) * 5.0 * double(n), std::vector<int64_t>{n});
    for (size_t i = 0; i < p.ptr.size(); ++i)
      asgd_step<T>(p.ptr[i], g.ptr[i], ax.ptr[i], etas[i], mus[i], p.numel[i], o);
  }
}

template <class T>
void rprop_step_py(const py::list& params, const py::list& grads, const py::list& prevs,
                   const py::list& step_sizes, const RpropOptions& o) {
  const char* op = "rprop_step";
  auto p = gather<T>(op, "params", params, params, true);
  auto g = gather<T>(op, "grads", grads, params, false);
  auto prev = gather<T>(op, "prevs", prevs, params, true);
  auto ss = gather<T>(op, "step_sizes", step_sizes, params, true);
  {
    py::gil_scoped_release nogil;
    // Per element: sign change (1), step size (3), update (2); reads p, g, prev, step, writes
    // p, prev, step.
    const int64_t n = total_numel(p);
    NNC_PROFILE("rprop.step", double(n) * 6, sizeof(T) * 7.0 * double(n),
                std::vector<int64_t>{n});
    for (size_t i = 0; i < p.ptr.size(); ++i)
      rprop_step<T>(p.ptr[i], g.ptr[i], prev.ptr[i], ss.ptr[i], p.numel[i], o);
  }
}

void check_betas(const char* op, double beta1, double beta2) {
  NNC_CHECK(beta1 >= 0 && beta1 < 1, op, "invalid beta1: ", beta1, " (expected in [0, 1))");
  NNC_CHECK(beta2 >= 0 && beta2 < 1, op, "invalid beta2: ", beta2, " (expected in [0, 1))");
}

}  // namespace

void bind_optim(py::module_& m) {
  m.def(
      "sgd_step",
      [](const py::list& params, const py::list& grads, const py::list& momentum_buffers,
         const std::vector<bool>& fresh_buffers, double lr, double momentum, double dampening,
         double weight_decay, bool nesterov, bool maximize) {
        const char* op = "sgd_step";
        check_non_negative(op, "lr", lr);
        check_non_negative(op, "momentum", momentum);
        check_non_negative(op, "weight_decay", weight_decay);
        NNC_CHECK(!nesterov || (momentum > 0 && dampening == 0), op,
                  "Nesterov momentum requires a momentum and zero dampening, got momentum=",
                  momentum, ", dampening=", dampening);
        const SgdOptions o{lr, momentum, dampening, weight_decay, nesterov, maximize};
        dispatch_params(op, params, [&](auto t) {
          sgd_step_py<decltype(t)>(params, grads, momentum_buffers, fresh_buffers, o);
        });
      },
      py::arg("params"), py::arg("grads"), py::arg("momentum_buffers"), py::arg("fresh_buffers"),
      py::arg("lr"), py::arg("momentum"), py::arg("dampening"), py::arg("weight_decay"),
      py::arg("nesterov"), py::arg("maximize"),
      "SGD step over every param in place (torch.optim.SGD). momentum_buffers: [] when momentum "
      "is 0; fresh_buffers[i]: buffer i is set to the gradient instead of decayed.");
  m.def(
      "adam_step",
      [](const py::list& params, const py::list& grads, const py::list& exp_avgs,
         const py::list& exp_avg_sqs, const py::list& max_exp_avg_sqs,
         const std::vector<double>& steps, double lr, double beta1, double beta2, double eps,
         double weight_decay, bool amsgrad, bool maximize, bool decoupled_weight_decay) {
        const char* op = "adam_step";
        check_non_negative(op, "lr", lr);
        check_non_negative(op, "eps", eps);
        check_non_negative(op, "weight_decay", weight_decay);
        NNC_CHECK(beta1 >= 0 && beta1 < 1, op, "invalid beta1: ", beta1, " (expected in [0, 1))");
        NNC_CHECK(beta2 >= 0 && beta2 < 1, op, "invalid beta2: ", beta2, " (expected in [0, 1))");
        const AdamOptions o{lr, beta1, beta2, eps, weight_decay, amsgrad, maximize,
                            decoupled_weight_decay};
        dispatch_params(op, params, [&](auto t) {
          adam_step_py<decltype(t)>(params, grads, exp_avgs, exp_avg_sqs, max_exp_avg_sqs, steps,
                                    o);
        });
      },
      py::arg("params"), py::arg("grads"), py::arg("exp_avgs"), py::arg("exp_avg_sqs"),
      py::arg("max_exp_avg_sqs"), py::arg("steps"), py::arg("lr"), py::arg("beta1"),
      py::arg("beta2"), py::arg("eps"), py::arg("weight_decay"), py::arg("amsgrad"),
      py::arg("maximize"), py::arg("decoupled_weight_decay"),
      "Adam/AdamW step over every param in place (torch.optim.Adam). max_exp_avg_sqs: [] unless "
      "amsgrad; steps[i]: step count of param i including this step.");
  m.def(
      "rmsprop_step",
      [](const py::list& params, const py::list& grads, const py::list& square_avgs,
         const py::list& momentum_buffers, const py::list& grad_avgs, double lr, double alpha,
         double eps, double weight_decay, double momentum, bool centered, bool maximize) {
        const char* op = "rmsprop_step";
        check_non_negative(op, "lr", lr);
        check_non_negative(op, "alpha", alpha);
        check_non_negative(op, "eps", eps);
        check_non_negative(op, "weight_decay", weight_decay);
        check_non_negative(op, "momentum", momentum);
        const RmspropOptions o{lr, alpha, eps, weight_decay, momentum, centered, maximize};
        dispatch_params(op, params, [&](auto t) {
          rmsprop_step_py<decltype(t)>(params, grads, square_avgs, momentum_buffers, grad_avgs, o);
        });
      },
      py::arg("params"), py::arg("grads"), py::arg("square_avgs"), py::arg("momentum_buffers"),
      py::arg("grad_avgs"), py::arg("lr"), py::arg("alpha"), py::arg("eps"),
      py::arg("weight_decay"), py::arg("momentum"), py::arg("centered"), py::arg("maximize"),
      "RMSprop step over every param in place (torch.optim.RMSprop). momentum_buffers: [] unless "
      "momentum > 0; grad_avgs: [] unless centered.");
  m.def(
      "adagrad_step",
      [](const py::list& params, const py::list& grads, const py::list& state_sums,
         const std::vector<double>& steps, double lr, double lr_decay, double weight_decay,
         double eps, bool maximize) {
        const char* op = "adagrad_step";
        check_non_negative(op, "lr", lr);
        check_non_negative(op, "lr_decay", lr_decay);
        check_non_negative(op, "eps", eps);
        check_non_negative(op, "weight_decay", weight_decay);
        const AdagradOptions o{lr, lr_decay, weight_decay, eps, maximize};
        dispatch_params(op, params, [&](auto t) {
          adagrad_step_py<decltype(t)>(params, grads, state_sums, steps, o);
        });
      },
      py::arg("params"), py::arg("grads"), py::arg("state_sums"), py::arg("steps"), py::arg("lr"),
      py::arg("lr_decay"), py::arg("weight_decay"), py::arg("eps"), py::arg("maximize"),
      "Adagrad step over every param in place (torch.optim.Adagrad); state_sums start at "
      "initial_accumulator_value; steps[i]: step count of param i including this step.");
  m.def(
      "adadelta_step",
      [](const py::list& params, const py::list& grads, const py::list& square_avgs,
         const py::list& acc_deltas, double lr, double rho, double eps, double weight_decay,
         bool maximize) {
        const char* op = "adadelta_step";
        check_non_negative(op, "lr", lr);
        NNC_CHECK(rho >= 0 && rho <= 1, op, "invalid rho: ", rho, " (expected in [0, 1])");
        check_non_negative(op, "eps", eps);
        check_non_negative(op, "weight_decay", weight_decay);
        const AdadeltaOptions o{lr, rho, eps, weight_decay, maximize};
        dispatch_params(op, params, [&](auto t) {
          adadelta_step_py<decltype(t)>(params, grads, square_avgs, acc_deltas, o);
        });
      },
      py::arg("params"), py::arg("grads"), py::arg("square_avgs"), py::arg("acc_deltas"),
      py::arg("lr"), py::arg("rho"), py::arg("eps"), py::arg("weight_decay"), py::arg("maximize"),
      "Adadelta step over every param in place (torch.optim.Adadelta).");
  m.def(
      "adamax_step",
      [](const py::list& params, const py::list& grads, const py::list& exp_avgs,
         const py::list& exp_infs, const std::vector<double>& steps, double lr, double beta1,
         double beta2, double eps, double weight_decay, bool maximize) {
        const char* op = "adamax_step";
        check_non_negative(op, "lr", lr);
        check_non_negative(op, "eps", eps);
        check_non_negative(op, "weight_decay", weight_decay);
        check_betas(op, beta1, beta2);
        const AdamaxOptions o{lr, beta1, beta2, eps, weight_decay, maximize};
        dispatch_params(op, params, [&](auto t) {
          adamax_step_py<decltype(t)>(params, grads, exp_avgs, exp_infs, steps, o);
        });
      },
      py::arg("params"), py::arg("grads"), py::arg("exp_avgs"), py::arg("exp_infs"),
      py::arg("steps"), py::arg("lr"), py::arg("beta1"), py::arg("beta2"), py::arg("eps"),
      py::arg("weight_decay"), py::arg("maximize"),
      "Adamax step over every param in place (torch.optim.Adamax); steps[i]: step count of "
      "param i including this step.");
  m.def(
      "nadam_step",
      [](const py::list& params, const py::list& grads, const py::list& exp_avgs,
         const py::list& exp_avg_sqs, const std::vector<double>& mu_products,
         const std::vector<double>& steps, double lr, double beta1, double beta2, double eps,
         double weight_decay, double momentum_decay, bool decoupled_weight_decay,
         bool maximize) {
        const char* op = "nadam_step";
        check_non_negative(op, "lr", lr);
        check_non_negative(op, "eps", eps);
        check_non_negative(op, "weight_decay", weight_decay);
        check_non_negative(op, "momentum_decay", momentum_decay);
        check_betas(op, beta1, beta2);
        const NadamOptions o{lr, beta1, beta2, eps, weight_decay, momentum_decay,
                             decoupled_weight_decay, maximize};
        dispatch_params(op, params, [&](auto t) {
          nadam_step_py<decltype(t)>(params, grads, exp_avgs, exp_avg_sqs, mu_products, steps, o);
        });
      },
      py::arg("params"), py::arg("grads"), py::arg("exp_avgs"), py::arg("exp_avg_sqs"),
      py::arg("mu_products"), py::arg("steps"), py::arg("lr"), py::arg("beta1"), py::arg("beta2"),
      py::arg("eps"), py::arg("weight_decay"), py::arg("momentum_decay"),
      py::arg("decoupled_weight_decay"), py::arg("maximize"),
      "NAdam step over every param in place (torch.optim.NAdam); mu_products[i]: product of the "
      "momentum coefficients of param i including this step's; steps[i]: its step count.");
  m.def(
      "radam_step",
      [](const py::list& params, const py::list& grads, const py::list& exp_avgs,
         const py::list& exp_avg_sqs, const std::vector<double>& steps, double lr, double beta1,
         double beta2, double eps, double weight_decay, bool decoupled_weight_decay,
         bool maximize) {
        const char* op = "radam_step";
        check_non_negative(op, "lr", lr);
        check_non_negative(op, "eps", eps);
        check_non_negative(op, "weight_decay", weight_decay);
        check_betas(op, beta1, beta2);
        const RadamOptions o{lr, beta1, beta2, eps, weight_decay, decoupled_weight_decay,
                             maximize};
        dispatch_params(op, params, [&](auto t) {
          radam_step_py<decltype(t)>(params, grads, exp_avgs, exp_avg_sqs, steps, o);
        });
      },
      py::arg("params"), py::arg("grads"), py::arg("exp_avgs"), py::arg("exp_avg_sqs"),
      py::arg("steps"), py::arg("lr"), py::arg("beta1"), py::arg("beta2"), py::arg("eps"),
      py::arg("weight_decay"), py::arg("decoupled_weight_decay"), py::arg("maximize"),
      "RAdam step over every param in place (torch.optim.RAdam); steps[i]: step count of param "
      "i including this step.");
  m.def(
      "asgd_step",
      [](const py::list& params, const py::list& grads, const py::list& axs,
         const std::vector<double>& etas, const std::vector<double>& mus, double lambd,
         double weight_decay, bool maximize) {
        const char* op = "asgd_step";
        check_non_negative(op, "weight_decay", weight_decay);
        const AsgdOptions o{lambd, weight_decay, maximize};
        dispatch_params(op, params, [&](auto t) {
          asgd_step_py<decltype(t)>(params, grads, axs, etas, mus, o);
        });
      },
      py::arg("params"), py::arg("grads"), py::arg("axs"), py::arg("etas"), py::arg("mus"),
      py::arg("lambd"), py::arg("weight_decay"), py::arg("maximize"),
      "ASGD step over every param in place (torch.optim.ASGD); etas[i], mus[i]: param i's "
      "current step size and averaging weight (the caller updates them afterwards).");
  m.def(
      "rprop_step",
      [](const py::list& params, const py::list& grads, const py::list& prevs,
         const py::list& step_sizes, double etaminus, double etaplus, double step_size_min,
         double step_size_max, bool maximize) {
        const char* op = "rprop_step";
        NNC_CHECK(0 < etaminus && etaminus < 1 && 1 < etaplus, op, "invalid eta values: ",
                  etaminus, ", ", etaplus, " (expected 0 < etaminus < 1 < etaplus)");
        const RpropOptions o{etaminus, etaplus, step_size_min, step_size_max, maximize};
        dispatch_params(op, params, [&](auto t) {
          rprop_step_py<decltype(t)>(params, grads, prevs, step_sizes, o);
        });
      },
      py::arg("params"), py::arg("grads"), py::arg("prevs"), py::arg("step_sizes"),
      py::arg("etaminus"), py::arg("etaplus"), py::arg("step_size_min"), py::arg("step_size_max"),
      py::arg("maximize"),
      "Rprop step over every param in place (torch.optim.Rprop); step_sizes start at lr.");
}

}  // namespace nnc
