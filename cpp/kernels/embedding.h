// The embedding family: rows of a weight table gathered by integer indices, and the gradient
// scattered back (design.md: one family name in every layer, embedding_forward/backward).
#pragma once
#include <cstdint>

namespace nnc {

struct EmbeddingShape {
  int64_t count, num_embeddings, dim;  // indices: [count], weight: [num_embeddings, dim]
};

// y[i, :] = weight[indices[i], :]; every index checked (ValueError) before any copy.
// Threading: over fixed blocks of indices above the work threshold.
template <class T>
void embedding_forward(const int64_t* indices, const T* weight, T* y, const EmbeddingShape& s);

// dw = 0; dw[indices[i], :] += dy[i, :] in index order, skipping rows equal to padding_idx
// (< 0: none). Threading: over fixed column blocks (each row still summed in index order).
template <class T>
void embedding_backward(const int64_t* indices, const T* dy, T* dw, int64_t padding_idx,
                        const EmbeddingShape& s);

}  // namespace nnc
