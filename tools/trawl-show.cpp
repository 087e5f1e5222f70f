// trawl-libs: trawl_io trawl_cli
// trawl-show: what a subpool holds, for people: its size, how its items' pool labels compare
// with the pool's base rates (the enrichment AnchorAL is for), and its top items with text.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>

#include "cli/options.h"
#include "core/error.h"
#include "core/fs.h"
#include "io/h5.h"
#include "io/shard.h"
#include "mpi/run.h"

using namespace trawl;
namespace po = cli::po;

int main(int argc, char** argv) {
  return mpi::run_main(argc, argv, "trawl-show", [&](mpi::Comm&) {
    std::string subpool, pool;
    int top = 10;
    cli::Cli c("trawl-show", "show",
               "summarise a subpool.h5: size, label composition against the pool's base rates (when the pool "
               "carries labels), and the top items with their text.");
    c.required().add_options()("subpool", po::value<std::string>(&subpool)->required(), "a subpool.h5 from trawl-retrieve");
    c.optional().add_options()
        ("pool", po::value<std::string>(&pool)->default_value(""), "pool directory (default: the one recorded in the file)")
        ("top", po::value<int>(&top)->default_value(10), "items to print");
    if (!c.parse(argc, argv)) return 0;
    auto f = io::h5::File::open(subpool);
    io::h5::check_format(f, "subpool", 1);
    if (pool.empty()) pool = f.attr_str("pool");
    auto uids = io::h5::Dataset::open(f, "uid").read_all<uint64_t>();
    auto scores = io::h5::Dataset::open(f, "score").read_all<double>();
    auto counts = io::h5::Dataset::open(f, "anchor_count").read_all<int32_t>();
    std::printf("%s: method %s, round %llu, %zu items (%llu candidates from %llu queries; %llu labelled)\n",
                subpool.c_str(), f.attr_str("method").c_str(), (unsigned long long)f.attr_u64("round"), uids.size(),
                (unsigned long long)f.attr_u64("candidates"), (unsigned long long)f.attr_u64("anchors"),
                (unsigned long long)f.attr_u64("labelled"));
    std::map<uint64_t, size_t> pos;
    for (size_t i = 0; i < uids.size(); ++i) pos[uids[i]] = i;
    std::vector<std::string> text(uids.size()), label(uids.size());
    std::map<std::string, uint64_t> pool_counts, sub_counts;
    uint64_t pool_rows = 0;
    for (auto& path : io::list_shards(pool)) {
      io::ShardReader r(path);
      io::ShardBlock b;
      unsigned cols = io::ShardReader::kUid | (r.meta().has_label ? io::ShardReader::kLabel : 0u);
      for (uint64_t s = 0; s < r.rows(); s += 65536) {
        uint64_t e = std::min(r.rows(), s + 65536);
        r.read(s, e, b, cols);
        pool_rows += b.size();
        for (size_t i = 0; i < b.size(); ++i) {
          if (r.meta().has_label) pool_counts[b.label[i]]++;
          auto it = pos.find(b.uid[i]);
          if (it == pos.end()) continue;
          io::ShardBlock one;
          r.read(s + i, s + i + 1, one, io::ShardReader::kText | (r.meta().has_label ? io::ShardReader::kLabel : 0u));
          text[it->second] = one.text[0];
          if (r.meta().has_label) {
            label[it->second] = one.label[0];
            sub_counts[one.label[0]]++;
          }
        }
      }
    }
    if (!pool_counts.empty() && !uids.empty()) {
      std::printf("\n%-16s %10s %8s %10s %8s %8s\n", "label", "pool", "rate", "subpool", "rate", "lift");
      for (auto& [l, n] : pool_counts) {
        double pr = double(n) / double(pool_rows), sr = double(sub_counts[l]) / double(uids.size());
        std::printf("%-16s %10llu %7.2f%% %10llu %7.2f%% %7.2fx\n", l.c_str(), (unsigned long long)n, 100 * pr,
                    (unsigned long long)sub_counts[l], 100 * sr, pr > 0 ? sr / pr : 0.0);
      }
    }
    std::printf("\n%4s %20s %8s %3s %-10s %s\n", "rank", "uid", "score", "n", "label", "text");
    for (int i = 0; i < top && i < int(uids.size()); ++i) {
      std::string t = text[i];
      std::replace(t.begin(), t.end(), '\n', ' ');
      std::replace(t.begin(), t.end(), '\t', ' ');
      if (t.size() > 90) t = t.substr(0, 87) + "...";
      std::printf("%4d %20llu %8.4f %3d %-10s %s\n", i + 1, (unsigned long long)uids[i], scores[i], counts[i],
                  label[i].c_str(), t.c_str());
    }
    return 0;
  });
}
