// trawl-libs: trawl_io trawl_labels trawl_cli
// trawl-seed-labels: a seed labelled set (or an oracle file) from the labels a pool carries,
// as the reference protocol draws it: N items of each listed minority class plus R items drawn
// uniformly from the rest. Draws are keyed by (seed, uid), so they do not depend on shard order.
#include <algorithm>
#include <map>
#include <set>
#include <sstream>

#include "cli/options.h"
#include "core/error.h"
#include "core/log.h"
#include "core/rng.h"
#include "io/shard.h"
#include "labels/labels.h"
#include "mpi/run.h"

using namespace trawl;
namespace po = cli::po;

int main(int argc, char** argv) {
  return mpi::run_main(argc, argv, "trawl-seed-labels", [&](mpi::Comm& comm) {
    std::string pool, out, minority;
    uint64_t per_class = 5, rest = 95, seed = 42;
    bool all = false;
    cli::Cli c("trawl-seed-labels", "seed-labels",
               "write a uid<TAB>label file from the labels stored in a pool's shards: --per-class items of each "
               "--minority class plus --rest uniform items of the other rows (the reference's initial set: 5 "
               "per minority class + 95), or --all rows (an oracle for simulation).");
    c.required().add_options()
        ("pool", po::value<std::string>(&pool)->required(), "directory of shard-*.h5 files with a label column")
        ("output,o", po::value<std::string>(&out)->required(), "labels TSV to write");
    c.optional().add_options()
        ("minority", po::value<std::string>(&minority)->default_value(""), "comma-separated minority classes")
        ("per-class", po::value<uint64_t>(&per_class)->default_value(5), "items per minority class")
        ("rest", po::value<uint64_t>(&rest)->default_value(95), "items drawn uniformly from the other rows")
        ("seed", po::value<uint64_t>(&seed)->default_value(42), "draw seed")
        ("all", po::bool_switch(&all), "write every labelled row (an oracle file)");
    if (!c.parse(argc, argv)) return 0;
    std::set<std::string> mino;
    std::stringstream ss(minority);
    for (std::string x; std::getline(ss, x, ',');)
      if (!x.empty()) mino.insert(x);
    // (priority, uid, label) per group; a group is a minority class or "rest".
    std::map<std::string, std::vector<std::tuple<uint64_t, uint64_t, std::string>>> groups;
    std::vector<std::pair<uint64_t, std::string>> rows;
    std::map<std::string, uint64_t> counts;
    for (auto& path : io::list_shards(pool)) {
      io::ShardReader r(path);
      if (!r.meta().has_label) throw InputError(cat(path, ": the shard has no label column (embed with --label-column)"));
      io::ShardBlock b;
      for (uint64_t s = 0; s < r.rows(); s += 65536) {
        r.read(s, std::min(r.rows(), s + 65536), b, io::ShardReader::kUid | io::ShardReader::kLabel);
        for (size_t i = 0; i < b.size(); ++i) {
          if (b.label[i].empty()) continue;
          counts[b.label[i]]++;
          if (all) {
            rows.push_back({b.uid[i], b.label[i]});
            continue;
          }
          const std::string g = mino.count(b.label[i]) ? b.label[i] : std::string("\x01rest");
          auto& v = groups[g];
          v.emplace_back(mix64(key(seed, b.uid[i])), b.uid[i], b.label[i]);
          uint64_t keep = g == "\x01rest" ? rest : per_class;
          if (v.size() > 4 * keep + 1024) {  // bound memory: keep the smallest priorities
            std::nth_element(v.begin(), v.begin() + keep, v.end());
            v.resize(keep);
          }
        }
      }
    }
    for (auto& m : mino)
      if (!counts.count(m)) throw UsageError(cat("--minority: class '", m, "' does not occur in ", pool));
    for (auto& [g, v] : groups) {
      uint64_t keep = g == "\x01rest" ? rest : per_class;
      std::sort(v.begin(), v.end());
      if (v.size() > keep) v.resize(keep);
      for (auto& [p, u, l] : v) rows.push_back({u, l});
    }
    std::sort(rows.begin(), rows.end());
    if (comm.root()) labels::write_labels_tsv(out, rows);
    std::string dist;
    for (auto& [l, n] : counts) dist += cat(dist.empty() ? "" : ", ", l, " ", n);
    log::info("pool labels: ", dist, "; wrote ", rows.size(), " labelled items to ", out);
    return 0;
  });
}
