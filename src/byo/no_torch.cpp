// Built only when trawl is configured without LibTorch (-DTRAWL_WITH_TORCH=OFF).
#include "byo/classifier.h"
#include "core/error.h"

namespace trawl::byo {
namespace {
[[noreturn]] void no_torch() {
  throw UsageError("torchscript models: this trawl was built without LibTorch (TRAWL_WITH_TORCH=OFF)");
}
}  // namespace
train::ModelHeader import_torchscript(const ImportOptions&) { no_torch(); }
void check_module(const std::string&, const std::vector<std::string>&, bool, int, size_t, const std::string&) { no_torch(); }
std::unique_ptr<train::Model> load_torchscript_model(const std::string&, int) { no_torch(); }
void register_torchscript_models() {}
}  // namespace trawl::byo
