#include "kernels/optim.h"
