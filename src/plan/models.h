// Model lookup for the planner: a model id ("llama-3.1-8b") to the PlanModel the planner costs.
#pragma once
#include <string>
#include <vector>

#include "plan/planner.h"

namespace db::plan {

// Throws "[plan] unknown model '<id>' (known: ...)".
PlanModel find_model(const std::string& id);
// The planner's view of a model configuration: the real config and its two-layer pair.
PlanModel plan_model(const std::string& id, const ModelConfig& config);
std::vector<std::string> model_ids();

}  // namespace db::plan
