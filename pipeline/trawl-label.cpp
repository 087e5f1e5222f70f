// trawl-libs: trawl_label_formats trawl_labels trawl_io trawl_cli
// trawl-label: the label round-trip — export a queue to an annotation tool, import the tool's
// annotations into the append-only journal, build the consensus labels TSV, show a journal.
#include <fstream>
#include <iostream>
#include <map>
#include <sstream>

#include "cli/options.h"
#include "core/error.h"
#include "core/fs.h"
#include "core/log.h"
#include "labels/formats.h"
#include "labels/journal.h"
#include "labels/labels.h"
#include "mpi/run.h"

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

void need(const std::string& value, const char* option, const std::string& mode) {
  if (value.empty()) throw UsageError(cat("--mode ", mode, " needs --", option));
}

}  // namespace

int main(int argc, char** argv) {
  return mpi::run_main(argc, argv, "trawl-label", [&](mpi::Comm& comm) {
    std::string mode, format, journal, queue, pool, input, output, long_output, classes, annotator, rule, negative,
        queued_class, source;
    uint64_t round = 0, seed = 42;
    bool keep_single = false;
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
        ("mode", po::value<std::string>(&mode)->required(), "export, import, consensus or show");
    c.optional().add_options()
        ("format", po::value<std::string>(&format)->default_value("tsv"), "export/import: tsv, jsonl, label-studio, labelbox or prodigy")
        ("journal", po::value<std::string>(&journal)->default_value(""), "the labels journal (import appends, consensus/show read)")
        ("queue", po::value<std::string>(&queue)->default_value(""),
         "queue.tsv from trawl-select (export: required; import: every uid must be queued, and records take the queued class and round)")
        ("pool", po::value<std::string>(&pool)->default_value(""),
         "import: the pool's shard directory; every imported uid must be in it (read one shard at a time)")
        ("input,i", po::value<std::string>(&input)->default_value(""), "import: the annotation tool's export")
        ("output,o", po::value<std::string>(&output)->default_value(""), "export: the tool's input file; consensus: the labels TSV")
        ("long-output", po::value<std::string>(&long_output)->default_value(""),
         "consensus: also write the long table (uid, annotator, label, class) for ActiveLab/CROWDLAB")
        ("classes", po::value<std::string>(&classes)->default_value(""),
         "comma-separated class names: import rejects other labels; export: Label Studio config, Prodigy options (choice tasks)")
        ("annotator", po::value<std::string>(&annotator)->default_value(""), "import: the annotator of records that name none")
        ("round", po::value<uint64_t>(&round)->default_value(0), "import: the round stored in the records (default: the queue's round, else 0)")
        ("negative-label", po::value<std::string>(&negative)->default_value(""),
         "import prodigy: the label a reject of a binary task records (a reject is an error without it)")
        ("source", po::value<std::string>(&source)->default_value(""), "import: the source stored in the records (default: the input's file name)")
        ("rule", po::value<std::string>(&rule)->default_value("majority"), "consensus: majority or plurality")
        ("seed", po::value<uint64_t>(&seed)->default_value(42), "consensus majority: the last tie-break draws from key(seed, uid)")
        ("keep-single", po::bool_switch(&keep_single), "consensus plurality: keep items with one label (the reference drops them)")
        ("queued-class", po::value<std::string>(&queued_class)->default_value(""),
         "consensus: only the records queued for this class");
    if (!c.parse(argc, argv)) return 0;
    (void)comm;
    const auto cls = split_commas(classes);
    if (mode == "export") {
      need(queue, "queue", mode);
      need(output, "output", mode);
      auto q = labels::read_queue(queue);
      labels::ExportOptions eo{format, cls};
      std::string text = labels::export_queue(q, eo);
      write_text_atomic(output, text);
      if (format == "label-studio") {
        if (cls.empty()) log::warn("no --classes: the Label Studio labelling config is not written");
        else write_text_atomic(output + ".config.xml", labels::label_studio_config(cls));
      }
      log::info("exported ", q.size(), " queued items to ", output, " (", format, ")");
    } else if (mode == "import") {
      need(input, "input", mode);
      need(journal, "journal", mode);
      std::vector<labels::QueueItem> q;
      labels::ImportOptions io;
      io.format = format;
      io.classes = cls;
      if (!queue.empty()) {
        q = labels::read_queue(queue);
        io.queue = &q;
      }
      io.annotator = annotator;
      io.has_round = c.given("round");
      io.round = round;
      io.negative_label = negative;
      io.source = source;
      auto r = labels::import_annotations(input, io);
      if (!pool.empty()) labels::check_pool(r, pool);
      uint64_t present = 0;
      labels::append_journal(journal, r.records, &present);
      uint64_t skipped = 0;
      for (auto& [why, n] : r.skipped) {
        log::warn(input, ": skipped ", n, " ", why);
        skipped += n;
      }
      std::cerr << "trawl-label: imported " << r.records.size() - present << " annotations from " << r.items
                << " records of " << input << " into " << journal << "; skipped " << skipped
                << (present ? cat(", ", present, " already in the journal") : std::string()) << "\n";
    } else if (mode == "consensus") {
      need(journal, "journal", mode);
      need(output, "output", mode);
      auto j = labels::read_journal(journal);
      auto votes = labels::effective_votes(j.records, queued_class);
      labels::ConsensusOptions co{rule, seed, keep_single};
      auto res = labels::consensus(votes, co);
      auto rows = labels::label_rows(res, journal);
      if (rows.empty()) throw InputError(cat(journal, ": no item has a consensus label (", res.items, " items, ",
                                             res.dropped_single, " with one label, ", res.dropped_tied, " tied)"));
      labels::write_labels_tsv(output, rows);
      if (!long_output.empty()) labels::write_long_table(long_output, votes);
      std::cerr << "trawl-label: " << rule << " consensus of " << votes.size() << " votes on " << res.items << " items: "
                << rows.size() << " labelled";
      if (rule == "plurality")
        std::cerr << ", dropped " << res.dropped_single << " with one label and " << res.dropped_tied << " without a strict plurality";
      else
        std::cerr << ", " << res.random_ties << " ties settled by the seeded draw";
      std::cerr << "\n";
    } else if (mode == "show") {
      need(journal, "journal", mode);
      auto j = labels::read_journal(journal);
      std::map<std::string, uint64_t> by_annotator, by_label, by_source;
      std::map<uint64_t, uint64_t> by_round;
      std::map<uint64_t, int> items;
      for (auto& r : j.records) {
        ++by_annotator[r.annotator];
        ++by_label[r.label];
        ++by_source[r.source];
        ++by_round[r.round];
        ++items[r.uid];
      }
      std::cout << "journal\t" << journal << "\nrecords\t" << j.records.size() << "\nitems\t" << items.size()
                << "\ntorn_tail_bytes\t" << j.torn_bytes << "\n";
      for (auto& [k, n] : by_round) std::cout << "round\t" << k << "\t" << n << "\n";
      for (auto& [k, n] : by_annotator) std::cout << "annotator\t" << labels::escape_field(k) << "\t" << n << "\n";
      for (auto& [k, n] : by_label) std::cout << "label\t" << labels::escape_field(k) << "\t" << n << "\n";
      for (auto& [k, n] : by_source) std::cout << "source\t" << labels::escape_field(k) << "\t" << n << "\n";
    } else {
      throw UsageError(cat("--mode '", mode, "': expected export, import, consensus or show"));
    }
    return 0;
  });
}
