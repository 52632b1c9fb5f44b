// Embedding lookup: dequantizes the selected rows of the table to f32.
#include "backends/cpu/kernels.h"
#include "backends/cpu/row_iter.h"
#include "drawbridge/error.h"

namespace db::cpu {

void kernel_embed(const KernelCtx& ctx, const Graph& g, const Node& n) {
  const Tensor& table = g.node(n.src[0]).out;
  const int32_t* ids = g.node(n.src[1]).out.as<int32_t>();
  const auto& info = dtype_info(table.dtype);
  int64_t r0, r1;
  split_rows(n.out.ne[1], ctx.ith, ctx.nth, r0, r1);
  for (int64_t r = r0; r < r1; ++r) {
    // Ids come from the tokenizer or the user; the generation loop validates them, and this
    // check keeps a bad id from reading outside the table.
    const int64_t id = ids[r] >= 0 && ids[r] < table.ne[1] ? ids[r] : 0;
    info.to_float(table.row(id), frow(n.out, r), table.ne[0]);
  }
}

}  // namespace db::cpu
