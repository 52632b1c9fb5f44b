// Alpha-beta models of the collectives a parallel layout needs, over one device profile's links:
// a switched fabric (NVLink/NVSwitch, UB, PCIe switch), a full mesh (HCCS on Atlas 800 A2,
// xGMI), and between nodes one NIC per accelerator (RoCE / InfiniBand), hierarchically when a
// group spans nodes. Ring algorithms, nccl-tests conventions:
//   all-reduce      t = 2(n-1)/n · S / B + α        (S = buffer per rank)
//   all-gather      t =  (n-1)/n · S / B + α        (S = gathered output per rank)
//   reduce-scatter  t =  (n-1)/n · S / B + α        (S = input per rank)
//   all-to-all      t =  (n-1)/n · S / B + α        (S = bytes one rank sends in all)
//   send/recv       t =  S / B_p2p + α
// α is the link class's fixed cost per collective (msmodeling charges a static 10 µs per
// communication op); a hierarchical collective pays it once per phase.
// B is the bus bandwidth one rank reaches: link rate one way × the link class's measured
// efficiency (data/calibration/planner.toml says where each efficiency came from).
#pragma once
#include <string>

#include "perf/calibration.h"
#include "perf/device_profile.h"

namespace db::perf {

enum class Collective { AllReduce, AllGather, ReduceScatter, AllToAll, SendRecv };
std::string_view collective_name(Collective c);

// How a group's ranks sit on the machine: `ranks` ranks, consecutive ranks `stride` devices
// apart (tensor parallelism is innermost: stride 1; pipeline and data parallel groups are strided).
struct Group {
  int ranks = 1;
  int stride = 1;
};

class Collectives {
 public:
  explicit Collectives(const DeviceProfile& profile, const Calibration& cal = calibration());

  // Seconds for one collective of `bytes` (see the table above for what S means) in `group`.
  double seconds(Collective c, double bytes, Group group) const;
  // Bus bandwidth in bytes/s that nccl-tests would report for a large message in this group
  // (the quantity of the allgather_busbw_gbs rows).
  double bus_bandwidth(Collective c, Group group) const;

  int node_size() const { return node_size_; }
  const LinkClass& link() const { return *link_; }
  const NetworkClass& network() const { return *network_; }
  // One line: "nvlink (switch, 8 per node, 360 GB/s bus) + network 40 GB/s".
  std::string describe() const;

 private:
  int ranks_per_node(Group g) const;
  double intra_bandwidth(int ranks_in_node) const;  // bytes/s one rank reaches inside a node
  double p2p_bandwidth() const;
  double ring(Collective c, double bytes, int n, double bw, double alpha) const;

  const LinkClass* link_;
  const NetworkClass* network_;
  int node_size_;
  double link_one_way_ = 0;  // bytes/s per device, all links together, one direction
  double nic_ = 0;           // bytes/s per device between nodes, after efficiency
  double alpha_intra_ = 0, alpha_inter_ = 0;
};

}  // namespace db::perf
