#include "kernels/linear.h"

#include "common/eigen_map.h"
#include "common/parallel.h"

namespace nnc {

namespace {

template <class Dst, class Expr>
void assign_product(Dst& c, const Expr& product, bool accumulate) {
  if (accumulate)
    c.noalias() += product;
  else
    c.noalias() = product;
}

}  // namespace

template <class T>
void gemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, const T* a, const T* b,
          T* c, bool accumulate) {
  MapMat<T> C(c, m, n);
  if (k == 0) {
    if (!accumulate) C.setZero();
    return;
  }
  MapConstMat<T> A(a, trans_a ? k : m, trans_a ? m : k);
  MapConstMat<T> B(b, trans_b ? n : k, trans_b ? k : n);
  if (!trans_a && !trans_b)
    assign_product(C, A * B, accumulate);
  else if (!trans_a && trans_b)
    assign_product(C, A * B.transpose(), accumulate);
  else if (trans_a && !trans_b)
    assign_product(C, A.transpose() * B, accumulate);
  else
    assign_product(C, A.transpose() * B.transpose(), accumulate);
}

namespace {

// NOTE: many small products in a batch scale better one-per-thread than with Eigen's threaded
// GEMM on each (which barely parallelises small matrices).
bool batch_in_parallel(const MatmulShape& s) {
  return s.batch >= 2 * get_num_threads() && get_num_threads() > 1;
}

}  // namespace

template <class T>
void matmul_forward(const T* a, const T* b, T* y, const MatmulShape& s) {
  const int64_t sa = s.m * s.k, sb = s.k * s.n, sy = s.m * s.n;
  if (batch_in_parallel(s)) {
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < s.batch; ++i)
      gemm<T>(false, false, s.m, s.n, s.k, a + i * sa, b + i * sb, y + i * sy, false);
  } else {
    for (int64_t i = 0; i < s.batch; ++i)
      gemm<T>(false, false, s.m, s.n, s.k, a + i * sa, b + i * sb, y + i * sy, false);
  }
}

template <class T>
void matmul_backward(const T* dy, const T* a, const T* b, T* da, T* db, const MatmulShape& s) {
  const int64_t sa = s.m * s.k, sb = s.k * s.n, sy = s.m * s.n;
  auto one = [&](int64_t i) {
    if (da) gemm<T>(false, true, s.m, s.k, s.n, dy + i * sy, b + i * sb, da + i * sa, false);
    if (db) gemm<T>(true, false, s.k, s.n, s.m, a + i * sa, dy + i * sy, db + i * sb, false);
  };
  if (batch_in_parallel(s)) {
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < s.batch; ++i) one(i);
  } else {
    for (int64_t i = 0; i < s.batch; ++i) one(i);
  }
}

template <class T>
void linear_forward(const T* x, const T* w, const T* b, T* y, const LinearShape& s) {
  MapMat<T> Y(y, s.rows, s.out_features);
  if (b) {
    Y.rowwise() = MapConstVec<T>(b, s.out_features).transpose();
  }
  gemm<T>(false, true, s.rows, s.out_features, s.in_features, x, w, y, b != nullptr);
}

template <class T>
void linear_backward(const T* dy, const T* x, const T* w, T* dx, T* dw, T* db,
                     const LinearShape& s) {
  if (dx) gemm<T>(false, false, s.rows, s.in_features, s.out_features, dy, w, dx, false);
  if (dw) gemm<T>(true, false, s.out_features, s.in_features, s.rows, dy, x, dw, false);
  if (db) {
    // NOTE: row by row, not Eigen's colwise().sum(): its packet peeling depends on the address of
    // dy, so the same numbers could sum differently and break bit-identical reruns.
    MapArr<T> acc(db, s.out_features);
    acc.setZero();
    for (int64_t r = 0; r < s.rows; ++r) acc += MapConstArr<T>(dy + r * s.out_features, s.out_features);
  }
}

#define NNC_INSTANTIATE(T)                                                                      \
  template void gemm<T>(bool, bool, int64_t, int64_t, int64_t, const T*, const T*, T*, bool);  \
  template void matmul_forward<T>(const T*, const T*, T*, const MatmulShape&);                 \
  template void matmul_backward<T>(const T*, const T*, const T*, T*, T*, const MatmulShape&);  \
  template void linear_forward<T>(const T*, const T*, const T*, T*, const LinearShape&);       \
  template void linear_backward<T>(const T*, const T*, const T*, T*, T*, T*, const LinearShape&);
NNC_INSTANTIATE(float)
NNC_INSTANTIATE(double)
#undef NNC_INSTANTIATE

}  // namespace nnc
