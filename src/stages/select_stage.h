// trawl-select: one round's queue for the annotators from trawl-score's output.
//
// Inputs
//  * --scores: a scores file (`<round>/subpool.scores.h5`) or a directory of per-shard scores
//    (`shard-NNNNNN.scores.h5`, full-pool strategies; ranks split the files). A scores file is
//    HDF5 with trawl-format = "scores" (version <= 1), attribute `classes` (class names joined
//    by newlines) and datasets uid u64[n], probs f32[n, C], features f32[n, F] (optional; BADGE
//    and k-means need it). For exploit-explore the directory (or the file's directory) holds
//    `top-<class>.tsv` with a header naming at least `uid` (and `score`, used for order and
//    reported; other columns ignored).
//  * --labels: TSV with a `uid` column; labelled items are never selected.
//  * --pool: the shards, for id/text of the queued items and for exploration.
//
// Strategies: random | least-confidence | margin | entropy | threshold | badge | kmeans |
// exploit-explore. The streamable ones (random, uncertainty, threshold) run block by block over
// any number of files: each block's best candidates are kept, candidates are gathered across
// ranks and the strategy runs again on them — the same selection as one call over all rows.
// badge and kmeans need every unlabelled row in one process (at most --max-rows of them).
// Exploit-explore (twitter-labor §5): b_explore = round(b · explore_fraction) items from motif
// matches (round-robin over the chosen motifs, deduplicated on uid and text), the rest sampled
// uniformly (keyed hashes) from the class's top set (the first top_size unlabelled rows of
// top-<class>.tsv by score); a shortfall of exploration goes to exploitation. Several classes:
// each gets b items; an item already queued for an earlier class is skipped.
//
// Output: `<output>/queue.tsv`, written atomically: comment lines `# trawl-format: queue`,
// `# trawl-format-version: 1`, `# trawl-version: ...`, `# config: key = value` (one per line),
// then a header and one row per item:
//   uid  id  text  class  score  rank  source  round
// class: the class the item was selected for (threshold, exploit-explore), else empty. score:
// least-confidence/margin/entropy as strategy.h; threshold −|p − t|; random the keyed draw in
// [0, 1) (smaller first); badge ‖g‖²; kmeans −(squared distance to its centre, standardised);
// exploit the top-set score; explore the motif's lift. rank: 1.. in queue order. source: the
// strategy name, or `exploit` / `explore:<motif tokens>`. In id and text, backslash, tab, CR and
// LF are written as \\, \t, \r, \n.
// exploit-explore also writes `<output>/motifs.tsv` (atomically): a header
//   class  motif  size  top_count  n_top  pool_count  n_pool  lift  queued  count
// (count: documents or occurrences) — pass it as the next round's --exclude-motifs to skip
// motifs already sampled, as the reference does.
// An empty (sub)pool — no unlabelled rows — gives a queue with the header only and a warning.
//
// activelab (reference/activelab.md §3; docs/STRATEGIES.md): relabel or label new. Inputs:
//  * --annotations FILE: the long table of labels given so far, TSV with a header naming at
//    least the columns uid, annotator, label (any order; other columns ignored; '#' lines and
//    empty lines skipped): one row per label an annotator gave an item. label is a class name of
//    the scores files; annotator any non-empty string. An annotator labels an item at most once.
//    A header-only table means "nothing labelled yet": the only-unlabelled score
//    (max p + 1/K) / 2.
//  * --labelled-scores FILE: a scores file (as --scores) holding out-of-sample probabilities of
//    every annotated uid (trawl-train --oof-folds writes one: <model>.oof.scores.h5).
//  * --scores: the unlabelled candidates, as for the other strategies (annotated uids and
//    --labels uids skipped).
// The queue holds the b lowest ActiveLab scores over both pools (ties: smaller uid first):
// source `activelab:relabel` (an annotated item: collect one more label) or `activelab:new`,
// score = the ActiveLab score (lower = label next). Bad rows — a missing field, a uid not in
// --labelled-scores, a label not among its classes, an unparsable uid, an annotator twice on
// one uid — are InputErrors naming file, line and value; no queue is written then.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "formats/queue.h"
#include "mpi/comm.h"
#include "strategy/explore.h"

namespace trawl::stages {

using formats::kQueueFormat;
using formats::kQueueFormatVersion;
using formats::QueueRow;

struct SelectOptions {
  std::string scores;                // file or directory
  std::string strategy = "least-confidence";
  uint64_t batch_size = 25;          // b
  std::vector<std::string> classes;  // threshold: exactly one; exploit-explore: any (default: every top-*.tsv)
  double threshold = 0.5;
  std::string threshold_mode = "split";  // split (reference: half above, half below) | nearest
  std::string pool, labels, output;
  std::string exclude;               // uid list (TSV, uid column) never selected: a held-out split
  uint64_t round = 0, seed = 42;
  int kmeans_iterations = 20;
  uint64_t max_rows = 2000000;       // badge/kmeans: rows gathered into one process at most
  uint64_t block_rows = 65536;       // score rows read at a time
  // exploit-explore
  double explore_fraction = 0.5;
  uint64_t top_size = 10000;
  uint64_t explore_per_motif = 0;    // cap per motif (reference: 5); 0 = round-robin, no cap
  std::string exclude_motifs;        // file: one motif a line, tokens separated by spaces
  explore::ExploreOptions explore;   // min lift/count, sizes, ... (per_motif set by the stage)
  // activelab
  std::string annotations;           // long table TSV: uid, annotator, label
  std::string labelled_scores;       // scores file of the annotated items (out-of-sample)
  std::string config;
};


/// exploit-explore: a chosen motif, as written to <output>/motifs.tsv.
struct ChosenMotif {
  std::string cls, text;  // text: the tokens separated by spaces
  int size = 0;
  uint64_t top_count = 0, n_top = 0, pool_count = 0, n_pool = 0;
  double lift = 0;
  uint64_t queued = 0;  // items of the queue from this motif
};

struct SelectSummary {
  std::vector<QueueRow> queue;     // in queue order (every rank)
  uint64_t considered = 0;         // unlabelled rows the strategy saw
  uint64_t labelled_skipped = 0;   // rows skipped because labelled
  std::string queue_path;
  std::vector<ChosenMotif> motifs;  // exploit-explore: the chosen motifs, per class in selection order
};

/// Collective. Validates the options (UsageError), reads the inputs (InputError / IoError naming
/// the file), selects and writes <output>/queue.tsv from rank 0.
SelectSummary run_select(const mpi::Comm& comm, const SelectOptions& o);

/// The TSV escaping of queue.tsv's id and text columns, and its inverse.
std::string tsv_escape(const std::string& s);
std::string tsv_unescape(const std::string& s);

}  // namespace trawl::stages
