#include "bindings/common.h"

namespace nnc {

void bind_activation(py::module_& m) { (void)m; }

}  // namespace nnc
