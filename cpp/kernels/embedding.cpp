#include "kernels/embedding.h"

#include <omp.h>

#include <algorithm>

#include "common/check.h"
#include "common/parallel.h"

namespace nnc {

template <class T>
void embedding_forward(const int64_t* indices, const T* weight, T* y, const EmbeddingShape& s) {
  for (int64_t i = 0; i < s.count; ++i)
    NNC_CHECK(indices[i] >= 0 && indices[i] < s.num_embeddings, "embedding", "index ",
              indices[i], " is out of range for num_embeddings=", s.num_embeddings);
  auto row = [&](int64_t i) {
    const T* src = weight + indices[i] * s.dim;
    std::copy(src, src + s.dim, y + i * s.dim);
  };
  if (run_parallel(s.count * s.dim) && s.count > 1) {
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < s.count; ++i) row(i);
  } else {
    for (int64_t i = 0; i < s.count; ++i) row(i);
  }
}

template <class T>
void embedding_backward(const int64_t* indices, const T* dy, T* dw, int64_t padding_idx,
                        const EmbeddingShape& s) {
  for (int64_t i = 0; i < s.count; ++i)
    NNC_CHECK(indices[i] >= 0 && indices[i] < s.num_embeddings, "embedding", "index ",
              indices[i], " is out of range for num_embeddings=", s.num_embeddings);
  // Columns [c0, c1) of every row: threads own disjoint columns, so no two threads add into
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
  const int threads = get_num_threads();
  if (run_parallel(s.count * s.dim) && s.dim >= 32 * threads) {
#pragma omp parallel num_threads(threads)
    {
      const int64_t nt = omp_get_num_threads(), t = omp_get_thread_num();
      const int64_t per = ((s.dim + nt - 1) / nt + 7) / 8 * 8;
      const int64_t c0 = std::min(s.dim, t * per), c1 = std::min(s.dim, c0 + per);
      if (c1 > c0) columns(c0, c1);
    }
  } else {
    columns(0, s.dim);
  }
}

#define NNC_INSTANTIATE(T)                                                                     \
  template void embedding_forward<T>(const int64_t*, const T*, T*, const EmbeddingShape&);     \
  template void embedding_backward<T>(const int64_t*, const T*, T*, int64_t, const EmbeddingShape&);
NNC_INSTANTIATE(float)
NNC_INSTANTIATE(double)
#undef NNC_INSTANTIATE

}  // namespace nnc
