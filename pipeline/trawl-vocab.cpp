// trawl-libs: trawl_stage_vocab trawl_cli
// trawl-vocab: document frequencies of token ids over the pool's text chunks, for the hash
// encoder's idf weights (trawl-embed --idf) and keyword lift.
#include "cli/options.h"
#include "core/error.h"
#include "embed/vocab.h"
#include "stages/vocab_stage.h"
#include "mpi/run.h"

using namespace trawl;
namespace po = cli::po;

int main(int argc, char** argv) {
  return mpi::run_main(argc, argv, "trawl-vocab", [&](mpi::Comm& comm) {
    embed::VocabOptions o;
    std::vector<std::string> inputs;
    std::string input_list, format = "auto", merge_dir;
    cli::Cli c("trawl-vocab", "vocab",
               "count, for every token id (unigrams and bigrams), the documents that hold it (df) and its "
               "occurrences (tf) over the pool's text chunks; ids with df < --min-df are dropped. The "
               "output is the --idf file of trawl-embed. Ranks of an MPI job split the chunks and reduce "
               "their counts; as an sbatch array (--shard-id/--num-shards) every task writes a part file "
               "and `trawl-vocab --merge-parts DIR --output FILE` merges them into the same vocab.");
    c.required().add_options()
        ("output,o", po::value<std::string>(&o.output)->required(), "the vocab file to write (HDF5)");
    c.optional().add_options()
        ("input,i", po::value<std::vector<std::string>>(&inputs)->multitoken(), "input chunk files")
        ("input-list", po::value<std::string>(&input_list), "file listing input chunks, one per line")
        ("format", po::value<std::string>(&format)->default_value("auto"), "auto, tsv, csv or jsonl")
        ("id-column", po::value<std::string>(&o.reader.id_column)->default_value("id"), "column holding the item id")
        ("text-column", po::value<std::string>(&o.reader.text_column)->default_value("text"), "column holding the text")
        ("max-line-bytes", po::value<uint64_t>(&o.reader.max_line_bytes)->default_value(1 << 20),
         "a longer line or record is a bad row (skipped and counted here)")
        ("min-df", po::value<uint64_t>(&o.min_df)->default_value(2), "drop ids found in fewer documents")
        ("parts-dir", po::value<std::string>(&o.parts_dir)->default_value(""),
         "array jobs: directory for part-<i>-of-<N>.h5 files (default: <output>.parts)")
        ("merge-parts", po::value<std::string>(&merge_dir),
         "merge the part files of an array job found in this directory into --output, then exit")
        ("batch-rows", po::value<uint64_t>(&o.batch_rows)->default_value(4096), "rows tokenised in parallel at a time")
        ("force", po::bool_switch(&o.force), "recount even when the output exists and validates");
    if (!c.parse(argc, argv)) return 0;
    o.config = c.resolved_config();

    if (!merge_dir.empty()) {
      if (!inputs.empty() || !input_list.empty())
        throw UsageError("--merge-parts takes no --input/--input-list (the parts record their chunk list)");
      if (c.common().num_shards > 0) throw UsageError("--merge-parts is not run as an array task (no --num-shards)");
      int rc = 0;
      if (comm.root()) stages::run_vocab_merge(merge_dir, o.output, o.min_df, o.config, o.force);
      comm.barrier();
      return rc;
    }
    if (!input_list.empty()) {
      if (!inputs.empty()) throw UsageError("give --input or --input-list, not both");
      inputs = embed::read_chunk_list(input_list);
    }
    if (inputs.empty()) throw UsageError("trawl-vocab: no input files: give --input FILE... or --input-list FILE");
    o.inputs = inputs;
    o.reader.format = text::parse_format(format);
    o.shard_id = c.common().shard_id;
    o.num_shards = c.common().num_shards;
    stages::run_vocab(comm, o);
    return 0;
  });
}
