// The hardware abstraction: devices (real or virtual) with immutable properties, a support query
// per op, and graph execution; a registry of device kinds; and the scheduler that places every op
// of a graph on a device and records why.
#pragma once
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "drawbridge/buffer.h"
#include "drawbridge/graph.h"

namespace db {

enum class Support { Native, Emulated, None };
std::string_view support_name(Support s);

struct DeviceProps {
  std::string id;          // "cpu", "sim:ascend-910b2"
  std::string kind;        // "cpu", "sim", "cuda"
  std::string description; // human-readable model name
  uint64_t memory_bytes = 0;       // 0: unknown / host memory
  std::map<DType, double> peak_flops;  // dense peak per dtype (FLOP/s); absent = unknown
  double memory_bandwidth = 0;     // bytes/s; 0 = unknown
};

struct DeviceOptions {
  int n_threads = 0;  // host threads that execute (CPU and virtual devices)
};

class Device {
 public:
  virtual ~Device() = default;
  virtual const DeviceProps& props() const = 0;
  // Whether this device runs the node, and how; `why` explains Emulated and None.
  virtual Support supports(const Graph& g, const Node& n, std::string* why) const = 0;
  // Executes the whole graph. Activations stay valid until the next compute().
  virtual void compute(Graph& g) = 0;
  // The weight-packing hook, called once per model before the first compute with a graph that
  // reads every weight: the device may keep copies of weights in layouts its kernels read faster
  // (the CPU: q4_0 rows interleaved by 8), used by every later compute. Results never change.
  // Returns the bytes of packed copies made.
  virtual size_t pack_weights(const Graph& g) { (void)g; return 0; }
  virtual int n_threads() const { return 1; }
  // Memory on this device (host memory unless the device has its own).
  virtual std::unique_ptr<Buffer> allocate(size_t bytes) const { return Buffer::host(bytes); }
};

// Device kinds register a factory; ids are "<kind>" or "<kind>:<name>".
class Registry {
 public:
  using Factory = std::function<std::unique_ptr<Device>(const std::string& id, const DeviceOptions&)>;
  static Registry& global();
  void add_kind(const std::string& kind, Factory factory);
  // Creates a device by id; db::Error("[device] unknown device 'x' (known: ...)") otherwise.
  std::unique_ptr<Device> create(const std::string& id, const DeviceOptions& options) const;
  std::vector<std::string> kinds() const;

 private:
  std::map<std::string, Factory> factories_;
};

// Registers the devices built into this binary (the CPU, and others as they are added).
void register_builtin_devices();

struct Placement {
  std::vector<int> device;          // per node: index into the device list, -1 for leaves/views
  std::vector<Support> support;     // per node
  std::vector<std::string> reason;  // per node: why it went where it went
  int fallbacks = 0;                // ops placed on a later device because the first lacked them
};

// Places each op on the first device (in priority order) that supports it. With
// allow_fallback=false, an op the first device lacks is an error naming the op and the device.
Placement schedule(const Graph& g, const std::vector<const Device*>& devices, bool allow_fallback);
// One line per op: node, op, shape, dtype, device, support and reason (for --explain).
std::string explain(const Graph& g, const Placement& p, const std::vector<const Device*>& devices);

}  // namespace db
