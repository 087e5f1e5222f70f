// The entry points of trawl's LibTorch plugin, libtrawl-torch.so (core/plugin.h): plain C
// symbols so that dlsym finds them by name. Ownership of the returned object passes to the caller
// (the binary deletes it through the virtual destructor, whose code is the plugin's).
#include "byo/classifier.h"
#include "embed/encoder.h"
#include "train/train.h"

extern "C" {

__attribute__((visibility("default"))) trawl::train::Model* trawl_torch_load_model(const char* path, int threads) {
  return trawl::byo::load_torchscript_model(path, threads).release();
}

__attribute__((visibility("default"))) trawl::embed::Encoder* trawl_torch_make_encoder(
    const trawl::embed::TorchScriptEncoderOptions* o) {
  return trawl::embed::make_torchscript_encoder(*o).release();
}

// mlp / embbag training (train/train.cpp) and fine-tuning (byo/classifier.cpp): the first call
// registers the plugin's LibTorch code with the binary's front ends (set_torch_trainer and
// set_torch_finetune resolve to the binary's), so later calls go straight to it; then it runs.
__attribute__((visibility("default"))) void trawl_torch_train(const trawl::train::TrainData* d,
                                                             const trawl::train::TrainOptions* o,
                                                             const std::string* what, trawl::train::TrainResult* out) {
  trawl::train::register_torch_training();
  *out = trawl::train::train_model(*d, *o, *what);
}

__attribute__((visibility("default"))) void trawl_torch_finetune(
    const std::string* init, const std::vector<std::string>* texts, const std::vector<int>* y,
    const std::vector<std::string>* classes, const trawl::byo::FineTuneOptions* o, const std::string* what,
    trawl::byo::FineTuneResult* out) {
  trawl::byo::register_torchscript_models();
  *out = trawl::byo::finetune(*init, *texts, *y, *classes, *o, *what);
}

__attribute__((visibility("default"))) void trawl_torch_predict_with(
    const std::string* module_bytes, const trawl::train::ModelHeader* h, const std::vector<std::string>* vocab,
    const std::vector<std::string>* texts, int threads, std::vector<float>* out) {
  trawl::byo::register_torchscript_models();
  *out = trawl::byo::predict_with(*module_bytes, *h, *vocab, *texts, threads);
}

}  // extern "C"
