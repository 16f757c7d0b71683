#pragma once
// The built-in model plugins, registered by register_models().
#include "vigil/runtime/model.hpp"

namespace vigil::models::pipeline {

extern const runtime::ModelPlugin kPcaAnomalyPlugin;
extern const runtime::ModelPlugin kMahalanobisPlugin;
extern const runtime::ModelPlugin kEwmaPlugin;
extern const runtime::ModelPlugin kCusumPlugin;
extern const runtime::ModelPlugin kRulPlugin;
extern const runtime::ModelPlugin kSpectrumPlugin;

}  // namespace vigil::models::pipeline
