#include "bindings/common.h"

namespace nnc {

void bind_optim(py::module_& m) { (void)m; }

}  // namespace nnc
