// Row-major Eigen views over raw pointers: every kernel sees arrays as NumPy lays them out.
#pragma once
#include <Eigen/Core>

namespace nnc {

template <class T>
using MatrixR = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
template <class T>
using MapMat = Eigen::Map<MatrixR<T>>;
template <class T>
using MapConstMat = Eigen::Map<const MatrixR<T>>;
template <class T>
using MapVec = Eigen::Map<Eigen::Matrix<T, Eigen::Dynamic, 1>>;
template <class T>
using MapConstVec = Eigen::Map<const Eigen::Matrix<T, Eigen::Dynamic, 1>>;
template <class T>
using MapArr = Eigen::Map<Eigen::Array<T, Eigen::Dynamic, 1>>;
template <class T>
using MapConstArr = Eigen::Map<const Eigen::Array<T, Eigen::Dynamic, 1>>;

}  // namespace nnc
