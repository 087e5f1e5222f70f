// trawl-select --strategy exploit-explore: the twitter-labor workflow (reference/
// twitter-labor.md) over trawl-score's top-<class>.tsv lists and the pool's token motifs.
#include <algorithm>
#include <cmath>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "core/error.h"
#include "core/fs.h"
#include "core/log.h"
#include "core/rng.h"
#include "core/tsv.h"
#include "stages/select_parts.h"
#include "pool/pool.h"
#include "strategy/explore.h"
#include "text/tokenize.h"

namespace trawl::stages::sel {
namespace {

// ---- top-<class>.tsv -------------------------------------------------------------------------
struct TopRow {
  uint64_t uid;
  double score;
};
std::vector<TopRow> read_top(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw IoError(cat(path, ": cannot open the class's top list (expected trawl-score's top-<class>.tsv)"));
  std::string line;
  if (!std::getline(in, line)) throw InputError(cat(path, ": empty file; expected a header naming 'uid'"));
  if (!line.empty() && line.back() == '\r') line.pop_back();
  auto head = tsv::split(line);
  int cu = -1, cs = -1;
  for (size_t i = 0; i < head.size(); ++i) {
    if (head[i] == "uid") cu = int(i);
    if (head[i] == "score") cs = int(i);
  }
  if (cu < 0) throw InputError(cat(at(path, 1, "header '"), line, "' has no 'uid' column"));
  std::vector<TopRow> rows;
  uint64_t ln = 1;
  while (std::getline(in, line)) {
    ++ln;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty()) continue;
    auto f = tsv::split(line);
    TopRow r{0, 0.0};
    if (int(f.size()) <= cu || !tsv::parse_u64(f[size_t(cu)], &r.uid))
      throw InputError(at(path, (long long)ln, cat("uid '", int(f.size()) > cu ? f[size_t(cu)] : "", "' is not an unsigned integer")));
    if (cs >= 0) {
      char* end = nullptr;
      const std::string& t = int(f.size()) > cs ? f[size_t(cs)] : std::string();
      r.score = std::strtod(t.c_str(), &end);
      if (t.empty() || *end || !std::isfinite(r.score))
        throw InputError(at(path, (long long)ln, cat("score '", t, "' is not a finite number")));
    }
    rows.push_back(r);
  }
  if (cs >= 0)
    std::stable_sort(rows.begin(), rows.end(), [](const TopRow& a, const TopRow& b) {
      return a.score != b.score ? a.score > b.score : a.uid < b.uid;
    });
  return rows;
}

std::vector<explore::Motif> read_exclude_motifs(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw IoError(cat(path, ": cannot open the motif exclusion list"));
  std::vector<explore::Motif> out;
  std::string line;
  uint64_t ln = 0;
  int col = -1;  // motifs.tsv: the 'motif' column
  std::vector<uint32_t> ids;
  while (std::getline(in, line)) {
    ++ln;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty() || line[0] == '#') continue;
    auto f = tsv::split(line);
    if (ln == 1 && f.size() > 1) {
      for (size_t i = 0; i < f.size(); ++i)
        if (f[i] == "motif") col = int(i);
      if (col < 0) throw InputError(at(path, 1, "a tab-separated exclusion list needs a 'motif' column"));
      continue;
    }
    const std::string m = col >= 0 ? (int(f.size()) > col ? f[size_t(col)] : "") : line;
    ids.clear();
    text::text_to_ids(m, ids);
    const uint64_t u = text::unigram_count(ids.size());
    if (u < 2 || u > 3)
      throw InputError(at(path, (long long)ln, cat("motif '", m, "' has ", u, " tokens, expected 2 or 3")));
    out.push_back(explore::make_motif(ids[0], ids[1], u == 3 ? ids[2] : explore::kNoToken));
  }
  return out;
}

}  // namespace

/// exploit-explore (twitter-labor): per class, a keyed sample of the top set (exploit) and the
/// items of the motifs with the highest lift (explore).
std::vector<Picked> select_exploit_explore(const mpi::Comm& comm, const SelectOptions& o, const std::vector<uint64_t>& labelled,
                                           bool dir, SelectSummary& sum) {
  std::vector<Picked> picked;
  // ---- exploit-explore ----
  const std::string tdir = dir ? o.scores : [&] {
    auto s = o.scores.rfind('/');
    return s == std::string::npos ? std::string(".") : o.scores.substr(0, s);
  }();
  std::vector<std::string> cls = o.classes;
  if (cls.empty()) {
    // The class names of a scores file beside the lists when there is one (file names hold
    // only a sanitised tag), else the tags themselves.
    auto sf = list_files(tdir, "shard-", ".scores.h5");
    if (path_exists(join_path(tdir, "subpool.scores.h5"))) sf.push_back(join_path(tdir, "subpool.scores.h5"));
    if (!sf.empty()) {
      for (auto& c : open_scores(sf.front(), false).classes)
        if (path_exists(join_path(tdir, "top-" + formats::class_file_tag(c) + ".tsv"))) cls.push_back(c);
    } else {
      for (auto& f : list_files(tdir, "top-", ".tsv")) {
        auto b = basename(f);
        cls.push_back(b.substr(4, b.size() - 8));
      }
    }
  }
  if (cls.empty()) throw InputError(cat(tdir, ": no top-<class>.tsv files (trawl-score writes them per class)"));
  pool::Pool p = pool::open_pool(comm, o.pool);
  explore::ExploreOptions eo = o.explore;
  eo.seed = o.seed;
  eo.round = o.round;
  if (!o.exclude_motifs.empty()) {
    auto ex = read_exclude_motifs(o.exclude_motifs);
    eo.exclude.insert(eo.exclude.end(), ex.begin(), ex.end());
  }
  const uint64_t b = o.batch_size;
  const uint64_t b_explore = uint64_t(std::llround(double(b) * o.explore_fraction));
  eo.per_motif = size_t(2 * b_explore + 8);  // slack for items deduplicated on text
  std::set<uint64_t> taken;
  std::set<std::string> taken_text;
  for (auto& c : cls) {
    const std::string path = join_path(tdir, "top-" + formats::class_file_tag(c) + ".tsv");
    auto rows = read_top(path);
    std::vector<uint64_t> top;
    std::map<uint64_t, double> top_score;
    uint64_t skipped = 0;
    for (auto& r : rows) {
      if (top.size() >= o.top_size) break;
      if (std::binary_search(labelled.begin(), labelled.end(), r.uid)) {
        ++skipped;
        continue;
      }
      if (top_score.count(r.uid)) throw InputError(cat(path, ": uid ", r.uid, " listed twice"));
      top.push_back(r.uid);
      top_score[r.uid] = r.score;
    }
    sum.labelled_skipped += skipped;
    sum.considered += top.size();
    if (rows.size() < o.top_size)
      log::warn(path, ": ", rows.size(), " rows, fewer than --top-size ", o.top_size, " (trawl-score --top-n)");
    log::info("class '", c, "': top set of ", top.size(), " unlabelled items from ", path, " (", skipped,
              " labelled skipped)");
    // Exploration.
    std::vector<uint64_t> excl = labelled;
    excl.insert(excl.end(), taken.begin(), taken.end());
    std::sort(excl.begin(), excl.end());
    std::vector<Picked> ex;
    if (b_explore > 0 && !top.empty()) {
      auto res = explore::explore(comm, p, top, excl, eo);
      const size_t first_motif = sum.motifs.size();
      for (auto& m : res.chosen) {
        ChosenMotif cm;
        cm.cls = c;
        cm.text = m.text;
        cm.size = m.motif.size();
        cm.top_count = m.top_count;
        cm.n_top = res.n_top;
        cm.pool_count = m.pool_count;
        cm.n_pool = res.n_pool;
        cm.lift = m.lift;
        sum.motifs.push_back(cm);
      }
      std::vector<uint64_t> want;
      for (auto& v : res.samples)
        for (auto& x : v) want.push_back(x.uid);
      std::sort(want.begin(), want.end());
      want.erase(std::unique(want.begin(), want.end()), want.end());
      auto txt = pool::fetch_rows(comm, p, want, [](uint64_t) { return std::string("exploration sample"); },
                                  io::ShardReader::kText);
      std::vector<size_t> next(res.chosen.size(), 0), used(res.chosen.size(), 0);
      bool progress = true;
      while (ex.size() < b_explore && progress) {
        progress = false;
        for (size_t m = 0; m < res.chosen.size() && ex.size() < b_explore; ++m) {
          if (o.explore_per_motif && used[m] >= o.explore_per_motif) continue;
          auto& v = res.samples[m];
          while (next[m] < v.size()) {
            const uint64_t u = v[next[m]++].uid;
            const std::string& t = txt.text[size_t(txt.find(u))];
            if (taken.count(u) || taken_text.count(t)) continue;
            taken.insert(u);
            taken_text.insert(t);
            ex.push_back(Picked{u, res.chosen[m].lift, c, "explore:" + res.chosen[m].text});
            ++used[m];
            ++sum.motifs[first_motif + m].queued;
            progress = true;
            break;
          }
        }
      }
      if (ex.size() < b_explore)
        log::warn("class '", c, "': exploration found ", ex.size(), " of ", b_explore, " items (", res.chosen.size(),
                  " motifs chosen); the rest comes from exploitation");
    }
    // Exploitation: a keyed uniform sample of the top set.
    std::vector<uint64_t> pool_top;
    for (auto u : top)
      if (!taken.count(u)) pool_top.push_back(u);
    strategy::Context ctx{key(o.seed, hash_str("exploit:" + c)), o.round};
    const size_t b_exploit = size_t(b - std::min<uint64_t>(b, ex.size()));
    for (size_t i : strategy::random(pool_top, b_exploit, ctx)) {
      taken.insert(pool_top[i]);
      picked.push_back(Picked{pool_top[i], top_score[pool_top[i]], c, "exploit"});
    }
    picked.insert(picked.end(), ex.begin(), ex.end());
  }
  return picked;
}

}  // namespace trawl::stages::sel
