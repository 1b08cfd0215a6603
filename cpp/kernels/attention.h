// The attention family: scaled dot-product attention, computed per (batch, head) in row blocks
// that stay in cache, small products in a register-tiled loop, larger ones through gemm().
// Dropout on the attention weights uses the activation family's counter-based mask (splitmix64
// of seed and element index), regenerated in backward, so the mask does not depend on the thread
// count.
#pragma once
#include <cstdint>

namespace nnc {

// Where the rows of one head lie, in elements: row i of head h of batch b starts at
// b * batch + h * head + i * row, and its D (or Dv) elements are contiguous. [B,H,L,D] arrays
// have {H*L*D, L*D, D}; token-major (B, L, H*D) ones {L*H*D, D, H*D}, so the head split and
// merge of multi-head attention need no copies outside the kernel.
struct HeadLayout {
  int64_t batch, head, row;
};

// The layout of a contiguous [B, H, L, D] array.
inline HeadLayout dense_layout(int64_t heads, int64_t len, int64_t d) {
  return {heads * len * d, len * d, d};
}

struct AttentionShape {
  int64_t batch, heads, lq, lk, d, dv;  // q: [B,H,Lq,D], k: [B,H,Lk,D], v: [B,H,Lk,Dv]
  // Additive mask [mask_batch, mask_heads, Lq, Lk] (mask_batch in {1, B}, mask_heads in {1, H},
  // broadcast when 1); unused when the mask pointer is null.
  int64_t mask_batch, mask_heads;
  bool causal;     // key j is hidden from query i when j > i (PyTorch's top-left alignment)
  double scale;    // logits = scale * q k^T
  double dropout;  // probability of zeroing a weight, in [0, 1)
  uint64_t seed;   // dropout stream; weight (b,h,i,j) uses output ((b*H+h)*Lq+i)*Lk+j
  // Layouts of q, k, v and o; gradients dq, dk, dv and dout share those of q, k, v and o. The
  // weights p (and the mask) are always dense [B,H,Lq,Lk].
  HeadLayout lay_q, lay_k, lay_v, lay_o;
};

// Heads whose rows are not adjacent (token-major layouts) are copied to per-thread scratch and
// back, inside the parallel loop where they stay in cache: a whole batch entry's heads at once,
// token row by token row, when they fit in L2.
// p = softmax(scale * q k^T + mask (+ causal -inf)) over keys, o = dropout(p) @ v; p is saved
// for backward (null p: not wanted, not written). A query whose keys are all masked gets p = 0 and o = 0 (PyTorch's CPU kernel).
// Threading: the pool over batch entries (or (batch, head) pairs) in dynamic chunks, serial
// products inside; the result does not depend on the thread count.
template <class T>
void attention_forward(const T* q, const T* k, const T* v, const T* mask, T* o, T* p,
                       const AttentionShape& s);

// With pd = dropout(p): dv = pd^T do, dpd = do v^T, dp = dropout(dpd),
// ds = p * (dp - rowsum(dp * p)), dq = scale ds k, dk = scale ds^T q; null outputs are skipped.
// Threading: as forward.
template <class T>
void attention_backward(const T* dout, const T* q, const T* k, const T* v, const T* p, T* dq,
                        T* dk, T* dv, const AttentionShape& s);

}  // namespace nnc
