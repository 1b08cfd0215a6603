#include "common/parallel.h"

#include <omp.h>

#include <Eigen/Core>

namespace nnc {

void set_num_threads(int n) {
  if (n < 1) n = 1;
  omp_set_num_threads(n);
  Eigen::setNbThreads(n);
}

int get_num_threads() { return omp_get_max_threads(); }

}  // namespace nnc
