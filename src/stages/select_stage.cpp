// trawl-select: options, the one dispatch on the strategy, and the queue (select_parts.h names
// the files that hold each strategy family).
#include "stages/select_stage.h"
#include "stages/select_parts.h"

#include <algorithm>
#include <fstream>
#include <iterator>
#include <map>
#include <set>

#include "core/error.h"
#include "core/fs.h"
#include "core/tsv.h"
#include "core/log.h"
#include "core/rng.h"
#include "core/timer.h"
#include "labels/labels.h"
#include "mpi/report.h"
#include "pool/pool.h"
#include "strategy/streamable.h"
#include "strategy/streamable.h"
#include "trawl/version.h"

namespace trawl::stages {

using namespace sel;  // the selection's pieces (select_parts.h)

std::string tsv_escape(const std::string& s) { return tsv::escape(s); }
std::string tsv_unescape(const std::string& s) { return tsv::unescape(s); }

namespace {

const char* const kStrategies[] = {"random", "least-confidence", "margin", "entropy", "threshold",
                                   "badge", "kmeans", "exploit-explore", "activelab"};

void check_options(const SelectOptions& o) {
  if (std::find(std::begin(kStrategies), std::end(kStrategies), o.strategy) == std::end(kStrategies)) {
    std::string all;
    for (auto s : kStrategies) all += cat(all.empty() ? "" : ", ", s);
    throw UsageError(cat("--strategy '", o.strategy, "' is unknown; expected one of ", all));
  }
  if (o.scores.empty()) throw UsageError("--scores is required");
  if (o.output.empty()) throw UsageError("--output is required");
  if (o.batch_size == 0) throw UsageError("--batch-size 0, expected >= 1");
  if (o.block_rows == 0) throw UsageError("--block-rows 0, expected >= 1");
  if (o.strategy == "threshold") {
    if (o.classes.size() != 1) throw UsageError("--strategy threshold needs exactly one --class");
    if (!(o.threshold >= 0 && o.threshold <= 1)) throw UsageError(cat("--threshold ", o.threshold, " outside [0, 1]"));
    if (o.threshold_mode != "split" && o.threshold_mode != "nearest")
      throw UsageError(cat("--threshold-mode '", o.threshold_mode, "', expected split or nearest"));
  }
  if (o.strategy == "exploit-explore") {
    if (o.pool.empty()) throw UsageError("--strategy exploit-explore needs --pool (exploration scans the pool's shards)");
    if (!(o.explore_fraction >= 0 && o.explore_fraction <= 1))
      throw UsageError(cat("--explore-fraction ", o.explore_fraction, " outside [0, 1]"));
    if (o.top_size == 0) throw UsageError("--top-size 0, expected >= 1");
  }
  if (o.strategy == "activelab" && o.annotations.empty())
    throw UsageError("--strategy activelab needs --annotations (a TSV with columns uid, annotator, label; a header "
                     "alone when nothing is labelled yet)");
  if ((o.strategy == "kmeans") && o.kmeans_iterations < 0)
    throw UsageError(cat("--kmeans-iterations ", o.kmeans_iterations, ", expected >= 0"));
}


void write_motifs(const SelectOptions& o, const std::vector<ChosenMotif>& ms, const std::string& path) {
  AtomicOutput out(path);
  {
    std::ofstream f(out.temp_path(), std::ios::binary);
    if (!f) throw IoError(cat(out.temp_path(), ": cannot create the motif list"));
    f << "class\tmotif\tsize\ttop_count\tn_top\tpool_count\tn_pool\tlift\tqueued\tcount\n";
    char buf[64];
    for (auto& m : ms) {
      std::snprintf(buf, sizeof buf, "%.9g", m.lift);
      f << tsv_escape(m.cls) << '\t' << tsv_escape(m.text) << '\t' << m.size << '\t' << m.top_count << '\t' << m.n_top
        << '\t' << m.pool_count << '\t' << m.n_pool << '\t' << buf << '\t' << m.queued << '\t'
        << (o.explore.occurrences ? "occurrences" : "documents") << '\n';
    }
    f.flush();
    if (!f) throw IoError(cat(out.temp_path(), ": write failed (disk full?)"));
  }
  out.commit();
}

}  // namespace


SelectSummary run_select(const mpi::Comm& comm, const SelectOptions& o) {
  ScopedTimer total("select");
  check_options(o);
  if (comm.root()) check_writable_dir(o.output);
  SelectSummary sum;
  sum.queue_path = join_path(o.output, "queue.tsv");

  // Labelled items (sorted uids).
  std::vector<uint64_t> labelled;
  if (!o.labels.empty()) {
    auto ls = labels::read_labels_tsv(o.labels);
    for (auto& it : ls.items) labelled.push_back(it.uid);
    std::sort(labelled.begin(), labelled.end());
  }
  // Held-out items are skipped like labelled ones (and counted with them).
  if (!o.exclude.empty()) {
    auto held = labels::read_uid_list(o.exclude);
    std::vector<uint64_t> u;
    std::set_union(labelled.begin(), labelled.end(), held.begin(), held.end(), std::back_inserter(u));
    labelled.swap(u);
  }

  // The scores files (exploit-explore reads top-<class>.tsv instead).
  const bool dir = is_directory(o.scores);
  if (!dir && !path_exists(o.scores)) throw IoError(cat("--scores ", o.scores, ": no such file or directory"));
  std::vector<Picked> picked;
  const bool ee = o.strategy == "exploit-explore";
  std::vector<std::string> files;
  if (!ee) {
    files = dir ? list_files(o.scores, "shard-", ".scores.h5") : std::vector<std::string>{o.scores};
    if (files.empty())
      throw InputError(cat("--scores ", o.scores, ": no shard-*.scores.h5 files (expected trawl-score's output: a "
                           "scores file or a directory of per-shard scores)"));
  }
  std::vector<std::string> classes;
  if (!files.empty()) classes = open_scores(files.front(), false).classes;

  if (o.strategy == "activelab") {
    picked = select_activelab(comm, o, labelled, files, classes, sum);
  } else if (strategy::is_streamable(o.strategy)) {
    picked = select_streamable(comm, o, labelled, files, classes, sum);
  } else if (!ee) {
    picked = select_diverse(comm, o, labelled, files, classes, sum);
  } else {
    picked = select_exploit_explore(comm, o, labelled, dir, sum);
  }
  // id and text of the queued items.
  std::vector<uint64_t> want;
  for (auto& x : picked) want.push_back(x.uid);
  std::sort(want.begin(), want.end());
  pool::Rows rows;
  if (!o.pool.empty()) {
    pool::Pool p = pool::open_pool(comm, o.pool);
    rows = pool::fetch_rows(comm, p, want, [&](uint64_t) { return cat("--scores ", o.scores); },
                            io::ShardReader::kId | io::ShardReader::kText);
  } else if (!picked.empty()) {
    log::warn("no --pool given: the queue's id and text columns are empty");
  }
  for (auto& x : picked) {
    QueueRow r;
    r.uid = x.uid;
    r.cls = x.cls;
    r.score = x.score;
    r.source = x.source;
    if (!o.pool.empty()) {
      const long i = rows.find(x.uid);
      TRAWL_ASSERT(i >= 0);
      r.id = rows.id[size_t(i)];
      r.text = rows.text[size_t(i)];
    }
    sum.queue.push_back(std::move(r));
  }
  if (sum.queue.empty())
    log::warn("nothing to select: ", sum.considered, " unlabelled items in ", o.scores, " (", sum.labelled_skipped,
              " labelled skipped); writing an empty queue");
  if (comm.root()) {
    formats::write_queue(sum.queue_path, sum.queue, o.round, o.config);
    if (ee) write_motifs(o, sum.motifs, join_path(o.output, "motifs.tsv"));
  }
  std::map<std::string, size_t> by_source;
  for (auto& r : sum.queue) ++by_source[r.source.compare(0, 8, "explore:") == 0 ? "explore" : r.source];
  std::string srcs;
  for (auto& [s, n] : by_source) srcs += cat(srcs.empty() ? "" : ", ", n, " ", s);
  log::info(o.strategy, ": ", sum.queue.size(), " items (", srcs.empty() ? "none" : srcs, ") from ", sum.considered,
            " unlabelled candidates (", sum.labelled_skipped, " labelled skipped) -> ", sum.queue_path);
  for (auto& m : sum.motifs)
    log::info("class '", m.cls, "' motif '", m.text, "': lift ", m.lift, " (top ", m.top_count, "/", m.n_top, ", pool ",
              m.pool_count, "/", m.n_pool, "), ", m.queued, " queued");
  total.stop();
  mpi::report_timers(comm);
  return sum;
}

}  // namespace trawl::stages
