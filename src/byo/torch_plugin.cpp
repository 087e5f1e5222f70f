// The entry points of trawl's LibTorch plugin, libtrawl-torch.so (core/plugin.h): plain C
// symbols so that dlsym finds them by name. Ownership of the returned object passes to the caller
// (the binary deletes it through the virtual destructor, whose code is the plugin's).
#include "byo/classifier.h"
#include "embed/encoder.h"

extern "C" {

__attribute__((visibility("default"))) trawl::train::Model* trawl_torch_load_model(const char* path, int threads) {
  return trawl::byo::load_torchscript_model(path, threads).release();
}

__attribute__((visibility("default"))) trawl::embed::Encoder* trawl_torch_make_encoder(
    const trawl::embed::TorchScriptEncoderOptions* o) {
  return trawl::embed::make_torchscript_encoder(*o).release();
}

}  // extern "C"
