// Winograd F(4x4, 3x3) conv kernels (3x3, stride 1, no dilation, one group): forward and input
// gradient (the weight gradient stays on F(2x2, 3x3), conv_winograd.cpp).
//
// Each 4x4 block of outputs is A^T [(G g G^T) . (B^T d B)] A for its 6x6 input patch d: 36
// multiplies per 16 outputs and channel pair (2.25 per output, against F(2x2, 3x3)'s 4 and a
// direct conv's 9), as 36 GEMMs over the channels (conv_winograd.h: wino_conv). The points 0,
// +-1, +-2 and inf make B^T and A^T small integers (|entries| <= 8) and G fractions of 4, 6, 12
// and 24, computed in double once per call. The larger entries cost fp32 accuracy: against a
// float64 reference on post-ReLU inputs and Kaiming weights, the worst error is 3-8e-6 of the
// largest output (F(2x2, 3x3): 2-5e-7), the median about 1e-7 (3e-8); see
// tests/ops/test_conv_winograd43.py.
#include <type_traits>
#include <vector>

#include "kernels/conv_winograd.h"

namespace nnc::conv_impl {

using namespace wino;

namespace {

template <class V>
using Elem = std::remove_cv_t<std::remove_reference_t<decltype(std::declval<V>()[0])>>;

// F(4x4, 3x3) at the points 0, 1, -1, 2, -2, inf (Lavin and Gray, 2016).
struct F43 {
  static constexpr int M = 4, A = 6;
  template <class T>
  using W = double;  // G's sixths and twenty-fourths, rounded to T once
  // B^T rows: 4 0 -5 0 1 0 / 0 -4 -4 1 1 0 / 0 4 -4 -1 1 0 / 0 -2 -1 2 1 0 / 0 2 -1 -2 1 0 /
  // 0 4 0 -5 0 1.
  template <class V>
  static void in(const V (&d)[6], V (&o)[6]) {
    const V four = splat<V>(Elem<V>(4)), five = splat<V>(Elem<V>(5)), two = splat<V>(Elem<V>(2));
    const V a = d[4] - four * d[2], b = d[3] - four * d[1];
    const V c = d[4] - d[2], e = two * (d[3] - d[1]);
    o[0] = four * d[0] - five * d[2] + d[4];
    o[1] = a + b;
    o[2] = a - b;
    o[3] = c + e;
    o[4] = c - e;
    o[5] = four * d[1] - five * d[3] + d[5];
  }
  // G rows: 1/4 0 0 / -1/6 -1/6 -1/6 / -1/6 1/6 -1/6 / 1/24 1/12 1/6 / 1/24 -1/12 1/6 / 0 0 1.
  template <class S>
  static void wt(const S (&f)[3], S (&o)[6]) {
    // Reciprocals, not divisions (which do not pipeline): off by an ulp of double at most.
    const S sixth = S(1) / 6, twelfth = S(1) / 12, c24 = S(1) / 24;
    o[0] = S(0.25) * f[0];
    o[1] = -sixth * (f[0] + f[1] + f[2]);
    o[2] = -sixth * (f[0] - f[1] + f[2]);
    o[3] = c24 * f[0] + twelfth * f[1] + sixth * f[2];
    o[4] = c24 * f[0] - twelfth * f[1] + sixth * f[2];
    o[5] = f[2];
  }
  // A^T rows: 1 1 1 1 1 0 / 0 1 -1 2 -2 0 / 0 1 1 4 4 0 / 0 1 -1 8 -8 1.
  template <class V>
  static void out(const V (&m)[6], V (&o)[4]) {
    const V two = splat<V>(Elem<V>(2)), four = splat<V>(Elem<V>(4)), eight = splat<V>(Elem<V>(8));
    const V a = m[1] + m[2], b = m[1] - m[2], c = m[3] + m[4], d = m[3] - m[4];
    o[0] = m[0] + a + c;
    o[1] = b + two * d;
    o[2] = a + four * c;
    o[3] = b + eight * d + m[5];
  }
};

}  // namespace

template <class T>
void winograd43_forward(const T* x, const T* w, const T* b, T* y, const Conv2dShape& s) {
  forward_with<F43>(x, w, b, y, s);
}

template <class T>
void winograd43_input_grad(const T* dy, const T* w, T* dx, const Conv2dShape& s) {
  input_grad_with<F43>(dy, w, dx, s);
}

#define NNC_INSTANTIATE(T)                                                                    \
  template void winograd43_forward<T>(const T*, const T*, const T*, T*, const Conv2dShape&);  \
  template void winograd43_input_grad<T>(const T*, const T*, T*, const Conv2dShape&);
NNC_INSTANTIATE(float)
NNC_INSTANTIATE(double)
#undef NNC_INSTANTIATE

}  // namespace nnc::conv_impl
