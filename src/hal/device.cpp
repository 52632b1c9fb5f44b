#include "drawbridge/device.h"

#include <fmt/format.h>

#include "drawbridge/error.h"

namespace db {

std::string_view support_name(Support s) {
  switch (s) {
    case Support::Native: return "native";
    case Support::Emulated: return "emulated";
    default: return "none";
  }
}

Registry& Registry::global() {
  static Registry registry;
  return registry;
}

void Registry::add_kind(const std::string& kind, Factory factory) { factories_[kind] = std::move(factory); }

std::unique_ptr<Device> Registry::create(const std::string& id, const DeviceOptions& options) const {
  const std::string kind = id.substr(0, id.find(':'));
  auto it = factories_.find(kind);
  if (it == factories_.end()) {
    std::string known;
    for (const auto& [k, f] : factories_) known += (known.empty() ? "" : ", ") + k;
    fail("[device] unknown device '{}' (known kinds: {})", id, known);
  }
  return it->second(id, options);
}

std::vector<std::string> Registry::kinds() const {
  std::vector<std::string> out;
  for (const auto& [k, f] : factories_) out.push_back(k);
  return out;
}

Placement schedule(const Graph& g, const std::vector<const Device*>& devices, bool allow_fallback) {
  DB_CHECK(!devices.empty(), "[scheduler] no device to place the graph on");
  const size_t n = g.nodes().size();
  Placement p;
  p.device.assign(n, -1);
  p.support.assign(n, Support::Native);
  p.reason.assign(n, "");
  for (size_t i = 0; i < n; ++i) {
    const Node& node = g.nodes()[i];
    if (node.op == Op::Leaf || node.op == Op::View) {
      p.reason[i] = node.op == Op::Leaf ? "input" : "view (no compute)";
      continue;
    }
    std::string first_why;
    for (size_t d = 0; d < devices.size(); ++d) {
      std::string why;
      const Support s = devices[d]->supports(g, node, &why);
      if (d == 0 && s == Support::None) first_why = why;
      if (s == Support::None) continue;
      if (d > 0) {
        DB_CHECK(allow_fallback, "[{}] '{}' is not supported on {}: {} (--no-fallback)", op_name(node.op),
                 node.out.name, devices[0]->props().id, first_why);
        ++p.fallbacks;
      }
      p.device[i] = int(d);
      p.support[i] = s;
      p.reason[i] = d == 0 ? (why.empty() ? std::string(support_name(s)) : why)
                           : fmt::format("fallback: {} lacks it ({})", devices[0]->props().id, first_why);
      break;
    }
    DB_CHECK(p.device[i] >= 0, "[{}] '{}' is not supported on {}: {}", op_name(node.op), node.out.name,
             devices[0]->props().id, first_why);
  }
  return p;
}

std::string explain(const Graph& g, const Placement& p, const std::vector<const Device*>& devices) {
  std::string out = fmt::format("{:>5}  {:<10} {:<24} {:<18} {:<6} {:<18} {}\n", "node", "op", "name", "shape",
                                "dtype", "device", "why");
  for (size_t i = 0; i < g.nodes().size(); ++i) {
    const Node& n = g.nodes()[i];
    if (p.device[i] < 0) continue;
    out += fmt::format("{:>5}  {:<10} {:<24} {:<18} {:<6} {:<18} {}\n", i, op_name(n.op), n.out.name,
                       n.out.shape_str(), dtype_name(n.src[0] >= 0 ? g.node(n.src[0]).out.dtype : n.out.dtype),
                       devices[size_t(p.device[i])]->props().id, p.reason[i]);
  }
  return out;
}

}  // namespace db
