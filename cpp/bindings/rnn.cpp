#include "kernels/rnn.h"

#include "bindings/def.h"

namespace nnc {

namespace {

// FLOPs of one direction of a recurrent layer with G gates: the input projection and the
// recurrent products (2 per multiply-add) plus ~10 per gate element for activations and updates.
double rnn_flops(const RnnShape& s, int gates) {
  const double rows = double(s.steps) * s.batch, gh = double(gates) * s.hidden_size;
  return rows * gh * (2.0 * (s.input_size + s.hidden_size) + 10.0);
}

// Bytes: x, the weights and the outputs (and saved gates) once.
template <class T>
double rnn_bytes(const RnnShape& s, int gates) {
  const double gh = double(gates) * s.hidden_size;
  return sizeof(T) * (double(s.steps) * s.batch * (s.input_size + s.hidden_size + gh) +
                      gh * (s.input_size + s.hidden_size));
}


// x [T, N, I], w_ih [G*H, I], w_hh [G*H, H], biases [G*H] or both None, states [N, H] or None.
RnnShape rnn_shape(const char* op, int64_t gates, const py::array& x, const py::array& w_ih,
                   const py::array& w_hh, const py::object& b_ih, const py::object& b_hh,
                   bool reverse) {
  NNC_CHECK(x.ndim() == 3, op, "input: expected 3-D (seq_len, batch, input_size), got shape ",
            shape_str(shape_of(x)));
  NNC_CHECK(x.shape(0) > 0 && x.shape(1) > 0, op, "input: expected at least one step and one "
            "sequence, got shape ", shape_str(shape_of(x)));
  NNC_CHECK(w_ih.ndim() == 2 && w_ih.shape(0) % gates == 0 && w_ih.shape(0) > 0, op,
            "weight_ih: expected 2-D (", gates, "*hidden_size, input_size), got shape ",
            shape_str(shape_of(w_ih)));
  const int64_t h = w_ih.shape(0) / gates;
  NNC_CHECK(w_ih.shape(1) == x.shape(2), op, "input has ", x.shape(2),
            " features but weight_ih expects ", w_ih.shape(1), ": shapes ",
            shape_str(shape_of(x)), " and ", shape_str(shape_of(w_ih)));
  NNC_CHECK(w_hh.ndim() == 2 && w_hh.shape(0) == gates * h && w_hh.shape(1) == h, op,
            "weight_hh: expected shape (", gates * h, ", ", h, "), got ",
            shape_str(shape_of(w_hh)));
  NNC_CHECK(b_ih.is_none() == b_hh.is_none(), op, "bias_ih and bias_hh: give both or neither");
  for (const py::object* b : {&b_ih, &b_hh}) {
    if (b->is_none()) continue;
    const py::array a = b->cast<py::array>();
    NNC_CHECK(a.ndim() == 1 && a.shape(0) == gates * h, op, "bias: expected shape (", gates * h,
              ",), got ", shape_str(shape_of(a)));
  }
  return {x.shape(0), x.shape(1), x.shape(2), h, reverse};
}

void check_state(const char* op, const char* name, const py::object& a, const RnnShape& s) {
  if (a.is_none()) return;
  const std::vector<int64_t> shape = shape_of(a.cast<py::array>());
  NNC_CHECK(shape == std::vector<int64_t>({s.batch, s.hidden_size}), op, name,
            ": expected shape (", s.batch, ", ", s.hidden_size, "), got ", shape_str(shape));
}

void check_shape(const char* op, const char* name, const py::array& a,
                 const std::vector<int64_t>& expected) {
  NNC_CHECK(shape_of(a) == expected, op, name, ": expected shape ", shape_str(expected), ", got ",
            shape_str(shape_of(a)));
}

// An output array of `shape` when wanted (its pointer in *p), else None.
template <class T>
struct Inputs {
  const T *x, *w_ih, *w_hh, *b_ih, *b_hh;
};

template <class T>
Inputs<T> inputs(const char* op, const py::array& x, const py::array& w_ih, const py::array& w_hh,
                 const py::object& b_ih, const py::object& b_hh) {
  return {cdata<T>(op, "input", x), cdata<T>(op, "weight_ih", w_ih),
          cdata<T>(op, "weight_hh", w_hh), cdata_or_null<T>(op, "bias_ih", b_ih),
          cdata_or_null<T>(op, "bias_hh", b_hh)};
}

// ---- rnn ----

template <class T>
py::array rnn_forward_py(const py::array& x, const py::object& h0, const py::array& w_ih,
                         const py::array& w_hh, const py::object& b_ih, const py::object& b_hh,
                         bool relu, bool reverse) {
  const char* op = "rnn";
  const RnnShape s = rnn_shape(op, 1, x, w_ih, w_hh, b_ih, b_hh, reverse);
  check_state(op, "h0", h0, s);
  const Inputs<T> in = inputs<T>(op, x, w_ih, w_hh, b_ih, b_hh);
  const T* ph0 = cdata_or_null<T>(op, "h0", h0);
  auto y = empty_like_shape<T>({s.steps, s.batch, s.hidden_size});
  T* py_ = y.mutable_data();
  {
    py::gil_scoped_release nogil;
    NNC_PROFILE("rnn.forward", rnn_flops(s, 1), rnn_bytes<T>(s, 1), x);
    rnn_forward<T>(in.x, ph0, in.w_ih, in.w_hh, in.b_ih, in.b_hh, py_, relu, s);
  }
  return std::move(y);
}

template <class T>
py::tuple rnn_backward_py(const py::array& dy, const py::array& x, const py::object& h0,
                          const py::array& w_ih, const py::array& w_hh, const py::array& y,
                          bool relu, bool reverse, bool need_dx, bool need_dh0, bool need_dw,
                          bool need_db) {
  const char* op = "rnn";
  const RnnShape s = rnn_shape(op, 1, x, w_ih, w_hh, py::none(), py::none(), reverse);
  check_state(op, "h0", h0, s);
  const std::vector<int64_t> yshape{s.steps, s.batch, s.hidden_size};
  check_shape(op, "dy", dy, yshape);
  check_shape(op, "output", y, yshape);
  const Inputs<T> in = inputs<T>(op, x, w_ih, w_hh, py::none(), py::none());
  const T *pdy = cdata<T>(op, "dy", dy), *py_ = cdata<T>(op, "output", y);
  const T* ph0 = cdata_or_null<T>(op, "h0", h0);
  const int64_t h = s.hidden_size;
  T *dx, *dh0, *dw_ih, *dw_hh, *db_ih, *db_hh;
  py::object odx = optional_output<T>(need_dx, shape_of(x), &dx);
  py::object odh0 = optional_output<T>(need_dh0, {s.batch, h}, &dh0);
  py::object odw_ih = optional_output<T>(need_dw, shape_of(w_ih), &dw_ih);
  py::object odw_hh = optional_output<T>(need_dw, shape_of(w_hh), &dw_hh);
  py::object odb_ih = optional_output<T>(need_db, {h}, &db_ih);
  py::object odb_hh = optional_output<T>(need_db, {h}, &db_hh);
  {
    py::gil_scoped_release nogil;
    NNC_PROFILE("rnn.backward", 2.0 * rnn_flops(s, 1), 2.0 * rnn_bytes<T>(s, 1), x);
    rnn_backward<T>(pdy, in.x, ph0, in.w_ih, in.w_hh, py_, dx, dh0, dw_ih, dw_hh, db_ih, db_hh,
                    relu, s);
  }
  return py::make_tuple(odx, odh0, odw_ih, odw_hh, odb_ih, odb_hh);
}

// ---- lstm ----

template <class T>
py::tuple lstm_forward_py(const py::array& x, const py::object& h0, const py::object& c0,
                          const py::array& w_ih, const py::array& w_hh, const py::object& b_ih,
                          const py::object& b_hh, bool reverse) {
  const char* op = "lstm";
  const RnnShape s = rnn_shape(op, 4, x, w_ih, w_hh, b_ih, b_hh, reverse);
  check_state(op, "h0", h0, s);
  check_state(op, "c0", c0, s);
  const Inputs<T> in = inputs<T>(op, x, w_ih, w_hh, b_ih, b_hh);
  const T* ph0 = cdata_or_null<T>(op, "h0", h0);
  const T* pc0 = cdata_or_null<T>(op, "c0", c0);
  const int64_t t = s.steps, n = s.batch, h = s.hidden_size;
  auto out = empty_like_shape<T>({t + 1, n, h});
  auto gates = empty_like_shape<T>({t, n, 4 * h});
  auto cells = empty_like_shape<T>({t, n, h});
  T *po = out.mutable_data(), *pg = gates.mutable_data(), *pc = cells.mutable_data();
  {
    py::gil_scoped_release nogil;
    NNC_PROFILE("lstm.forward", rnn_flops(s, 4), rnn_bytes<T>(s, 4), x);
    lstm_forward<T>(in.x, ph0, pc0, in.w_ih, in.w_hh, in.b_ih, in.b_hh, po, po + t * n * h, pg,
                    pc, s);
  }
  return py::make_tuple(out, gates, cells);
}

template <class T>
py::tuple lstm_backward_py(const py::array& dout, const py::array& x, const py::object& h0,
                           const py::object& c0, const py::array& w_ih, const py::array& w_hh,
                           const py::array& out, const py::array& gates, const py::array& cells,
                           bool reverse, bool need_dx, bool need_dh0, bool need_dc0, bool need_dw,
                           bool need_db) {
  const char* op = "lstm";
  const RnnShape s = rnn_shape(op, 4, x, w_ih, w_hh, py::none(), py::none(), reverse);
  check_state(op, "h0", h0, s);
  check_state(op, "c0", c0, s);
  const int64_t t = s.steps, n = s.batch, h = s.hidden_size;
  check_shape(op, "dout", dout, {t + 1, n, h});
  check_shape(op, "output", out, {t + 1, n, h});
  check_shape(op, "gates", gates, {t, n, 4 * h});
  check_shape(op, "cells", cells, {t, n, h});
  const Inputs<T> in = inputs<T>(op, x, w_ih, w_hh, py::none(), py::none());
  const T *pd = cdata<T>(op, "dout", dout), *po = cdata<T>(op, "output", out);
  const T *pg = cdata<T>(op, "gates", gates), *pc = cdata<T>(op, "cells", cells);
  const T* ph0 = cdata_or_null<T>(op, "h0", h0);
  const T* pc0 = cdata_or_null<T>(op, "c0", c0);
  T *dx, *dh0, *dc0, *dw_ih, *dw_hh, *db_ih, *db_hh;
  py::object odx = optional_output<T>(need_dx, shape_of(x), &dx);
  py::object odh0 = optional_output<T>(need_dh0, {n, h}, &dh0);
  py::object odc0 = optional_output<T>(need_dc0, {n, h}, &dc0);
  py::object odw_ih = optional_output<T>(need_dw, shape_of(w_ih), &dw_ih);
  py::object odw_hh = optional_output<T>(need_dw, shape_of(w_hh), &dw_hh);
  py::object odb_ih = optional_output<T>(need_db, {4 * h}, &db_ih);
  py::object odb_hh = optional_output<T>(need_db, {4 * h}, &db_hh);
  {
    py::gil_scoped_release nogil;
    NNC_PROFILE("lstm.backward", 2.0 * rnn_flops(s, 4), 2.0 * rnn_bytes<T>(s, 4), x);
    lstm_backward<T>(pd, pd + t * n * h, in.x, ph0, pc0, in.w_ih, in.w_hh, po, pg, pc, dx, dh0,
                     dc0, dw_ih, dw_hh, db_ih, db_hh, s);
  }
  return py::make_tuple(odx, odh0, odc0, odw_ih, odw_hh, odb_ih, odb_hh);
}

// ---- gru ----

template <class T>
py::tuple gru_forward_py(const py::array& x, const py::object& h0, const py::array& w_ih,
                         const py::array& w_hh, const py::object& b_ih, const py::object& b_hh,
                         bool reverse) {
  const char* op = "gru";
  const RnnShape s = rnn_shape(op, 3, x, w_ih, w_hh, b_ih, b_hh, reverse);
  check_state(op, "h0", h0, s);
  const Inputs<T> in = inputs<T>(op, x, w_ih, w_hh, b_ih, b_hh);
  const T* ph0 = cdata_or_null<T>(op, "h0", h0);
  auto y = empty_like_shape<T>({s.steps, s.batch, s.hidden_size});
  auto gates = empty_like_shape<T>({s.steps, s.batch, 4 * s.hidden_size});
  T *py_ = y.mutable_data(), *pg = gates.mutable_data();
  {
    py::gil_scoped_release nogil;
    NNC_PROFILE("gru.forward", rnn_flops(s, 3), rnn_bytes<T>(s, 3), x);
    gru_forward<T>(in.x, ph0, in.w_ih, in.w_hh, in.b_ih, in.b_hh, py_, pg, s);
  }
  return py::make_tuple(y, gates);
}

template <class T>
py::tuple gru_backward_py(const py::array& dy, const py::array& x, const py::object& h0,
                          const py::array& w_ih, const py::array& w_hh, const py::array& y,
                          const py::array& gates, bool reverse, bool need_dx, bool need_dh0,
                          bool need_dw, bool need_db) {
  const char* op = "gru";
  const RnnShape s = rnn_shape(op, 3, x, w_ih, w_hh, py::none(), py::none(), reverse);
  check_state(op, "h0", h0, s);
  const int64_t n = s.batch, h = s.hidden_size;
  check_shape(op, "dy", dy, {s.steps, n, h});
  check_shape(op, "output", y, {s.steps, n, h});
  check_shape(op, "gates", gates, {s.steps, n, 4 * h});
  const Inputs<T> in = inputs<T>(op, x, w_ih, w_hh, py::none(), py::none());
  const T *pdy = cdata<T>(op, "dy", dy), *py_ = cdata<T>(op, "output", y);
  const T* pg = cdata<T>(op, "gates", gates);
  const T* ph0 = cdata_or_null<T>(op, "h0", h0);
  T *dx, *dh0, *dw_ih, *dw_hh, *db_ih, *db_hh;
  py::object odx = optional_output<T>(need_dx, shape_of(x), &dx);
  py::object odh0 = optional_output<T>(need_dh0, {n, h}, &dh0);
  py::object odw_ih = optional_output<T>(need_dw, shape_of(w_ih), &dw_ih);
  py::object odw_hh = optional_output<T>(need_dw, shape_of(w_hh), &dw_hh);
  py::object odb_ih = optional_output<T>(need_db, {3 * h}, &db_ih);
  py::object odb_hh = optional_output<T>(need_db, {3 * h}, &db_hh);
  {
    py::gil_scoped_release nogil;
    NNC_PROFILE("gru.backward", 2.0 * rnn_flops(s, 3), 2.0 * rnn_bytes<T>(s, 3), x);
    gru_backward<T>(pdy, in.x, ph0, in.w_ih, in.w_hh, py_, pg, dx, dh0, dw_ih, dw_hh, db_ih,
                    db_hh, s);
  }
  return py::make_tuple(odx, odh0, odw_ih, odw_hh, odb_ih, odb_hh);
}

}  // namespace

void bind_rnn(py::module_& m) {
  def_float(m, "rnn_forward", {"rnn", "input", 0}, NNC_BOTH(rnn_forward_py), py::arg("x"),
            py::arg("h0"), py::arg("weight_ih"), py::arg("weight_hh"), py::arg("bias_ih"),
            py::arg("bias_hh"), py::arg("relu") = false, py::arg("reverse") = false,
            "Elman RNN "
            "over x [T, N, I]: y [T, N, H] (h_n = y[-1], or y[0] when reverse).");
  def_float(m, "rnn_backward", {"rnn", "input", 1}, NNC_BOTH(rnn_backward_py), py::arg("dy"),
            py::arg("x"), py::arg("h0"), py::arg("weight_ih"), py::arg("weight_hh"), py::arg("y"),
            py::arg("relu") = false, py::arg("reverse") = false, py::arg("need_dx") = true,
            py::arg("need_dh0") = true, py::arg("need_dw") = true, py::arg("need_db") = true,
            "(dx, dh0, dw_ih, dw_hh, db_ih, db_hh) through time; None where not needed.");
  def_float(m, "lstm_forward", {"lstm", "input", 0}, NNC_BOTH(lstm_forward_py), py::arg("x"),
            py::arg("h0"), py::arg("c0"), py::arg("weight_ih"), py::arg("weight_hh"),
            py::arg("bias_ih"), py::arg("bias_hh"), py::arg("reverse") = false,
            "LSTM over x [T, "
            "N, I]: (out [T+1, N, H] = outputs then c_n, gates [T, N, 4H], cells [T, N, H]).");
  def_float(m, "lstm_backward", {"lstm", "input", 1}, NNC_BOTH(lstm_backward_py), py::arg("dout"),
            py::arg("x"), py::arg("h0"), py::arg("c0"), py::arg("weight_ih"), py::arg("weight_hh"),
            py::arg("out"), py::arg("gates"), py::arg("cells"), py::arg("reverse") = false,
            py::arg("need_dx") = true, py::arg("need_dh0") = true, py::arg("need_dc0") = true,
            py::arg("need_dw") = true, py::arg("need_db") = true, "(dx, dh0, dc0, dw_ih, dw_hh, "
            "db_ih, db_hh) from dout [T+1, N, H] (outputs, then c_n).");
  def_float(m, "gru_forward", {"gru", "input", 0}, NNC_BOTH(gru_forward_py), py::arg("x"),
            py::arg("h0"), py::arg("weight_ih"), py::arg("weight_hh"), py::arg("bias_ih"),
            py::arg("bias_hh"), py::arg("reverse") = false, "GRU over x [T, N, I]: (y [T, N, H], "
            "gates [T, N, 4H] = r, z, n, W_hn h + b_hn).");
  def_float(m, "gru_backward", {"gru", "input", 1}, NNC_BOTH(gru_backward_py), py::arg("dy"),
            py::arg("x"), py::arg("h0"), py::arg("weight_ih"), py::arg("weight_hh"), py::arg("y"),
            py::arg("gates"), py::arg("reverse") = false, py::arg("need_dx") = true,
            py::arg("need_dh0") = true, py::arg("need_dw") = true, py::arg("need_db") = true,
            "(dx, dh0, dw_ih, dw_hh, db_ih, db_hh) through time; None where not needed.");
}

}  // namespace nnc
