#include "kernels/attention.h"

#include "bindings/def.h"

namespace nnc {

namespace {

constexpr const char* kOp = "attention";

// mask None, [Lq,Lk] or [Bm,Hm,Lq,Lk] with Bm in {1, B} and Hm in {1, H}.
void check_mask(const char* op, const py::object& mask, AttentionShape* out) {
  AttentionShape& s = *out;
  if (!mask.is_none()) {
    const py::array m = mask.cast<py::array>();
    const std::vector<int64_t> ms = shape_of(m);
    const bool ok2 = m.ndim() == 2 && ms[0] == s.lq && ms[1] == s.lk;
    const bool ok4 = m.ndim() == 4 && (ms[0] == 1 || ms[0] == s.batch) &&
                     (ms[1] == 1 || ms[1] == s.heads) && ms[2] == s.lq && ms[3] == s.lk;
    NNC_CHECK(ok2 || ok4, op, "mask: expected shape (Lq, Lk) or (1 or B, 1 or H, Lq, Lk) = (",
              s.lq, ", ", s.lk, ") or (1 or ", s.batch, ", 1 or ", s.heads, ", ", s.lq, ", ",
              s.lk, "), got ", shape_str(ms));
    if (ok4) {
      s.mask_batch = ms[0];
      s.mask_heads = ms[1];
    }
  }
}

// q [B,H,Lq,D], k [B,H,Lk,D], v [B,H,Lk,Dv]; mask as check_mask().
AttentionShape attention_shape(const py::array& q, const py::array& k, const py::array& v,
                               const py::object& mask, bool causal, double scale, double dropout,
                               uint64_t seed) {
  NNC_CHECK(q.ndim() == 4 && k.ndim() == 4 && v.ndim() == 4, kOp,
            "expected 4-D q, k, v (B, H, L, D), got shapes ", shape_str(shape_of(q)), ", ",
            shape_str(shape_of(k)), ", ", shape_str(shape_of(v)));
  AttentionShape s{q.shape(0), q.shape(1), q.shape(2), k.shape(2), q.shape(3), v.shape(3),
                   1, 1, causal, scale, dropout, seed, {}, {}, {}, {}};
  NNC_CHECK(k.shape(0) == s.batch && v.shape(0) == s.batch && k.shape(1) == s.heads &&
                v.shape(1) == s.heads && k.shape(3) == s.d && v.shape(2) == s.lk,
            kOp, "q, k, v do not match: shapes ", shape_str(shape_of(q)), ", ",
            shape_str(shape_of(k)), ", ", shape_str(shape_of(v)),
            " (expected (B, H, Lq, D), (B, H, Lk, D), (B, H, Lk, Dv))");
  NNC_CHECK(s.lk > 0 && s.d > 0, kOp, "expected at least one key and a positive head size, got "
            "k of shape ", shape_str(shape_of(k)));
  NNC_CHECK(dropout >= 0.0 && dropout < 1.0, kOp, "dropout_p: expected a probability in [0, 1), "
            "got ", dropout);
  s.lay_q = dense_layout(s.heads, s.lq, s.d);
  s.lay_k = dense_layout(s.heads, s.lk, s.d);
  s.lay_v = dense_layout(s.heads, s.lk, s.dv);
  s.lay_o = dense_layout(s.heads, s.lq, s.dv);
  check_mask(kOp, mask, &s);
  return s;
}

template <class T>
py::tuple attention_forward_py(const py::array& q, const py::array& k, const py::array& v,
                               const py::object& mask, bool causal, double scale, double dropout,
                               uint64_t seed, bool need_weights) {
  const AttentionShape s = attention_shape(q, k, v, mask, causal, scale, dropout, seed);
  const T* pq = cdata<T>(kOp, "q", q);
  const T* pk = cdata<T>(kOp, "k", k);
  const T* pv = cdata<T>(kOp, "v", v);
  const T* pm = cdata_or_null<T>(kOp, "mask", mask);
  auto o = empty_like_shape<T>({s.batch, s.heads, s.lq, s.dv});
  T* po = o.mutable_data();
  T* pp = nullptr;
  py::object p = optional_output<T>(need_weights, {s.batch, s.heads, s.lq, s.lk}, &pp);
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

// ---- heads_attention: the same op over token-major arrays, heads interleaved in features ----

constexpr const char* kHeads = "heads_attention";

// The heads of a token-major array with `width` features per token: (B, L, width), or
// (L, B, width) when seq_first; head h occupies features [h*d, (h+1)*d) past the array's start.
HeadLayout token_layout(int64_t batch, int64_t len, int64_t width, int64_t d, bool seq_first) {
  return seq_first ? HeadLayout{width, d, batch * width} : HeadLayout{len * width, d, width};
}

// The shape of a heads_attention call. Unpacked: q (B, Lq, H*D), k (B, Lk, H*D),
// v (B, Lk, H*Dv) ((L, B, .) when seq_first). Packed (k and v None): q holds q|k|v side by side,
// (B, L, 3*H*D); k and v start `k_off` and `v_off` features into it.
struct HeadsCall {
  AttentionShape s;
  bool packed;
  int64_t k_off, v_off;
};

HeadsCall heads_shape(const py::array& q, const py::object& k, const py::object& v,
                      int64_t heads, bool seq_first, bool causal, double scale, double dropout,
                      uint64_t seed) {
  const bool packed = k.is_none() && v.is_none();
  NNC_CHECK(packed || (!k.is_none() && !v.is_none()), kHeads,
            "k, v: expected two arrays, or both None when q packs q|k|v");
  NNC_CHECK(heads > 0, kHeads, "heads: expected a positive count, got ", heads);
  NNC_CHECK(dropout >= 0.0 && dropout < 1.0, kHeads,
            "dropout_p: expected a probability in [0, 1), got ", dropout);
  NNC_CHECK(q.ndim() == 3, kHeads, "q: expected 3-D (", seq_first ? "L, B" : "B, L",
            ", features), got shape ", shape_str(shape_of(q)));
  const int bdim = seq_first ? 1 : 0, ldim = 1 - bdim;
  const int64_t batch = q.shape(bdim), lq = q.shape(ldim);
  HeadsCall c{{}, packed, 0, 0};
  AttentionShape& s = c.s;
  if (packed) {
    const int64_t width = q.shape(2);
    NNC_CHECK(width > 0 && width % (3 * heads) == 0, kHeads,
              "q: packed q|k|v needs features divisible by 3 * heads = ", 3 * heads,
              ", got shape ", shape_str(shape_of(q)));
    NNC_CHECK(lq > 0, kHeads, "expected at least one key, got packed q of shape ",
              shape_str(shape_of(q)));
    const int64_t e = width / 3, d = e / heads;
    s = AttentionShape{batch, heads, lq, lq, d, d, 1, 1, causal, scale, dropout, seed,
                       {}, {}, {}, {}};
    s.lay_q = s.lay_k = s.lay_v = token_layout(batch, lq, width, d, seq_first);
    s.lay_o = token_layout(batch, lq, e, d, seq_first);
    c.k_off = e;
    c.v_off = 2 * e;
  } else {
    const py::array ka = k.cast<py::array>(), va = v.cast<py::array>();
    NNC_CHECK(ka.ndim() == 3 && va.ndim() == 3 && ka.shape(bdim) == batch &&
                  va.shape(bdim) == batch && va.shape(ldim) == ka.shape(ldim) &&
                  ka.shape(2) == q.shape(2),
              kHeads, "q, k, v do not match: shapes ", shape_str(shape_of(q)), ", ",
              shape_str(shape_of(ka)), ", ", shape_str(shape_of(va)), " (expected ",
              seq_first ? "(Lq, B, E), (Lk, B, E), (Lk, B, Ev))" : "(B, Lq, E), (B, Lk, E), "
              "(B, Lk, Ev))");
    const int64_t e = q.shape(2), ev = va.shape(2), lk = ka.shape(ldim);
    NNC_CHECK(e > 0 && ev > 0 && e % heads == 0 && ev % heads == 0, kHeads,
              "q, v: expected features divisible by heads = ", heads, ", got shapes ",
              shape_str(shape_of(q)), ", ", shape_str(shape_of(va)));
    NNC_CHECK(lk > 0, kHeads, "expected at least one key, got k of shape ",
              shape_str(shape_of(ka)));
    const int64_t d = e / heads, dv = ev / heads;
    s = AttentionShape{batch, heads, lq, lk, d, dv, 1, 1, causal, scale, dropout, seed,
                       {}, {}, {}, {}};
    s.lay_q = token_layout(batch, lq, e, d, seq_first);
    s.lay_k = token_layout(batch, lk, e, d, seq_first);
    s.lay_v = token_layout(batch, lk, ev, dv, seq_first);
    s.lay_o = token_layout(batch, lq, ev, dv, seq_first);
  }
  return c;
}

std::vector<int64_t> heads_out_shape(const AttentionShape& s, bool seq_first) {
  const int64_t width = s.heads * s.dv;
  return seq_first ? std::vector<int64_t>{s.lq, s.batch, width}
                   : std::vector<int64_t>{s.batch, s.lq, width};
}

template <class T>
py::tuple heads_attention_forward_py(const py::array& q, const py::object& k,
                                     const py::object& v, const py::object& mask, int64_t heads,
                                     bool seq_first, bool causal, double scale, double dropout,
                                     uint64_t seed, bool need_weights) {
  HeadsCall c = heads_shape(q, k, v, heads, seq_first, causal, scale, dropout, seed);
  AttentionShape& s = c.s;
  check_mask(kHeads, mask, &s);
  const T* pq = cdata<T>(kHeads, "q", q);
  const T* pk = c.packed ? pq + c.k_off : cdata<T>(kHeads, "k", k.cast<py::array>());
  const T* pv = c.packed ? pq + c.v_off : cdata<T>(kHeads, "v", v.cast<py::array>());
  const T* pm = cdata_or_null<T>(kHeads, "mask", mask);
  auto o = empty_like_shape<T>(heads_out_shape(s, seq_first));
  T* po = o.mutable_data();
  T* pp = nullptr;
  py::object p = optional_output<T>(need_weights, {s.batch, s.heads, s.lq, s.lk}, &pp);
  {
    py::gil_scoped_release nogil;
    // As attention.forward.
    NNC_PROFILE("heads_attention.forward",
                double(s.batch) * s.heads * s.lq * s.lk * (2.0 * (s.d + s.dv) + 5.0),
                sizeof(T) * double(s.batch) * s.heads *
                    (s.lq * s.d + s.lk * (s.d + s.dv) + s.lq * s.dv + s.lq * s.lk),
                q);
    attention_forward<T>(pq, pk, pv, pm, po, pp, s);
  }
  return py::make_tuple(o, p);
}

template <class T>
py::tuple heads_attention_backward_py(const py::array& dout, const py::array& q,
                                      const py::object& k, const py::object& v,
                                      const py::array& p, int64_t heads, bool seq_first,
                                      double scale, double dropout, uint64_t seed, bool need_dq,
                                      bool need_dk, bool need_dv) {
  const HeadsCall c = heads_shape(q, k, v, heads, seq_first, false, scale, dropout, seed);
  const AttentionShape& s = c.s;
  const std::vector<int64_t> oshape = heads_out_shape(s, seq_first),
                             pshape{s.batch, s.heads, s.lq, s.lk};
  NNC_CHECK(shape_of(dout) == oshape, kHeads, "dout: expected shape ", shape_str(oshape),
            ", got ", shape_str(shape_of(dout)));
  NNC_CHECK(shape_of(p) == pshape, kHeads, "p: expected shape ", shape_str(pshape), ", got ",
            shape_str(shape_of(p)));
  const T* pdo = cdata<T>(kHeads, "dout", dout);
  const T* pq = cdata<T>(kHeads, "q", q);
  const T* pk = c.packed ? pq + c.k_off : cdata<T>(kHeads, "k", k.cast<py::array>());
  const T* pv = c.packed ? pq + c.v_off : cdata<T>(kHeads, "v", v.cast<py::array>());
  const T* pp = cdata<T>(kHeads, "p", p);
  T *pdq, *pdk, *pdv;
  py::object dq, dk, dv;
  if (c.packed) {
    // One gradient (B, L, 3E) for the packed input, all three parts written.
    dq = optional_output<T>(true, shape_of(q), &pdq);
    pdk = pdq + c.k_off;
    pdv = pdq + c.v_off;
    dk = dv = py::none();
  } else {
    dq = optional_output<T>(need_dq, shape_of(q), &pdq);
    dk = optional_output<T>(need_dk, shape_of(k.cast<py::array>()), &pdk);
    dv = optional_output<T>(need_dv, shape_of(v.cast<py::array>()), &pdv);
  }
  {
    py::gil_scoped_release nogil;
    // As attention.backward.
    NNC_PROFILE("heads_attention.backward",
                double(s.batch) * s.heads * s.lq * s.lk * (4.0 * (s.d + s.dv) + 4.0),
                sizeof(T) * double(s.batch) * s.heads *
                    (2.0 * (s.lq * s.d + s.lk * (s.d + s.dv)) + 2.0 * s.lq * s.dv + s.lq * s.lk),
                q);
    attention_backward<T>(pdo, pq, pk, pv, pp, pdq, pdk, pdv, s);
  }
  return py::make_tuple(dq, dk, dv);
}

}  // namespace

void bind_attention(py::module_& m) {
  m.def(
      "attention_forward",
      [](const py::array& q, const py::array& k, const py::array& v, const py::object& mask,
         bool causal, double scale, double dropout_p, uint64_t seed,
         bool need_weights) -> py::tuple {
        return dispatch_float(kOp, "q", q, [&](auto t) -> py::tuple {
          return attention_forward_py<decltype(t)>(q, k, v, mask, causal, scale, dropout_p, seed,
                                                   need_weights);
        });
      },
      // NOTE: no defaults before `scale` (required): Python has no such signature, and the
      // generated _C.pyi must parse.
      py::arg("q"), py::arg("k"), py::arg("v"), py::arg("mask"), py::arg("causal"),
      py::arg("scale"), py::arg("dropout_p") = 0.0,
      py::arg("seed") = 0, py::arg("need_weights") = true,
      "(o, p): p = softmax(scale q k^T + mask, causal), o = dropout(p) @ v; mask additive; p "
      "None unless need_weights (only backward needs it).");
  def_float(m, "attention_backward", {kOp, "q", 1}, NNC_BOTH(attention_backward_py),
            py::arg("dout"), py::arg("q"), py::arg("k"), py::arg("v"), py::arg("p"),
            py::arg("scale"), py::arg("dropout_p") = 0.0, py::arg("seed") = 0,
            py::arg("need_dq") = true, py::arg("need_dk") = true, py::arg("need_dv") = true,
            "(dq, dk, dv) from the forward's saved weights p; None where not needed.");
  def_float(m, "heads_attention_forward", {kHeads, "q", 0}, NNC_BOTH(heads_attention_forward_py),
            py::arg("q"), py::arg("k"), py::arg("v"), py::arg("mask"), py::arg("heads"),
            py::arg("seq_first"), py::arg("causal"), py::arg("scale"), py::arg("dropout_p") = 0.0,
            py::arg("seed") = 0, py::arg("need_weights") = true,
            "(o, p): attention_forward over token-major q (B, Lq, H*D), k "
            "(B, Lk, H*D), v (B, Lk, H*Dv) ((L, B, .) when seq_first), or packed q|k|v (B, L, "
            "3*H*D) in q with k, v None; o (B, Lq, H*Dv), p (B, H, Lq, Lk).");
  def_float(m, "heads_attention_backward", {kHeads, "q", 1}, NNC_BOTH(heads_attention_backward_py),
            py::arg("dout"), py::arg("q"), py::arg("k"), py::arg("v"), py::arg("p"),
            py::arg("heads"), py::arg("seq_first"), py::arg("scale"), py::arg("dropout_p") = 0.0,
            py::arg("seed") = 0, py::arg("need_dq") = true, py::arg("need_dk") = true,
            py::arg("need_dv") = true, "(dq, dk, dv) in the layouts of q, k, v; packed: "
            "(d(q|k|v), None, None), need_* ignored.");
}

}  // namespace nnc
