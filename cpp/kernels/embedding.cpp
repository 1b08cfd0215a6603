#include "kernels/embedding.h"

#include <algorithm>

#include "common/check.h"
#include "common/parallel.h"

namespace nnc {

namespace {
constexpr int64_t kRowsPerBlock = 64;  // rows of y per parallel block (fixed: any thread count)
}

template <class T>
void embedding_forward(const int64_t* indices, const T* weight, T* y, const EmbeddingShape& s) {
  for (int64_t i = 0; i < s.count; ++i)
    NNC_CHECK(indices[i] >= 0 && indices[i] < s.num_embeddings, "embedding", "index ",
              indices[i], " is out of range for num_embeddings=", s.num_embeddings);
  parallel_blocks(s.count, kRowsPerBlock, s.count * s.dim, [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i) {
      const T* src = weight + indices[i] * s.dim;
      std::copy(src, src + s.dim, y + i * s.dim);
    }
  });
}

template <class T>
void embedding_backward(const int64_t* indices, const T* dy, T* dw, int64_t padding_idx,
                        const EmbeddingShape& s) {
  for (int64_t i = 0; i < s.count; ++i)
    NNC_CHECK(indices[i] >= 0 && indices[i] < s.num_embeddings, "embedding", "index ",
              indices[i], " is out of range for num_embeddings=", s.num_embeddings);
  // Columns [c0, c1) of every row: blocks own disjoint columns, so no two threads add into
  // the same element and each element sums its contributions in index order.
  auto columns = [&](int64_t c0, int64_t c1) {
    for (int64_t r = 0; r < s.num_embeddings; ++r)
      std::fill(dw + r * s.dim + c0, dw + r * s.dim + c1, T(0));
    for (int64_t i = 0; i < s.count; ++i) {
      if (indices[i] == padding_idx) continue;
      const T* src = dy + i * s.dim;
      T* dst = dw + indices[i] * s.dim;
      for (int64_t c = c0; c < c1; ++c) dst[c] += src[c];
    }
  };
  const int64_t per = std::max<int64_t>(32, (s.dim / 8 + 7) / 8 * 8);
  parallel_blocks(s.dim, per, s.count * s.dim, columns);
}

#define NNC_INSTANTIATE(T)                                                                     \
  template void embedding_forward<T>(const int64_t*, const T*, T*, const EmbeddingShape&);     \
  template void embedding_backward<T>(const int64_t*, const T*, T*, int64_t, const EmbeddingShape&);
NNC_INSTANTIATE(float)
NNC_INSTANTIATE(double)
#undef NNC_INSTANTIATE

}  // namespace nnc
