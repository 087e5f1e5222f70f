// Built only when trawl is configured without LibTorch (-DTRAWL_WITH_TORCH=OFF).
#include "core/error.h"
#include "embed/encoder.h"

namespace trawl::embed {
std::unique_ptr<Encoder> make_torchscript_encoder(const TorchScriptEncoderOptions&) {
  throw UsageError("--encoder torchscript: this trawl was built without LibTorch (TRAWL_WITH_TORCH=OFF)");
}
}  // namespace trawl::embed
