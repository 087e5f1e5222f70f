// trawl-libs: trawl_byo trawl_cli
// trawl-import-model: wraps a user's TorchScript text classifier and its WordPiece vocabulary
// in a trawl model file (kind "torchscript") for trawl-score and trawl-train --init.
#include <sstream>

#include "byo/classifier.h"
#include "cli/options.h"
#include "core/error.h"
#include "mpi/run.h"

using namespace trawl;
namespace po = cli::po;

int main(int argc, char** argv) {
  return mpi::run_main(argc, argv, "trawl-import-model", [&](mpi::Comm& comm) {
    byo::ImportOptions o;
    std::string classes;
    bool cased = false;
    cli::Cli c("trawl-import-model", "import-model",
               "wrap a TorchScript text classifier in a trawl model file (HDF5, format 'model' v3, kind "
               "'torchscript'): the module's bytes, its WordPiece vocabulary, the max length and the class names, "
               "with checksums. The module must take forward(input_ids, attention_mask) (int64 [batch, length], "
               "BERT-style WordPiece ids: [CLS] ... [SEP], [PAD] = 0, mask 1 on real ids) and return logits "
               "[batch, classes] in the order of --classes; scores are their softmax. The module is loaded and "
               "run on probes (the vocabulary's last id, a full-length input) before anything is written. "
               "Score with trawl-score --model OUTPUT; fine-tune with trawl-train --model torchscript --init OUTPUT.");
    c.required().add_options()
        ("torchscript", po::value<std::string>(&o.module_path)->required(), "the module (torch.jit.save of torch.jit.script or trace)")
        ("vocab", po::value<std::string>(&o.vocab_path)->required(), "the module's vocab.txt (one WordPiece token per line, id = line number, [PAD] first)")
        ("classes", po::value<std::string>(&classes)->required(), "comma-separated class names, one per logit, in the module's output order")
        ("output,o", po::value<std::string>(&o.output)->required(), "the model file to write");
    c.optional().add_options()
        ("max-length", po::value<int>(&o.max_length)->default_value(128), "ids per text including [CLS] and [SEP] (longer texts are truncated)")
        ("cased", po::bool_switch(&cased), "do not lower-case texts (a cased vocabulary)");
    if (!c.parse(argc, argv)) return 0;
    if (c.common().num_shards > 0) throw UsageError("--num-shards: trawl-import-model is not an array job");
    std::stringstream ss(classes);
    for (std::string x; std::getline(ss, x, ',');) o.classes.push_back(x);
    o.lowercase = !cased;
    o.config = c.resolved_config();
    if (comm.root()) byo::import_torchscript(o);
    comm.barrier();
    return 0;
  });
}
