// The conv family: 2-D convolution (conv1d is the H = 1 case), NCHW, row-major (pooling:
// pool.h).
#pragma once
#include <cstdint>

namespace nnc {

struct Conv2dShape {
  int64_t n, c, h, w;       // x: [n, c, h, w]
  int64_t k, kh, kw;        // weight: [k, c / groups, kh, kw], bias: [k]
  int64_t oh, ow;           // y: [n, k, oh, ow]
  int64_t stride_h, stride_w, pad_h, pad_w, dil_h, dil_w, groups;
};

// Validates the arguments (negative padding, groups, a kernel larger than the padded input...)
// and fills in oh, ow; throws std::invalid_argument("[conv2d] ...") naming the shapes.
Conv2dShape conv2d_shape(int64_t n, int64_t c, int64_t h, int64_t w, int64_t k, int64_t wc,
                         int64_t kh, int64_t kw, int64_t stride_h, int64_t stride_w,
                         int64_t pad_h, int64_t pad_w, int64_t dil_h, int64_t dil_w,
                         int64_t groups);

// y[n,k,oh,ow] = b[k] + sum_{c in group(k), i, j} w[k,c,i,j] * x[n,c,oh*s-p+i*d, ow*s-p+j*d].
// Kernel per shape (conv.cpp's dispatch): a direct kernel for few taps per output (the
// 1-channel first layer; at stride 1 the forward up to 8 channels of 3x3), Winograd and a
// register-blocked direct kernel for other stride-1 layers (forward, dx and dw), im2col + gemm
// for the rest. Threading: the pool over images (or (image, chunk) items); see each kernel's
// comment.
template <class T>
void conv2d_forward(const T* x, const T* w, const T* b, T* y, const Conv2dShape& s);

// dx = conv_transpose(dy, w), dw[k,c,i,j] = sum_{n,oh,ow} dy * x[shifted], db[k] = sum dy[n,k];
// null outputs are skipped. Reductions run in a fixed order for a given thread count.
template <class T>
void conv2d_backward(const T* dy, const T* x, const T* w, T* dx, T* dw, T* db,
                     const Conv2dShape& s);

}  // namespace nnc
