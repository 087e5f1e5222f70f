// trawl-libs: trawl_stage_embed trawl_cli
// trawl-embed: tokenize and embed text chunks into HDF5 shards (one shard per chunk).
#include "cli/options.h"
#include "core/log.h"
#include "mpi/run.h"
#include "stages/embed_stage.h"

using namespace trawl;
namespace po = cli::po;

int main(int argc, char** argv) {
  return mpi::run_main(argc, argv, "trawl-embed", [&](mpi::Comm& comm) {
    stages::EmbedOptions o;
    std::vector<std::string> inputs;
    std::string input_list, format = "auto", dtype = "f32";
    cli::Cli c("trawl-embed", "embed",
               "tokenize and embed text chunks (TSV, CSV, JSONL, optionally gzip) into HDF5 shards, one "
               "shard per chunk. Each MPI rank / array task takes its share of the chunk list; shards that "
               "already exist and match their input are skipped, so a killed job is simply rerun.");
    c.required().add_options()
        ("output,o", po::value<std::string>(&o.output)->required(), "directory for shard-NNNNNN.h5 files");
    c.optional().add_options()
        ("input,i", po::value<std::vector<std::string>>(&inputs)->multitoken(),
         "input chunk files (their order defines chunk indices and so uids)")
        ("input-list", po::value<std::string>(&input_list), "file listing input chunks, one per line")
        ("format", po::value<std::string>(&format)->default_value("auto"), "auto, tsv, csv or jsonl")
        ("id-column", po::value<std::string>(&o.reader.id_column)->default_value("id"), "column holding the item id")
        ("text-column", po::value<std::string>(&o.reader.text_column)->default_value("text"), "column holding the text")
        ("label-column", po::value<std::string>(&o.reader.label_column)->default_value(""),
         "column holding a label (optional; kept for simulation and evaluation)")
        ("max-line-bytes", po::value<uint64_t>(&o.reader.max_line_bytes)->default_value(1 << 20),
         "a longer line or record is a bad row")
        ("on-bad-row", po::value<std::string>(&o.on_bad_row)->default_value("fail"),
         "fail: stop at the first bad row, leaving no shard; reject: write bad rows with reasons to "
         "<output>/rejects/ and go on")
        ("encoder", po::value<std::string>(&o.encoder)->default_value("hash"),
         "hash, lsa (the pool-fitted encoder of trawl-fit, --lsa FILE), lsa+hash (both, each unit, "
         "concatenated and re-normalised) or torchscript")
        ("lsa", po::value<std::string>(&o.lsa_path)->default_value(""), "lsa, lsa+hash: the encoder file written by trawl-fit")
        ("dim", po::value<int>(&o.hash.dim)->default_value(256),
         "hash encoder (and the hash part of lsa+hash): embedding dimension; lsa's is the file's")
        ("hash-seed", po::value<uint64_t>(&o.hash.seed)->default_value(o.hash.seed), "hash encoder: projection seed")
        ("bigram-weight", po::value<double>(&o.hash.bigram_weight)->default_value(0.5), "hash encoder: weight of bigram features")
        ("idf", po::value<std::string>(&o.hash.idf_path)->default_value(""),
         "hash encoder: weight features by inverse document frequency from this trawl-vocab file")
        ("model", po::value<std::string>(&o.torchscript.model_path), "torchscript encoder: TorchScript module file")
        ("vocab", po::value<std::string>(&o.torchscript.vocab_path), "torchscript encoder: WordPiece vocab.txt")
        ("max-length", po::value<int>(&o.torchscript.max_length)->default_value(128), "torchscript encoder: max tokens per text")
        ("batch-size", po::value<int>(&o.torchscript.batch_size)->default_value(64), "torchscript encoder: texts per batch")
        ("dtype", po::value<std::string>(&dtype)->default_value("f32"), "embedding storage: f32 or f16")
        ("block-rows", po::value<uint64_t>(&o.block_rows)->default_value(8192), "rows embedded and written per block")
        ("force", po::bool_switch(&o.force), "rebuild shards even when they exist and match their input");
    if (!c.parse(argc, argv)) return 0;
    if (!input_list.empty()) {
      if (!inputs.empty()) throw UsageError("give --input or --input-list, not both");
      inputs = stages::read_input_list(input_list);
    }
    o.inputs = inputs;
    o.reader.format = text::parse_format(format);
    o.dtype = io::parse_dtype(dtype);
    o.shard_id = c.common().shard_id;
    o.num_shards = c.common().num_shards;
    o.threads = c.common().threads;
    o.torchscript.threads = o.threads;
    o.config = c.resolved_config();
    stages::run_embed(comm, o);
    return 0;
  });
}
