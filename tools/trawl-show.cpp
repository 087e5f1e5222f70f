// trawl-libs: trawl_io trawl_formats trawl_cli trawl_pool
// trawl-show: for people. --subpool: what a subpool holds, its size, how its items' pool labels
// compare with the pool's base rates (the enrichment AnchorAL is for), and its top items with
// text. --queue: the queue an annotator gets from trawl-select, with each item's pool label
// when the pool carries one (what a simulation's oracle would answer).
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <map>

#include "cli/options.h"
#include "core/error.h"
#include "core/fs.h"
#include "formats/subpool.h"
#include "io/h5.h"
#include "io/shard.h"
#include "mpi/run.h"
#include "pool/pool.h"
#include "core/tsv.h"

using namespace trawl;
namespace po = cli::po;

namespace {
std::string one_line(std::string t, size_t width) {
  std::replace(t.begin(), t.end(), '\n', ' ');
  std::replace(t.begin(), t.end(), '\t', ' ');
  std::replace(t.begin(), t.end(), '\r', ' ');
  if (t.size() > width) {
    size_t cut = width - 3;
    while (cut > 0 && (static_cast<unsigned char>(t[cut]) & 0xC0) == 0x80) --cut;  // not inside a UTF-8 sequence
    t = t.substr(0, cut) + "...";
  }
  return t;
}

// Prints a queue.tsv (trawl-select) with the pool's labels of its items.
void show_queue(const mpi::Comm& comm, const std::string& path, const std::string& pool_dir, int top) {
  std::ifstream is(path, std::ios::binary);
  if (!is) throw IoError(cat(path, ": cannot open the queue file"));
  std::string in((std::istreambuf_iterator<char>(is)), std::istreambuf_iterator<char>());
  std::vector<std::vector<std::string>> rows;
  std::vector<std::string> header;
  size_t line_no = 0, start = 0;
  while (start < in.size()) {
    size_t end = in.find('\n', start);
    if (end == std::string::npos) end = in.size();
    std::string line = in.substr(start, end - start);
    start = end + 1;
    ++line_no;
    if (line.empty() || line[0] == '#') continue;
    auto f = tsv::split(line);
    if (header.empty()) {
      header = f;
      continue;
    }
    if (f.size() != header.size())
      throw InputError(cat(path, ":", line_no, ": ", f.size(), " fields, the header has ", header.size()));
    rows.push_back(std::move(f));
  }
  auto col = [&](const char* name) {
    for (size_t i = 0; i < header.size(); ++i)
      if (header[i] == name) return i;
    throw InputError(cat(path, ": no '", name, "' column in the header (is it a trawl-select queue.tsv?)"));
  };
  const size_t cu = col("uid"), ct = col("text"), cc = col("class"), cs = col("score"), cr = col("rank"),
               csrc = col("source");
  std::vector<uint64_t> uids;
  for (size_t i = 0; i < rows.size(); ++i) {
    const std::string& u = rows[i][cu];
    char* e = nullptr;
    uint64_t v = std::strtoull(u.c_str(), &e, 10);
    if (u.empty() || *e) throw InputError(cat(path, ": row ", i + 1, ": uid '", u, "' is not an unsigned integer"));
    uids.push_back(v);
  }
  std::map<uint64_t, std::string> label_of;
  std::map<std::string, uint64_t> queue_counts;
  if (!pool_dir.empty() && !uids.empty()) {
    auto p = pool::open_pool(comm, pool_dir);
    io::ShardReader first(p.first);
    if (first.meta().has_label) {
      std::vector<uint64_t> want = uids;
      std::sort(want.begin(), want.end());
      want.erase(std::unique(want.begin(), want.end()), want.end());
      auto got = pool::fetch_rows(
          comm, p, want, [&](uint64_t u) { return cat(path, ": uid ", u); }, io::ShardReader::kLabel);
      for (size_t i = 0; i < got.size(); ++i) label_of[got.uid[i]] = got.label[i];
      for (uint64_t u : uids) queue_counts[label_of[u]]++;
    }
  }
  std::printf("%s: %zu items\n", path.c_str(), rows.size());
  if (!queue_counts.empty()) {
    std::printf("pool labels of the queued items:");
    for (auto& [l, n] : queue_counts) std::printf("  %s %llu", l.c_str(), (unsigned long long)n);
    std::printf("\n");
  }
  std::printf("\n%4s %-22s %-10s %9s %-10s %s\n", "rank", "source", "class", "score", "pool-label", "text");
  for (int i = 0; i < top && i < int(rows.size()); ++i) {
    const auto& r = rows[i];
    std::string lab = label_of.count(uids[i]) ? label_of[uids[i]] : "";
    std::printf("%4s %-22s %-10s %9.4f %-10s %s\n", r[cr].c_str(), one_line(r[csrc], 22).c_str(), r[cc].c_str(),
                std::strtod(r[cs].c_str(), nullptr), lab.c_str(),
                one_line(tsv::unescape(r[ct]), 80).c_str());
  }
}
}  // namespace

int main(int argc, char** argv) {
  return mpi::run_main(argc, argv, "trawl-show", [&](mpi::Comm& comm) {
    std::string subpool, pool, queue;
    int top = 10;
    cli::Cli c("trawl-show", "show",
               "summarise a subpool.h5 (--subpool: size, label composition against the pool's base rates when the "
               "pool carries labels, the top items with their text) or an annotation queue (--queue: queue.tsv "
               "from trawl-select, with the pool's label of each item).");
    c.optional().add_options()
        ("subpool", po::value<std::string>(&subpool)->default_value(""), "a subpool.h5 from trawl-retrieve")
        ("queue", po::value<std::string>(&queue)->default_value(""), "a queue.tsv from trawl-select")
        ("pool", po::value<std::string>(&pool)->default_value(""), "pool directory (default: the one recorded in the file)")
        ("top", po::value<int>(&top)->default_value(10), "items to print");
    if (!c.parse(argc, argv)) return 0;
    if (subpool.empty() == queue.empty()) throw UsageError("give exactly one of --subpool FILE and --queue FILE");
    if (!queue.empty()) {
      show_queue(comm, queue, pool, top);
      return 0;
    }
    formats::SubpoolReader sr(subpool);
    const auto& si = sr.info();
    if (pool.empty()) pool = si.meta.pool;
    const auto& uids = sr.uids();
    auto scores = sr.scores();
    auto counts = sr.anchor_counts();
    std::printf("%s: method %s, round %llu, %zu items (%llu candidates from %llu queries; %llu labelled)\n",
                subpool.c_str(), si.meta.method.c_str(), (unsigned long long)si.meta.round, uids.size(),
                (unsigned long long)si.candidates, (unsigned long long)si.anchors, (unsigned long long)si.labelled);
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
      std::string t = one_line(text[i], 90);
      std::printf("%4d %20llu %8.4f %3d %-10s %s\n", i + 1, (unsigned long long)uids[i], scores[i], counts[i],
                  label[i].c_str(), t.c_str());
    }
    return 0;
  });
}
