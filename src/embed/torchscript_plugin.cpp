// embed::load_torchscript_encoder: the TorchScript encoder through trawl's LibTorch plugin.
#include "core/plugin.h"
#include "embed/encoder.h"

namespace trawl::embed {

std::unique_ptr<Encoder> load_torchscript_encoder(const TorchScriptEncoderOptions& o) {
  using Make = Encoder* (*)(const TorchScriptEncoderOptions*);
  auto make = reinterpret_cast<Make>(plugin::torch_symbol("trawl_torch_make_encoder", "--encoder torchscript"));
  return std::unique_ptr<Encoder>(make(&o));
}

}  // namespace trawl::embed
