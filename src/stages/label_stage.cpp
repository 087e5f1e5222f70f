#include "stages/label_stage.h"

#include <iostream>
#include <map>

#include "core/error.h"
#include "core/fs.h"
#include "core/log.h"
#include "labels/formats.h"
#include "labels/journal.h"
#include "labels/labels.h"

namespace trawl::stages {

namespace {

void need(const std::string& value, const char* option, const std::string& mode) {
  if (value.empty()) throw UsageError(cat("--mode ", mode, " needs --", option));
}

}  // namespace

void run_label(const mpi::Comm& comm, const LabelOptions& o, std::ostream& out) {
  (void)comm;
  const auto& cls = o.classes;
  if (o.mode == "export") {
    need(o.queue, "queue", o.mode);
    need(o.output, "output", o.mode);
    auto q = labels::read_queue(o.queue);
    labels::ExportOptions eo{o.format, cls};
    std::string text = labels::export_queue(q, eo);
    write_text_atomic(o.output, text);
    if (o.format == "label-studio") {
      if (cls.empty()) log::warn("no --classes: the Label Studio labelling config is not written");
      else write_text_atomic(o.output + ".config.xml", labels::label_studio_config(cls));
    }
    log::info("exported ", q.size(), " queued items to ", o.output, " (", o.format, ")");
  } else if (o.mode == "import") {
    need(o.input, "input", o.mode);
    need(o.journal, "journal", o.mode);
    std::vector<labels::QueueItem> q;
    labels::ImportOptions io;
    io.format = o.format;
    io.classes = cls;
    if (!o.queue.empty()) {
      q = labels::read_queue(o.queue);
      io.queue = &q;
    }
    io.annotator = o.annotator;
    io.has_round = o.has_round;
    io.round = o.round;
    io.negative_label = o.negative;
    io.source = o.source;
    auto r = labels::import_annotations(o.input, io);
    if (!o.pool.empty()) labels::check_pool(r, o.pool);
    uint64_t present = 0;
    labels::append_journal(o.journal, r.records, &present);
    uint64_t skipped = 0;
    for (auto& [why, n] : r.skipped) {
      log::warn(o.input, ": skipped ", n, " ", why);
      skipped += n;
    }
    std::cerr << "trawl-label: imported " << r.records.size() - present << " annotations from " << r.items
              << " records of " << o.input << " into " << o.journal << "; skipped " << skipped
              << (present ? cat(", ", present, " already in the journal") : std::string()) << "\n";
  } else if (o.mode == "consensus") {
    need(o.journal, "journal", o.mode);
    need(o.output, "output", o.mode);
    auto j = labels::read_journal(o.journal);
    auto votes = labels::effective_votes(j.records, o.queued_class);
    labels::ConsensusOptions co{o.rule, o.seed, o.keep_single};
    auto res = labels::consensus(votes, co);
    auto rows = labels::label_rows(res, o.journal);
    if (rows.empty()) throw InputError(cat(o.journal, ": no item has a consensus label (", res.items, " items, ",
                                           res.dropped_single, " with one label, ", res.dropped_tied, " tied)"));
    labels::write_labels_tsv(o.output, rows);
    if (!o.long_output.empty()) labels::write_long_table(o.long_output, votes);
    std::cerr << "trawl-label: " << o.rule << " consensus of " << votes.size() << " votes on " << res.items << " items: "
              << rows.size() << " labelled";
    if (o.rule == "plurality")
      std::cerr << ", dropped " << res.dropped_single << " with one label and " << res.dropped_tied << " without a strict plurality";
    else
      std::cerr << ", " << res.random_ties << " ties settled by the seeded draw";
    std::cerr << "\n";
  } else if (o.mode == "show") {
    need(o.journal, "journal", o.mode);
    auto j = labels::read_journal(o.journal);
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
    out << "journal\t" << o.journal << "\nrecords\t" << j.records.size() << "\nitems\t" << items.size()
              << "\ntorn_tail_bytes\t" << j.torn_bytes << "\n";
    for (auto& [k, n] : by_round) out << "round\t" << k << "\t" << n << "\n";
    for (auto& [k, n] : by_annotator) out << "annotator\t" << labels::escape_field(k) << "\t" << n << "\n";
    for (auto& [k, n] : by_label) out << "label\t" << labels::escape_field(k) << "\t" << n << "\n";
    for (auto& [k, n] : by_source) out << "source\t" << labels::escape_field(k) << "\t" << n << "\n";
  } else {
    throw UsageError(cat("--mode '", o.mode, "': expected export, import, consensus or show"));
  }
}

}  // namespace trawl::stages
