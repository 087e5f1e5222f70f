// The simulation metrics file (trawl-simulate's <output>/metrics.tsv, read by trawl-report):
// its format name and version, shared by the one writer (stages/simulate_eval.cpp) and the one
// reader (tools/trawl-report.cpp). Layout in docs/FORMATS.md "Simulation outputs".
#pragma once

namespace trawl::formats {

constexpr const char* kSimulateMetricsFormat = "simulate-metrics";
/// 2: F1 and the ranking metrics on a held-out test split (1 measured the unlabelled rest).
constexpr int kSimulateMetricsVersion = 2;

}  // namespace trawl::formats
