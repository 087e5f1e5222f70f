#include "formats/queue.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <set>

#include "core/error.h"
#include "core/fs.h"
#include "core/tsv.h"
#include "trawl/version.h"

namespace trawl::formats {

void write_queue(const std::string& path, const std::vector<QueueRow>& q, uint64_t round, const std::string& config) {
  AtomicOutput out(path);
  {
    std::ofstream f(out.temp_path(), std::ios::binary);
    if (!f) throw IoError(cat(out.temp_path(), ": cannot create the queue"));
    f << "# trawl-format: " << kQueueFormat << "\n# trawl-format-version: " << kQueueFormatVersion
      << "\n# trawl-version: " << TRAWL_VERSION << "\n";
    for (auto& [n, l] : tsv::numbered_lines(config))
      if (!l.empty()) f << "# config: " << tsv::escape(l) << "\n";
    f << "uid\tid\ttext\tclass\tscore\trank\tsource\tround\n";
    char buf[64];
    for (size_t i = 0; i < q.size(); ++i) {
      std::snprintf(buf, sizeof buf, "%.9g", q[i].score);
      f << q[i].uid << '\t' << tsv::escape(q[i].id) << '\t' << tsv::escape(q[i].text) << '\t' << tsv::escape(q[i].cls)
        << '\t' << buf << '\t' << (i + 1) << '\t' << tsv::escape(q[i].source) << '\t' << round << '\n';
    }
    f.flush();
    if (!f) throw IoError(cat(out.temp_path(), ": write failed (disk full?)"));
  }
  out.commit();
}

std::vector<QueueItem> read_queue(const std::string& path) {
  const std::string data = tsv::read_file(path);
  std::vector<QueueItem> q;
  bool format_seen = false, header = false;
  int col[8];
  const char* names[8] = {"uid", "id", "text", "class", "score", "rank", "source", "round"};
  size_t ncols = 0;
  std::set<uint64_t> seen;
  for (auto& [n, line] : tsv::numbered_lines(data)) {
    if (line.empty()) continue;
    if (line[0] == '#') {
      const std::string fk = "# trawl-format: ", vk = "# trawl-format-version: ";
      if (line.compare(0, fk.size(), fk) == 0) {
        if (line.substr(fk.size()) != kQueueFormat)
          throw InputError(at(path, long(n), cat("trawl-format '", line.substr(fk.size()), "', expected a queue (trawl-select)")));
        format_seen = true;
      } else if (line.compare(0, vk.size(), vk) == 0) {
        uint64_t v = 0;
        if (!tsv::parse_u64(line.substr(vk.size()), &v) || v == 0 || v > uint64_t(kQueueFormatVersion))
          throw InputError(at(path, long(n), cat("queue version '", line.substr(vk.size()), "' is not supported (this trawl reads ", kQueueFormatVersion, ")")));
      }
      continue;
    }
    auto f = tsv::split(line);
    if (!header) {
      if (!format_seen) throw InputError(at(path, long(n), "not a queue: no '# trawl-format: queue' line before the header"));
      for (int k = 0; k < 8; ++k) {
        auto it = std::find(f.begin(), f.end(), names[k]);
        if (it == f.end()) throw InputError(at(path, long(n), cat("the queue header has no column '", names[k], "'")));
        col[k] = int(it - f.begin());
      }
      ncols = f.size();
      header = true;
      continue;
    }
    if (f.size() != ncols) throw InputError(at(path, long(n), cat("expected ", ncols, " tab-separated fields, found ", f.size())));
    QueueItem it;
    it.line = n;
    if (!tsv::parse_u64(f[col[0]], &it.uid)) throw InputError(at(path, long(n), cat("uid '", f[col[0]], "' is not an unsigned 64-bit integer")));
    if (!seen.insert(it.uid).second) throw InputError(at(path, long(n), cat("uid ", it.uid, " is queued twice")));
    it.id = tsv::unescape(f[col[1]]);
    it.text = tsv::unescape(f[col[2]]);
    it.cls = tsv::unescape(f[col[3]]);
    char* end = nullptr;
    it.score = std::strtod(f[col[4]].c_str(), &end);
    if (f[col[4]].empty() || *end != '\0') throw InputError(at(path, long(n), cat("score '", f[col[4]], "' is not a number")));
    if (!tsv::parse_u64(f[col[5]], &it.rank)) throw InputError(at(path, long(n), cat("rank '", f[col[5]], "' is not an unsigned integer")));
    it.source = tsv::unescape(f[col[6]]);
    if (!tsv::parse_u64(f[col[7]], &it.round)) throw InputError(at(path, long(n), cat("round '", f[col[7]], "' is not an unsigned integer")));
    q.push_back(std::move(it));
  }
  if (!header) throw InputError(cat(path, ": no queue header (uid id text class score rank source round)"));
  return q;
}

}  // namespace trawl::formats
