// trawl's LibTorch plugin (libtrawl-torch.so): the TorchScript encoder and classifiers, mlp and
// embbag training, loaded with dlopen when a run first needs them. The pipeline binaries
// (trawl-score, trawl-embed, trawl-train, trawl-simulate) therefore do not load LibTorch's
// 300+ MB of shared libraries and static initialisers (0.5 s a process here) for the usual
// hash/lsa encoders, logreg training and logreg/mlp/embbag scoring.
//
// The plugin holds only its own code (the byo classifier, train/train.cpp, the TorchScript
// encoder, WordPiece) and LibTorch; the rest of trawl (logging, errors, HDF5 access and its lock,
// the model base class, the registries) it takes from the binary that loads it, which exports
// its symbols (ENABLE_EXPORTS), so there is one copy of every piece of trawl state in a process.
// Binaries that link LibTorch themselves (trawl-import-model, tests, benchmarks) register the
// statically linked code instead (byo::register_torchscript_models,
// train::register_torch_training) and never load the plugin.
//
// Where it is looked for, in order: $TRAWL_TORCH_PLUGIN (a file), then <dir of the running
// binary>/../lib/libtrawl-torch.so, then <dir of the running binary>/libtrawl-torch.so.
// docs/CONVENTIONS.md "LibTorch on demand".
#pragma once
#include <string>

namespace trawl::plugin {

/// The plugin's file name.
constexpr const char* kTorchPlugin = "libtrawl-torch.so";

/// The address of `symbol` in the plugin, loading it on first use (thread-safe; once per
/// process). UsageError naming `what` (the feature asked for), every path tried and dlerror()'s
/// message when it cannot be loaded, or when trawl was built without LibTorch.
void* torch_symbol(const char* symbol, const std::string& what);

/// Whether the plugin is loaded in this process (for tests).
bool torch_loaded();

}  // namespace trawl::plugin
