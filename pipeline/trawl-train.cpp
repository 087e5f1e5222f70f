// trawl-libs: trawl_stage_train trawl_cli
// trawl-train: one round's classifier (logreg, mlp, embbag, or a fine-tuned TorchScript
// classifier) from the labelled set.
#include <sstream>

#include "cli/options.h"
#include "core/error.h"
#include "mpi/run.h"
#include "train/model.h"
#include "stages/train_stage.h"

using namespace trawl;
namespace po = cli::po;

int main(int argc, char** argv) {
  return mpi::run_main(argc, argv, "trawl-train", [&](mpi::Comm& comm) {
    stages::TrainStageOptions o;
    auto& t = o.train;
    std::string classes;
    cli::Cli c("trawl-train", "train",
               "train one round's classifier from scratch on the labelled set: the labels TSV joined by uid with "
               "the pool's shards. logreg (the default): class-weighted L2 logistic regression (scikit-learn's "
               "objective, --C) solved to convergence by L-BFGS, no learning rate, over each item's sparse "
               "sublinear tf-idf of its hashed unigram + bigram ids (--features tokens; idf from --vocab), its "
               "embedding, or both. mlp / embbag: LibTorch, class-weighted cross-entropy (n / (C n_c)), AdamW, "
               "steps = max(ceil(n / batch) * epochs, min-steps). Deterministic under --seed and --round. With "
               "--subpool, labelled items of the round's subpool take their embedding from it. Under mpirun the "
               "ranks split the shard reads and rank 0 trains and writes the model; an existing model with the "
               "same inputs and options is skipped.");
    c.required().add_options()
        ("pool", po::value<std::string>(&o.pool)->required(), "directory of the pool's shard-*.h5 files")
        ("labels", po::value<std::string>(&o.labels)->required(), "labelled set: TSV with columns uid and label")
        ("output,o", po::value<std::string>(&o.output)->required(), "the model file to write (HDF5, format 'model')");
    c.optional().add_options()
        ("model", po::value<std::string>(&t.model)->default_value("logreg"),
         "logreg (convex logistic regression, see --features), mlp (one ReLU hidden layer over the embeddings) "
         "or embbag (mean EmbeddingBag over hashed token ids, then a linear head), or torchscript (fine-tune the "
         "TorchScript classifier of --init over the items' text; defaults there: --lr 5e-05 --epochs 3 "
         "--min-steps 0 --batch-size 16)")
        ("init", po::value<std::string>(&t.init)->default_value(""),
         "torchscript: the model file to start from (trawl-import-model output or an earlier trawl-train); the "
         "output is the same wrapper with fine-tuned weights")
        ("freeze-encoder", po::bool_switch(&t.freeze_encoder),
         "torchscript: train only the head, the parameters whose name starts with --head-prefix")
        ("head-prefix", po::value<std::string>(&t.head_prefix)->default_value("classifier"),
         "torchscript: name prefix of the head's parameters (as in module.named_parameters())")
        ("warmup", po::value<double>(&t.warmup)->default_value(0.1, "0.1"),
         "torchscript: fraction of the steps with a linear learning-rate warm-up from 0; then linear decay to 0")
        ("features", po::value<std::string>(&t.features)->default_value("tokens"),
         "logreg: tokens (sparse tf-idf of the hashed token ids), embedding, or tokens+embedding")
        ("C", po::value<double>(&t.C)->default_value(1.0, "1"), "logreg: inverse L2 strength (as scikit-learn's C)")
        ("tol", po::value<double>(&t.tol)->default_value(1e-6, "1e-06"), "logreg: solver tolerance")
        ("feature-buckets", po::value<int>(&t.feature_buckets)->default_value(1 << 18),
         "logreg over tokens: token ids folded into this many tf-idf columns (id % buckets; weights = classes x "
         "buckets floats)")
        ("vocab", po::value<std::string>(&t.vocab)->default_value(""),
         "logreg over tokens: a trawl-vocab file of the pool; its document frequencies give the idf weights "
         "(default: idf 1)")
        ("hidden", po::value<int>(&t.hidden)->default_value(256), "mlp/embbag: hidden (feature) width")
        ("buckets", po::value<int>(&t.buckets)->default_value(1 << 18),
         "embbag: token ids are folded into this many buckets (id % buckets); the bag holds buckets x hidden "
         "floats (2^18 x 256 = 256 MiB; optimiser state is kept only for the buckets the labelled set uses)")
        ("epochs", po::value<int>(&t.epochs)->default_value(10), "epochs (steps = max(ceil(n/batch) * epochs, min-steps))")
        ("min-steps", po::value<int>(&t.min_steps)->default_value(100), "at least this many optimisation steps")
        ("batch-size", po::value<int>(&t.batch_size)->default_value(32), "examples per step")
        ("lr", po::value<double>(&t.lr)->default_value(1e-3, "0.001"), "mlp/embbag: AdamW learning rate")
        ("weight-decay", po::value<double>(&t.weight_decay)->default_value(0.01, "0.01"), "mlp/embbag: AdamW weight decay")
        ("seed", po::value<uint64_t>(&t.seed)->default_value(42), "seed of initialisation and shuffling")
        ("round", po::value<uint64_t>(&t.round)->default_value(0), "round number (keys the random streams with the seed)")
        ("subpool", po::value<std::string>(&o.subpool)->default_value(""),
         "the round's subpool.h5 (trawl-retrieve): labelled items in it take their embedding from it")
        ("classes", po::value<std::string>(&classes)->default_value(""),
         "comma-separated class names (default: the labels' distinct values)")
        ("oof-folds", po::value<int>(&o.oof_folds)->default_value(0),
         "K >= 2: also write <output>.oof.scores.h5, each labelled item's probabilities from a model trained "
         "on the other K-1 folds (for trawl-select --strategy activelab --labelled-scores); 0: off")
        ("allow-missing-classes", po::bool_switch(&t.allow_missing_classes),
         "train even when a class has no labelled example (its loss weight is 0); otherwise an error");
    if (!c.parse(argc, argv)) return 0;
    if (c.common().num_shards > 0)
      throw UsageError("--num-shards: trawl-train is not an array job (run it as one process or under mpirun)");
    std::stringstream ss(classes);
    for (std::string x; std::getline(ss, x, ',');)
      if (!x.empty()) o.classes.push_back(x);
    t.threads = c.common().threads;
    if (t.model == "torchscript") {
      if (!c.given("lr")) t.lr = 5e-5;
      if (!c.given("epochs")) t.epochs = 3;
      if (!c.given("min-steps")) t.min_steps = 0;
      if (!c.given("batch-size")) t.batch_size = 16;
    }
    o.config = c.resolved_config();
    stages::run_train(comm, o);
    return 0;
  });
}
