// Picks the fastest dot-product kernels this CPU supports (filled in by the CPU performance work).
#include "backends/cpu/vec_dot.h"

namespace db::cpu {

const DotTraits* dot_traits(DType weight) { return dot_traits_ref(weight); }

}  // namespace db::cpu
