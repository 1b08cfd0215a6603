// The pool family: 2-D max, average and adaptive average pooling, NCHW, row-major.
#pragma once
#include <cstdint>

namespace nnc {

struct Pool2dShape {
  int64_t planes, h, w;  // x: [planes = n * c, h, w]
  int64_t oh, ow;        // y: [planes, oh, ow]
  int64_t kh, kw, stride_h, stride_w, pad_h, pad_w, dil_h, dil_w;
};

// Output size as PyTorch computes it (ceil_mode drops a window that starts in the padding);
// validates kernel, stride, padding (<= half the kernel) and dilation, naming `op` in errors.
Pool2dShape pool2d_shape(const char* op, int64_t planes, int64_t h, int64_t w, int64_t kh,
                         int64_t kw, int64_t stride_h, int64_t stride_w, int64_t pad_h,
                         int64_t pad_w, int64_t dil_h, int64_t dil_w, bool ceil_mode);

// y = max over the window, idx = flat h*w position of the max in its plane (first max; NaN wins,
// as in PyTorch). Threading: OpenMP over planes.
template <class T>
void max_pool2d_forward(const T* x, T* y, int64_t* idx, const Pool2dShape& s);

// dx[plane, idx] += dy (dx zeroed first). Threading: OpenMP over planes.
template <class T>
void max_pool2d_backward(const T* dy, const int64_t* idx, T* dx, const Pool2dShape& s);

// Whether a max pool is 2x2, stride 2, no padding or dilation, over even planes (h = 2 oh,
// w = 2 ow): the common case, which max_pool2d_2x2_* run with a byte per window for indices.
bool max_pool2d_is_even_2x2(const Pool2dShape& s);

// y = max over each 2x2 window as max_pool2d_forward, tap = which of the window's four elements
// (0..3, row-major) it is (s: max_pool2d_is_even_2x2). Threading: OpenMP over planes.
template <class T>
void max_pool2d_2x2_forward(const T* x, T* y, uint8_t* tap, const Pool2dShape& s);

// dx = dy at each window's tap (only its low two bits are read, so any byte is safe), 0 at
// the window's other three elements; every element of dx written. Threading: OpenMP over planes.
template <class T>
void max_pool2d_2x2_backward(const T* dy, const uint8_t* tap, T* dx, const Pool2dShape& s);

// y = sum(window) / divisor; divisor = divisor_override if > 0, else the window clipped to the
// padded input (count_include_pad) or to the input. Threading: OpenMP over planes.
template <class T>
void avg_pool2d_forward(const T* x, T* y, const Pool2dShape& s, bool count_include_pad,
                        int64_t divisor_override);

// dx[window] += dy / divisor, the forward's divisor. Threading: OpenMP over planes.
template <class T>
void avg_pool2d_backward(const T* dy, T* dx, const Pool2dShape& s, bool count_include_pad,
                         int64_t divisor_override);

// y[p,o,q] = mean of x[p, floor(o*h/oh) : ceil((o+1)*h/oh), same for q]. Pool2dShape: planes,
// h, w, oh, ow only. Threading: OpenMP over planes.
template <class T>
void adaptive_avg_pool2d_forward(const T* x, T* y, const Pool2dShape& s);

// dx[window] += dy / window size. Threading: OpenMP over planes.
template <class T>
void adaptive_avg_pool2d_backward(const T* dy, T* dx, const Pool2dShape& s);

}  // namespace nnc
