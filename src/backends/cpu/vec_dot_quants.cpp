// Reference dot products of the further block formats (filled in by the K-quant work).
#include "backends/cpu/vec_dot.h"

namespace db::cpu {

const DotTraits* dot_traits_ref_quants(DType) { return nullptr; }

}  // namespace db::cpu
