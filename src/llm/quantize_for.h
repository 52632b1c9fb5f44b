// `drawbridge quantize --for <device>`: the weight format a device computes best, reasoned from its
// profile (a sourced software.preferred_weight_format, else its native formats and the cost model).
#pragma once
#include <string>

#include "drawbridge/quantize.h"
#include "perf/device_profile.h"

namespace db {

struct WeightFormatChoice {
  QuantType type;
  std::string why;  // one or two sentences naming the fields and numbers the choice rests on
};

// Among the quantize types whose matrices the device computes natively (no dequantizing on load,
// no emulation), the one with the shortest modeled decode GEMV (4096 × 4096, one token); ties go to
// more bits per weight. Throws db::Error("[quantize] ...") when the device computes none of them.
WeightFormatChoice preferred_weight_format(const perf::DeviceProfile& profile);

// Resolves "sim:<id>", "<id>", "host" or "cpu" (the calibrated host) to a profile, or throws.
const perf::DeviceProfile& profile_for_device(const std::string& device);

}  // namespace db
