#include "kernels/embedding.h"

#include <string>
#include <vector>

#include "bindings/def.h"

namespace nnc {

namespace {

const int64_t* index_data(const char* op, const py::array& indices) {
  if (!py::isinstance<py::array_t<int64_t>>(indices))
    throw py::type_error(concat("[", op, "] indices: expected int64, got ",
                                std::string(py::str(indices.dtype())), " with shape ",
                                shape_str(shape_of(indices))));
  NNC_CHECK(indices.flags() & py::array::c_style, op, "indices: expected a C-contiguous array");
  return aligned_data<int64_t>(op, "indices", indices);
}

template <class T>
py::array_t<T> embedding_forward_py(const py::array& indices, const py::array& w) {
  const char* op = "embedding";
  const int64_t* pi = index_data(op, indices);
  const T* pw = cdata<T>(op, "weight", w, 2);
  const EmbeddingShape s{static_cast<int64_t>(indices.size()), w.shape(0), w.shape(1)};
  std::vector<int64_t> shape = shape_of(indices);
  shape.push_back(s.dim);
  auto y = empty_like_shape<T>(shape);
  T* py_ = y.mutable_data();
  {
    py::gil_scoped_release nogil;
    NNC_PROFILE("embedding.forward", 0, (sizeof(T) * 2.0 * s.dim + sizeof(int64_t)) * s.count,
                indices, w);
    embedding_forward<T>(pi, pw, py_, s);
  }
  return y;
}

template <class T>
py::array_t<T> embedding_backward_py(const py::array& dy, const py::array& indices,
                                     int64_t num_embeddings, int64_t padding_idx) {
  const char* op = "embedding";
  const int64_t* pi = index_data(op, indices);
  const T* pdy = cdata<T>(op, "dy", dy);
  NNC_CHECK(num_embeddings > 0, op, "num_embeddings must be positive, got ", num_embeddings);
  std::vector<int64_t> lead = shape_of(dy);
  NNC_CHECK(!lead.empty(), op, "dy: expected indices.shape + (embedding_dim,), got shape ()");
  const int64_t dim = lead.back();
  lead.pop_back();
  NNC_CHECK(lead == shape_of(indices), op, "dy: expected shape indices.shape + (", dim,
            ",) with indices ", shape_str(shape_of(indices)), ", got ", shape_str(shape_of(dy)));
  const EmbeddingShape s{static_cast<int64_t>(indices.size()), num_embeddings, dim};
  auto dw = empty_like_shape<T>({num_embeddings, dim}, op);
  T* pdw = dw.mutable_data();
  {
    py::gil_scoped_release nogil;
    NNC_PROFILE("embedding.backward", double(s.count) * s.dim,
                sizeof(T) * (double(s.count) * s.dim + double(s.num_embeddings) * s.dim), indices);
    embedding_backward<T>(pi, pdy, pdw, padding_idx, s);
  }
  return dw;
}

}  // namespace

void bind_embedding(py::module_& m) {
  def_float(m, "embedding_forward", {"embedding", "weight", 1}, NNC_BOTH(embedding_forward_py),
            py::arg("indices"), py::arg("weight"), "y[..., :] = weight[indices[...], :].");
  def_float(m, "embedding_backward", {"embedding", "dy", 0}, NNC_BOTH(embedding_backward_py),
            py::arg("dy"), py::arg("indices"), py::arg("num_embeddings"),
            py::arg("padding_idx") = -1,
            "dw [num_embeddings, D]: rows of dy added at their indices; padding_idx (>= 0) "
            "skipped.");
}

}  // namespace nnc
