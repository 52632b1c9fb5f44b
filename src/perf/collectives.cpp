#include "perf/collectives.h"

#include <algorithm>
#include <cmath>

#include "drawbridge/error.h"

namespace db::perf {

std::string_view collective_name(Collective c) {
  switch (c) {
    case Collective::AllReduce: return "all-reduce";
    case Collective::AllGather: return "all-gather";
    case Collective::ReduceScatter: return "reduce-scatter";
    case Collective::AllToAll: return "all-to-all";
    default: return "send/recv";
  }
}

Collectives::Collectives(const DeviceProfile& p, const Calibration& cal)
    : link_(&cal.link_for(p)), network_(&cal.network_for(p)), node_size_(int(link_->node_size.value)) {
  // A fixed-rate class (PCIe) ignores the profile; otherwise the profile's aggregate link rate.
  const double gbps = link_->bandwidth_gbps.value > 0 ? link_->bandwidth_gbps.value
                                                       : p.number("link.bandwidth_gbps").value_or(0);
  link_one_way_ = gbps * 1e9 * link_->direction_share.value;
  nic_ = network_->bandwidth_gbps.value * 1e9 * network_->efficiency.value;
  alpha_intra_ = link_->latency_us.value * 1e-6;
  alpha_inter_ = network_->latency_us.value * 1e-6;
}

int Collectives::ranks_per_node(Group g) const {
  return std::clamp(node_size_ / std::max(1, g.stride), 1, g.ranks);
}

double Collectives::intra_bandwidth(int ranks_in_node) const {
  const double eff = link_->efficiency.value;
  if (link_->topology == LinkTopology::Switch) return link_one_way_ * eff;
  // Full mesh: one link per peer; a group of n uses n-1 of the node_size-1 links.
  const double per_link = link_one_way_ / std::max(1, node_size_ - 1);
  return per_link * std::max(1, ranks_in_node - 1) * eff;
}

double Collectives::p2p_bandwidth() const {
  const double eff = link_->efficiency.value;
  if (link_->topology == LinkTopology::Switch) return link_one_way_ * eff;
  return link_one_way_ / std::max(1, node_size_ - 1) * eff;
}

double Collectives::ring(Collective c, double bytes, int n, double bw, double alpha) const {
  if (n <= 1 || bytes <= 0) return 0;
  const double share = c == Collective::SendRecv ? 1.0 : double(n - 1) / n;
  switch (c) {
    case Collective::AllReduce: return 2 * share * bytes / bw + alpha;
    default: return share * bytes / bw + alpha;
  }
}

double Collectives::seconds(Collective c, double bytes, Group g) const {
  DB_CHECK(g.ranks >= 1 && g.stride >= 1, "[collectives] a group needs ranks >= 1 and stride >= 1 (got {}, {})",
           g.ranks, g.stride);
  DB_CHECK(std::isfinite(bytes) && bytes >= 0, "[collectives] message size {} is invalid", bytes);
  if (g.ranks == 1 || bytes == 0) return 0;
  const int local = ranks_per_node(g);
  const int nodes = (g.ranks + local - 1) / local;
  if (c == Collective::SendRecv)
    return nodes > 1 || g.stride >= node_size_ ? ring(c, bytes, 2, nic_, alpha_inter_)
                                               : ring(c, bytes, 2, p2p_bandwidth(), alpha_intra_);
  const double bw = intra_bandwidth(local);
  if (nodes == 1) return ring(c, bytes, local, bw, alpha_intra_);
  // Hierarchical: inside each node over the links, across nodes over every rank's own NIC in
  // parallel, each NIC carrying 1/local of the buffer.
  switch (c) {
    case Collective::AllReduce:
      return ring(Collective::ReduceScatter, bytes, local, bw, alpha_intra_) +
             ring(Collective::AllReduce, bytes / local, nodes, nic_, alpha_inter_) +
             ring(Collective::AllGather, bytes, local, bw, alpha_intra_);
    case Collective::AllGather:
    case Collective::ReduceScatter:
      return ring(c, bytes, local, bw, alpha_intra_) + ring(c, bytes / local, nodes, nic_, alpha_inter_);
    default: {  // all-to-all: the share bound for other nodes crosses the NIC, the rest the links
      const double n = g.ranks;
      const double inside = bytes * (local - 1) / n / bw;
      const double across = bytes * (n - local) / n / nic_;
      return std::max(inside, across) + alpha_intra_ + alpha_inter_;
    }
  }
}

double Collectives::bus_bandwidth(Collective c, Group g) const {
  if (g.ranks <= 1) return 0;
  const double big = 1ull << 30;  // 1 GiB: latency negligible
  const double t = seconds(c, big, g);
  const double share = double(g.ranks - 1) / g.ranks;
  const double factor = c == Collective::AllReduce ? 2 * share : c == Collective::SendRecv ? 1 : share;
  return factor * big / t;
}

std::string Collectives::describe() const {
  return fmt::format("{} ({}, {} per node, {:.0f} GB/s bus per rank) + {} network {:.0f} GB/s per rank", link_->id,
                     link_->topology == LinkTopology::Switch ? "switch" : "full mesh", node_size_,
                     intra_bandwidth(node_size_) / 1e9, network_->id, nic_ / 1e9);
}

}  // namespace db::perf
