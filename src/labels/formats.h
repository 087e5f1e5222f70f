// The annotation round-trip's file formats (docs/FORMATS.md, docs/LABELS.md;
// /work/shared/reference/annotation-formats.md):
//  * export a queue.tsv (trawl-select) for an annotation tool: neutral TSV / JSONL (§4.1),
//    Label Studio task JSON (+ its labelling config XML), Labelbox NDJSON, Prodigy JSONL;
//  * import what the tools export into journal records: neutral TSV / JSONL long table,
//    Label Studio JSON (full or JSON_MIN), Labelbox export v2 NDJSON, Prodigy db-out JSONL.
// Import validates the whole file before anything is returned: a bad record is an InputError
// naming the file, line (or record index) and the value.
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "formats/queue.h"
#include "labels/journal.h"

namespace trawl::labels {

// The queue file (trawl-select's queue.tsv) has its home in formats/queue.h.
using formats::QueueItem;
using formats::read_queue;

/// The export formats: tsv, jsonl, label-studio, labelbox, prodigy.
const std::vector<std::string>& export_formats();
const std::vector<std::string>& import_formats();

struct ExportOptions {
  std::string format;
  std::vector<std::string> classes;  // Label Studio prediction/config, Prodigy options
};

/// The export file's content (the CLI writes it atomically).
std::string export_queue(const std::vector<QueueItem>& queue, const ExportOptions& o);

/// Label Studio labelling config (§2.1): Text name="text" value="$text", Choices name="label"
/// toName="text" choice="single", one Choice per class.
std::string label_studio_config(const std::vector<std::string>& classes);

struct ImportOptions {
  std::string format;
  std::vector<std::string> classes;        // when non-empty, every label must be one of them
  const std::vector<QueueItem>* queue = nullptr;  // when given, every uid must be queued
  std::string annotator;                   // default annotator (records that name none)
  bool has_round = false;                  // --round given; else the queue's round, else 0
  uint64_t round = 0;
  std::string negative_label;              // Prodigy binary: the label of a reject
  std::string source;                      // stored in each record (default: the file's name)
  std::string now;                         // time for records without one (default: now)
};

struct ImportResult {
  std::vector<Record> records;
  std::vector<std::string> where;           // per record: "file:line" or "file: task N ..." (messages)
  std::map<std::string, uint64_t> skipped;  // reason -> count (ignored, cancelled, ...)
  uint64_t items = 0;                       // tasks / rows read
};

ImportResult import_annotations(const std::string& path, const ImportOptions& o);

/// Checks that every imported uid is in the pool (a directory of shard-*.h5), reading one
/// shard's uids at a time (never the whole pool's). InputError naming the record's file and
/// line and the uid when one is missing.
void check_pool(const ImportResult& r, const std::string& pool_dir);

}  // namespace trawl::labels
