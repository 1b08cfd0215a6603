#include "kernels/attention.h"

#include "bindings/common.h"

namespace nnc {

namespace {

constexpr const char* kOp = "attention";

// q [B,H,Lq,D], k [B,H,Lk,D], v [B,H,Lk,Dv]; mask None, [Lq,Lk] or [Bm,Hm,Lq,Lk] with Bm in
// {1, B} and Hm in {1, H}.
AttentionShape attention_shape(const py::array& q, const py::array& k, const py::array& v,
                               const py::object& mask, bool causal, double scale, double dropout,
                               uint64_t seed) {
  NNC_CHECK(q.ndim() == 4 && k.ndim() == 4 && v.ndim() == 4, kOp,
            "expected 4-D q, k, v (B, H, L, D), got shapes ", shape_str(shape_of(q)), ", ",
            shape_str(shape_of(k)), ", ", shape_str(shape_of(v)));
  AttentionShape s{q.shape(0), q.shape(1), q.shape(2), k.shape(2), q.shape(3), v.shape(3),
                   1, 1, causal, scale, dropout, seed};
  NNC_CHECK(k.shape(0) == s.batch && v.shape(0) == s.batch && k.shape(1) == s.heads &&
                v.shape(1) == s.heads && k.shape(3) == s.d && v.shape(2) == s.lk,
            kOp, "q, k, v do not match: shapes ", shape_str(shape_of(q)), ", ",
            shape_str(shape_of(k)), ", ", shape_str(shape_of(v)),
            " (expected (B, H, Lq, D), (B, H, Lk, D), (B, H, Lk, Dv))");
  NNC_CHECK(s.lk > 0 && s.d > 0, kOp, "expected at least one key and a positive head size, got "
            "k of shape ", shape_str(shape_of(k)));
  NNC_CHECK(dropout >= 0.0 && dropout < 1.0, kOp, "dropout_p: expected a probability in [0, 1), "
            "got ", dropout);
  if (!mask.is_none()) {
    const py::array m = mask.cast<py::array>();
    const std::vector<int64_t> ms = shape_of(m);
    const bool ok2 = m.ndim() == 2 && ms[0] == s.lq && ms[1] == s.lk;
    const bool ok4 = m.ndim() == 4 && (ms[0] == 1 || ms[0] == s.batch) &&
                     (ms[1] == 1 || ms[1] == s.heads) && ms[2] == s.lq && ms[3] == s.lk;
    NNC_CHECK(ok2 || ok4, kOp, "mask: expected shape (Lq, Lk) or (1 or B, 1 or H, Lq, Lk) = (",
              s.lq, ", ", s.lk, ") or (1 or ", s.batch, ", 1 or ", s.heads, ", ", s.lq, ", ",
              s.lk, "), got ", shape_str(ms));
    if (ok4) {
      s.mask_batch = ms[0];
      s.mask_heads = ms[1];
    }
  }
  return s;
}

template <class T>
py::tuple attention_forward_py(const py::array& q, const py::array& k, const py::array& v,
                               const py::object& mask, bool causal, double scale, double dropout,
                               uint64_t seed) {
  const AttentionShape s = attention_shape(q, k, v, mask, causal, scale, dropout, seed);
  const T* pq = cdata<T>(kOp, "q", q);
  const T* pk = cdata<T>(kOp, "k", k);
  const T* pv = cdata<T>(kOp, "v", v);
  const T* pm = cdata_or_null<T>(kOp, "mask", mask);
  auto o = empty_like_shape<T>({s.batch, s.heads, s.lq, s.dv});
  auto p = empty_like_shape<T>({s.batch, s.heads, s.lq, s.lk});
  T* po = o.mutable_data();
  T* pp = p.mutable_data();
  {
    py::gil_scoped_release nogil;
    // FLOPs: q k^T and p v (2 per multiply-add) plus ~5 per logit for scale, mask and softmax.
    NNC_PROFILE("attention.forward",
                double(s.batch) * s.heads * s.lq * s.lk * (2.0 * (s.d + s.dv) + 5.0),
                sizeof(T) * double(s.batch) * s.heads *
                    (s.lq * s.d + s.lk * (s.d + s.dv) + s.lq * s.dv + s.lq * s.lk),
                q, k, v);
    attention_forward<T>(pq, pk, pv, pm, po, pp, s);
  }
  return py::make_tuple(o, p);
}

template <class T>
py::tuple attention_backward_py(const py::array& dout, const py::array& q, const py::array& k,
                                const py::array& v, const py::array& p, double scale,
                                double dropout, uint64_t seed, bool need_dq, bool need_dk,
                                bool need_dv) {
  const AttentionShape s = attention_shape(q, k, v, py::none(), false, scale, dropout, seed);
  const std::vector<int64_t> oshape{s.batch, s.heads, s.lq, s.dv}, pshape{s.batch, s.heads, s.lq,
                                                                          s.lk};
  NNC_CHECK(shape_of(dout) == oshape, kOp, "dout: expected shape ", shape_str(oshape), ", got ",
            shape_str(shape_of(dout)));
  NNC_CHECK(shape_of(p) == pshape, kOp, "p: expected shape ", shape_str(pshape), ", got ",
            shape_str(shape_of(p)));
  const T* pdo = cdata<T>(kOp, "dout", dout);
  const T* pq = cdata<T>(kOp, "q", q);
  const T* pk = cdata<T>(kOp, "k", k);
  const T* pv = cdata<T>(kOp, "v", v);
  const T* pp = cdata<T>(kOp, "p", p);
  T *pdq, *pdk, *pdv;
  py::object dq = optional_output<T>(need_dq, shape_of(q), &pdq);
  py::object dk = optional_output<T>(need_dk, shape_of(k), &pdk);
  py::object dv = optional_output<T>(need_dv, shape_of(v), &pdv);
  {
    py::gil_scoped_release nogil;
    // FLOPs: four products (dP = dO v^T, dV = P^T dO, dQ = dS k, dK = dS^T q) and the softmax
    // backward (~4 per logit).
    NNC_PROFILE("attention.backward",
                double(s.batch) * s.heads * s.lq * s.lk * (4.0 * (s.d + s.dv) + 4.0),
                sizeof(T) * double(s.batch) * s.heads *
                    (2.0 * (s.lq * s.d + s.lk * (s.d + s.dv)) + 2.0 * s.lq * s.dv + s.lq * s.lk),
                q, k, v);
    attention_backward<T>(pdo, pq, pk, pv, pp, pdq, pdk, pdv, s);
  }
  return py::make_tuple(dq, dk, dv);
}

}  // namespace

void bind_attention(py::module_& m) {
  m.def(
      "attention_forward",
      [](const py::array& q, const py::array& k, const py::array& v, const py::object& mask,
         bool causal, double scale, double dropout_p, uint64_t seed) -> py::tuple {
        return dispatch_float(kOp, "q", q, [&](auto t) -> py::tuple {
          return attention_forward_py<decltype(t)>(q, k, v, mask, causal, scale, dropout_p, seed);
        });
      },
      py::arg("q"), py::arg("k"), py::arg("v"), py::arg("mask") = py::none(),
      py::arg("causal") = false, py::arg("scale"), py::arg("dropout_p") = 0.0,
      py::arg("seed") = 0,
      "(o, p): p = softmax(scale q k^T + mask, causal), o = dropout(p) @ v; mask additive.");
  m.def(
      "attention_backward",
      [](const py::array& dout, const py::array& q, const py::array& k, const py::array& v,
         const py::array& p, double scale, double dropout_p, uint64_t seed, bool need_dq,
         bool need_dk, bool need_dv) -> py::tuple {
        return dispatch_float(kOp, "q", q, [&](auto t) -> py::tuple {
          return attention_backward_py<decltype(t)>(dout, q, k, v, p, scale, dropout_p, seed,
                                                    need_dq, need_dk, need_dv);
        });
      },
      py::arg("dout"), py::arg("q"), py::arg("k"), py::arg("v"), py::arg("p"), py::arg("scale"),
      py::arg("dropout_p") = 0.0, py::arg("seed") = 0, py::arg("need_dq") = true,
      py::arg("need_dk") = true, py::arg("need_dv") = true,
      "(dq, dk, dv) from the forward's saved weights p; None where not needed.");
}

}  // namespace nnc
