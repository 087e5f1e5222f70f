// trawl-libs: trawl_embed_torch trawl_cli
// trawl-make-test-encoder: writes a tiny TorchScript sentence encoder (model.pt) and its
// WordPiece vocabulary (vocab.txt) for tests and demos of --encoder torchscript. The weights
// are random but deterministic under --seed; nothing is downloaded.
#include "cli/options.h"
#include "core/log.h"
#include "embed_torch/test_model.h"
#include "mpi/run.h"

using namespace trawl;
namespace po = cli::po;

int main(int argc, char** argv) {
  return mpi::run_main(argc, argv, "trawl-make-test-encoder", [&](mpi::Comm&) {
    std::string output_dir, kind;
    embed::TestModelOptions o;
    cli::Cli c("trawl-make-test-encoder", "make-test-encoder",
               "write a tiny TorchScript sentence encoder (model.pt: embedding lookup, masked-mean "
               "context, tanh projection) and its WordPiece vocabulary (vocab.txt) into a directory, "
               "for tests and demos of trawl-embed --encoder torchscript --model DIR/model.pt --vocab "
               "DIR/vocab.txt. Weights are deterministic under --seed.");
    c.required().add_options()
        ("output-dir,o", po::value<std::string>(&output_dir)->required(), "directory for model.pt and vocab.txt");
    c.optional().add_options()
        ("dim", po::value<int>(&o.dim)->default_value(32), "embedding dimension H")
        ("seed", po::value<uint64_t>(&o.seed)->default_value(1), "seed of the random weights")
        ("output-kind", po::value<std::string>(&kind)->default_value("tokens"),
         "what forward returns: tokens ([B,L,H]), pooled ([B,H]), tuple ((tokens, CLS state)) or dict "
         "({token_embeddings, sentence_embedding = CLS state}, like sentence-transformers)")
        ("dict-input", po::bool_switch(&o.dict_input),
         "forward(features: Dict[str, Tensor]) instead of forward(input_ids, attention_mask)")
        ("max-positions", po::value<int>(&o.max_positions)->default_value(0),
         "if > 0, forward fails on inputs longer than this (like a model's position limit)");
    if (!c.parse(argc, argv)) return 0;
    o.output = embed::parse_test_model_output(kind);
    auto files = embed::write_test_encoder(output_dir, o);
    log::info("wrote ", files.model_path, " (dim ", o.dim, ", seed ", o.seed, ", forward returns ", kind,
              ") and ", files.vocab_path, " (", embed::test_vocab_tokens().size(), " tokens)");
    return 0;
  });
}
