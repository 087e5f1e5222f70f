// trawl-label: the label round-trip (docs/LABELS.md) — export a queue to an annotation tool,
// import the tool's annotations into the append-only journal, build the consensus labels TSV,
// show a journal's counts. One process does the work (the journal's lock serialises concurrent
// imports); outputs are written atomically.
#pragma once
#include <cstdint>
#include <ostream>
#include <string>
#include <vector>

#include "mpi/comm.h"

namespace trawl::stages {

struct LabelOptions {
  std::string mode;  // export | import | consensus | show
  std::string format = "tsv";
  std::string journal, queue, pool, input, output, long_output, annotator, negative, queued_class, source;
  std::vector<std::string> classes;
  std::string rule = "majority";
  uint64_t round = 0, seed = 42;
  bool has_round = false;  // import: --round given (else the queue's round, else 0)
  bool keep_single = false;
};

/// Runs one mode; `show` writes its table to out. UsageError for a missing option of the mode,
/// InputError / IoError naming the file otherwise.
void run_label(const mpi::Comm& comm, const LabelOptions& o, std::ostream& out);

}  // namespace trawl::stages
