// Declarative bindings: the argument checks, output allocation, GIL release and profiler scope of
// an elementwise or row-wise kernel pair are written once here, so binding such a pair is one
// call (see CONTRIBUTING.md, "Adding an op"):
//
//   def_elementwise(m, {NNC_OP_NAMES(relu), "x", 1, 1, "y = max(x, 0).", "dx = dy * (x > 0)."},
//                   NNC_KERNEL(relu_forward), NNC_KERNEL(relu_backward));
//
// and any other kernel whose dtype follows one float argument is one def_float call:
//
//   def_float(m, "nll_loss_forward", {"nll_loss", "input", 0}, NNC_BOTH(nll_loss_forward_py),
//             py::arg("input"), ..., "doc");
#pragma once
#include <string>
#include <type_traits>
#include <utility>

#include "bindings/common.h"

namespace nnc {

// The names of one kernel pair: the op named in errors, the two `_C` functions and the two
// profiler events. String literals only (the profiler keeps the event pointers).
struct OpNames {
  const char* op;
  const char* fwd;
  const char* bwd;
  const char* fwd_event;
  const char* bwd_event;
};
#define NNC_OP_NAMES(name) \
  ::nnc::OpNames { #name, #name "_forward", #name "_backward", #name ".forward", #name ".backward" }

// A kernel-factory that appends the binding's extra arguments (after the arrays) to a kernel
// template deduced from the pointer types: NNC_KERNEL(relu_forward)() is a generic
// (const T* x, T* y, int64_t n) callable for T = float and double.
#define NNC_KERNEL(kernel) \
  [](auto... extra) { return [=](auto... arrays) { kernel(arrays..., extra...); }; }

// A kernel with its FLOPs per element when they depend on the call's arguments (gelu's
// approximation); a plain kernel counts the FLOPs its op declares.
template <class K>
struct Costed {
  K fn;
  double flops;
};
template <class K>
Costed<K> costed(K fn, double flops) {
  return {fn, flops};
}
template <class K>
Costed<K> with_cost(K fn, double flops) {
  return {fn, flops};
}
template <class K>
Costed<K> with_cost(Costed<K> c, double) {
  return c;
}

// The float type a kernel pointer points at.
template <class P>
using elem_t = std::remove_cv_t<std::remove_pointer_t<P>>;

// y = kernel(x) elementwise, any shape; `name` is what errors call x.
template <class T, class K>
py::array unary_forward(const char* op, const char* name, const py::array& x, const K& kernel,
                        const char* event, double flops_per_item) {
  const T* px = cdata<T>(op, name, x);
  auto y = empty_like_shape<T>(shape_of(x));
  T* py_ = y.mutable_data();
  const int64_t n = x.size();
  {
    py::gil_scoped_release nogil;
    NNC_PROFILE(event, flops_per_item * n, 2.0 * sizeof(T) * n, x);
    kernel(px, py_, n);
  }
  return y;
}

// dx = kernel(dy, saved) elementwise; `saved` is the input x or the output y of the forward.
template <class T, class K>
py::array unary_backward(const char* op, const py::array& dy, const char* saved_name,
                         const py::array& saved, const K& kernel, const char* event,
                         double flops_per_item) {
  NNC_CHECK(shape_of(dy) == shape_of(saved), op, "dy: expected shape ", shape_str(shape_of(saved)),
            " (the shape of ", saved_name, "), got ", shape_str(shape_of(dy)));
  const T* pdy = cdata<T>(op, "dy", dy);
  const T* ps = cdata<T>(op, saved_name, saved);
  auto dx = empty_like_shape<T>(shape_of(saved));
  T* pdx = dx.mutable_data();
  const int64_t n = saved.size();
  {
    py::gil_scoped_release nogil;
    NNC_PROFILE(event, flops_per_item * n, 3.0 * sizeof(T) * n, dy, saved);
    kernel(pdy, ps, pdx, n);
  }
  return dx;
}

// One elementwise kernel pair: `saved` is what backward takes after dy ("x" or "y"; ignored by
// def_elementwise_dy, whose backward needs dy alone); FLOPs are per element.
struct ElementwiseOp {
  OpNames names;
  const char* saved;
  double fwd_flops;
  double bwd_flops;
  const char* fwd_doc;
  const char* bwd_doc;
};

// Binds <op>_forward(x, extra...). `fwd` is a kernel factory: called with the extra arguments
// (holding the GIL, so it may check them and throw) it returns the kernel, plain or costed().
template <class... Extra, class Fwd, class... Args>
void def_elementwise_forward(py::module_& m, const ElementwiseOp& s, Fwd fwd,
                             const Args&... extra_args) {
  m.def(
      s.names.fwd,
      [s, fwd](const py::array& x, Extra... e) -> py::array {
        const auto k = with_cost(fwd(e...), s.fwd_flops);
        return dispatch_float(s.names.op, "x", x, [&](auto t) -> py::array {
          return unary_forward<decltype(t)>(s.names.op, "x", x, k.fn, s.names.fwd_event, k.flops);
        });
      },
      py::arg("x"), extra_args..., s.fwd_doc);
}

// Binds <op>_forward(x, extra...) and <op>_backward(dy, saved, extra...). `fwd` and `bwd` are
// kernel factories (see def_elementwise_forward); `Extra` are the extra arguments' C++ types,
// `extra_args` their py::arg declarations.
template <class... Extra, class Fwd, class Bwd, class... Args>
void def_elementwise(py::module_& m, const ElementwiseOp& s, Fwd fwd, Bwd bwd,
                     const Args&... extra_args) {
  def_elementwise_forward<Extra...>(m, s, fwd, extra_args...);
  m.def(
      s.names.bwd,
      [s, bwd](const py::array& dy, const py::array& saved, Extra... e) -> py::array {
        const auto k = with_cost(bwd(e...), s.bwd_flops);
        return dispatch_float(s.names.op, s.saved, saved, [&](auto t) -> py::array {
          return unary_backward<decltype(t)>(s.names.op, dy, s.saved, saved, k.fn,
                                             s.names.bwd_event, k.flops);
        });
      },
      py::arg("dy"), py::arg(s.saved), extra_args..., s.bwd_doc);
}

// As def_elementwise, for a backward that needs dy alone: <op>_backward(dy, extra...) (dropout
// regenerates its mask from the seed).
template <class... Extra, class Fwd, class Bwd, class... Args>
void def_elementwise_dy(py::module_& m, const ElementwiseOp& s, Fwd fwd, Bwd bwd,
                        const Args&... extra_args) {
  def_elementwise_forward<Extra...>(m, s, fwd, extra_args...);
  m.def(
      s.names.bwd,
      [s, bwd](const py::array& dy, Extra... e) -> py::array {
        const auto k = with_cost(bwd(e...), s.bwd_flops);
        return dispatch_float(s.names.op, "dy", dy, [&](auto t) -> py::array {
          return unary_forward<decltype(t)>(s.names.op, "dy", dy, k.fn, s.names.bwd_event,
                                            k.flops);
        });
      },
      py::arg("dy"), extra_args..., s.bwd_doc);
}

// A row-wise kernel pair over a [rows, cols] array: backward takes (dy, y), y the forward's
// output. FLOPs are per entry.
struct RowwiseOp {
  OpNames names;
  double fwd_flops;
  double bwd_flops;
  const char* fwd_doc;
  const char* bwd_doc;
};

struct RowsShape {
  int64_t rows;
  int64_t cols;
};

inline RowsShape rows_shape(const char* op, const char* name, const py::array& a) {
  NNC_CHECK(a.ndim() == 2, op, name, ": expected 2-D (rows, cols), got shape ",
            shape_str(shape_of(a)));
  return {a.shape(0), a.shape(1)};
}

// Binds <op>_forward(x) -> y and <op>_backward(dy, y) -> dx for kernels taking a shape struct
// `Shape` with {rows, cols} (SoftmaxShape, say).
template <class Shape, class Fwd, class Bwd>
void def_rowwise(py::module_& m, const RowwiseOp& s, Fwd fwd, Bwd bwd) {
  m.def(
      s.names.fwd,
      [s, fwd](const py::array& x) -> py::array {
        return dispatch_float(s.names.op, "x", x, [&](auto t) -> py::array {
          using T = decltype(t);
          const RowsShape r = rows_shape(s.names.op, "x", x);
          const T* px = cdata<T>(s.names.op, "x", x);
          auto y = empty_like_shape<T>(shape_of(x));
          T* py_ = y.mutable_data();
          {
            py::gil_scoped_release nogil;
            const double n = double(r.rows) * r.cols;
            NNC_PROFILE(s.names.fwd_event, s.fwd_flops * n, 2.0 * sizeof(T) * n, x);
            fwd()(px, py_, Shape{r.rows, r.cols});
          }
          return y;
        });
      },
      py::arg("x"), s.fwd_doc);
  m.def(
      s.names.bwd,
      [s, bwd](const py::array& dy, const py::array& y) -> py::array {
        return dispatch_float(s.names.op, "y", y, [&](auto t) -> py::array {
          using T = decltype(t);
          const RowsShape r = rows_shape(s.names.op, "y", y);
          NNC_CHECK(shape_of(dy) == shape_of(y), s.names.op, "dy: expected shape ",
                    shape_str(shape_of(y)), " (the shape of y), got ", shape_str(shape_of(dy)));
          const T* pdy = cdata<T>(s.names.op, "dy", dy);
          const T* py_ = cdata<T>(s.names.op, "y", y);
          auto dx = empty_like_shape<T>(shape_of(y));
          T* pdx = dx.mutable_data();
          {
            py::gil_scoped_release nogil;
            const double n = double(r.rows) * r.cols;
            NNC_PROFILE(s.names.bwd_event, s.bwd_flops * n, 3.0 * sizeof(T) * n, dy, y);
            bwd()(pdy, py_, pdx, Shape{r.rows, r.cols});
          }
          return dx;
        });
      },
      py::arg("dy"), py::arg("y"), s.bwd_doc);
}

// ---- any kernel whose dtype follows one float argument -----------------------------------------

// Which argument picks the dtype: its position, and the op and name errors use.
struct DispatchOn {
  const char* op;
  const char* name;
  size_t index;
};

// What a binding returns for an implementation's result: py::array_t<T> is returned as
// py::array (so both instantiations agree), anything else as is.
template <class R>
struct bound {
  using type = R;
};
template <class T>
struct bound<py::array_t<T>> {
  using type = py::array;
};

template <class A>
const py::array* array_or_null(const A&) {
  return nullptr;
}
inline const py::array* array_or_null(const py::array& a) { return &a; }

template <class... A>
const py::array& nth_array(const DispatchOn& d, const A&... a) {
  const py::array* found = nullptr;
  size_t k = 0;
  ((k++ == d.index ? (found = array_or_null(a)) : nullptr), ...);
  if (found == nullptr)
    throw std::logic_error(concat("[", d.op, "] binding: argument ", d.index, " is not an array"));
  return *found;
}

#define NNC_BOTH(impl) &impl<float>, &impl<double>

// Binds `name` to impl<T>(args...), T the float dtype of argument d.index (TypeError for any
// other dtype). The parameters are the implementation's, in order; `extra` are the py::arg
// declarations and the docstring.
template <class RF, class RD, class... A, class... Extra>
void def_float(py::module_& m, const char* name, DispatchOn d, RF (*impl_f)(A...),
               RD (*impl_d)(A...), const Extra&... extra) {
  using R = typename bound<RF>::type;
  static_assert(std::is_same_v<R, typename bound<RD>::type>, "float and double results differ");
  m.def(
      name,
      [d, impl_f, impl_d](A... a) -> R {
        return dispatch_float(d.op, d.name, nth_array(d, a...), [&](auto t) -> R {
          if constexpr (std::is_same_v<decltype(t), float>)
            return impl_f(std::forward<A>(a)...);
          else
            return impl_d(std::forward<A>(a)...);
        });
      },
      extra...);
}

}  // namespace nnc
