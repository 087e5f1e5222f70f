// trawl-libs: trawl_stage_label trawl_cli
// trawl-label: the label round-trip — export a queue to an annotation tool, import the tool's
// annotations into the append-only journal, build the consensus labels TSV, show a journal.
#include <iostream>
#include <sstream>

#include "cli/options.h"
#include "mpi/run.h"
#include "stages/label_stage.h"

using namespace trawl;
namespace po = cli::po;

namespace {

std::vector<std::string> split_commas(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream ss(s);
  for (std::string x; std::getline(ss, x, ',');)
    if (!x.empty()) out.push_back(x);
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  return mpi::run_main(argc, argv, "trawl-label", [&](mpi::Comm& comm) {
    stages::LabelOptions o;  // the options bind straight to its fields
    std::string classes;     // comma-separated: o.classes after parsing
    cli::Cli c("trawl-label", "label",
               "the label round-trip (docs/LABELS.md). --mode export: a queue.tsv (--queue) to an annotation tool's "
               "input (--output; --format tsv, jsonl, label-studio [+ <output>.config.xml with --classes], labelbox, "
               "prodigy). --mode import: the tool's export (--input, same --format names; label-studio reads the JSON "
               "and JSON_MIN exports, labelbox the export v2 NDJSON, prodigy db-out JSONL) validated as a whole, then "
               "appended to --journal in one locked, fsynced write; skipped answers (ignored, cancelled) are counted "
               "on stderr. --mode consensus: --journal to the labels TSV (--output, uid/label, what trawl-retrieve and "
               "trawl-train read) by --rule majority (activelab tie-breaks) or plurality (twitter-labor strict "
               "plurality), and optionally the long table (--long-output: uid, annotator, label, class). "
               "--mode show: a journal's counts on stdout. Outputs are written atomically.");
    c.required().add_options()
        ("mode", po::value<std::string>(&o.mode)->required(), "export, import, consensus or show");
    c.optional().add_options()
        ("format", po::value<std::string>(&o.format)->default_value("tsv"), "export/import: tsv, jsonl, label-studio, labelbox or prodigy")
        ("journal", po::value<std::string>(&o.journal)->default_value(""), "the labels journal (import appends, consensus/show read)")
        ("queue", po::value<std::string>(&o.queue)->default_value(""),
         "queue.tsv from trawl-select (export: required; import: every uid must be queued, and records take the queued class and round)")
        ("pool", po::value<std::string>(&o.pool)->default_value(""),
         "import: the pool's shard directory; every imported uid must be in it (read one shard at a time)")
        ("input,i", po::value<std::string>(&o.input)->default_value(""), "import: the annotation tool's export")
        ("output,o", po::value<std::string>(&o.output)->default_value(""), "export: the tool's input file; consensus: the labels TSV")
        ("long-output", po::value<std::string>(&o.long_output)->default_value(""),
         "consensus: also write the long table (uid, annotator, label, class) for ActiveLab/CROWDLAB")
        ("classes", po::value<std::string>(&classes)->default_value(""),
         "comma-separated class names: import rejects other labels; export: Label Studio config, Prodigy options (choice tasks)")
        ("annotator", po::value<std::string>(&o.annotator)->default_value(""), "import: the annotator of records that name none")
        ("round", po::value<uint64_t>(&o.round)->default_value(0), "import: the round stored in the records (default: the queue's round, else 0)")
        ("negative-label", po::value<std::string>(&o.negative)->default_value(""),
         "import prodigy: the label a reject of a binary task records (a reject is an error without it)")
        ("source", po::value<std::string>(&o.source)->default_value(""), "import: the source stored in the records (default: the input's file name)")
        ("rule", po::value<std::string>(&o.rule)->default_value("majority"), "consensus: majority or plurality")
        ("seed", po::value<uint64_t>(&o.seed)->default_value(42), "consensus majority: the last tie-break draws from key(seed, uid)")
        ("keep-single", po::bool_switch(&o.keep_single), "consensus plurality: keep items with one label (the reference drops them)")
        ("queued-class", po::value<std::string>(&o.queued_class)->default_value(""),
         "consensus: only the records queued for this class");
    if (!c.parse(argc, argv)) return 0;
    o.classes = split_commas(classes);
    o.has_round = c.given("round");
    stages::run_label(comm, o, std::cout);
    return 0;
  });
}
