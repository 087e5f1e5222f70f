#include "labels/journal.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <string_view>
#include <unordered_set>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <fstream>
#include <map>
#include <set>
#include <tuple>

#include "core/error.h"
#include "core/fs.h"
#include "core/tsv.h"
#include "core/log.h"
#include "core/rng.h"

namespace trawl::labels {

namespace {

std::string header_line() {
  return cat("# trawl-format: ", kJournalFormat, "\ttrawl-format-version: ", kJournalFormatVersion);
}

uint32_t crc_of(const std::string& s) {
  uLong c = ::crc32(0L, Z_NULL, 0);
  c = ::crc32(c, reinterpret_cast<const Bytef*>(s.data()), static_cast<uInt>(s.size()));
  return static_cast<uint32_t>(c);
}


bool parse_u64(const std::string& s, uint64_t* out) {
  if (s.empty() || s[0] < '0' || s[0] > '9') return false;
  errno = 0;
  char* end = nullptr;
  unsigned long long v = std::strtoull(s.c_str(), &end, 10);
  if (errno == ERANGE || *end != '\0') return false;
  *out = v;
  return true;
}

// An fd with a flock held; both released at destruction.
class LockedFile {
 public:
  LockedFile(const std::string& path, int flags, int lock) : path_(path) {
    fd_ = ::open(path.c_str(), flags | O_CLOEXEC, 0644);
    if (fd_ < 0) throw IoError(cat(path, ": cannot open the labels journal: ", std::strerror(errno)));
    while (::flock(fd_, lock) != 0) {
      if (errno == EINTR) continue;
      int e = errno;
      ::close(fd_);
      throw IoError(cat(path, ": cannot lock the labels journal: ", std::strerror(e)));
    }
  }
  ~LockedFile() {
    ::flock(fd_, LOCK_UN);
    ::close(fd_);
  }
  int fd() const { return fd_; }
  std::string read_at(uint64_t offset, uint64_t n) const {
    std::string s(n, '\0');
    uint64_t got = 0;
    while (got < n) {
      ssize_t r = ::pread(fd_, &s[got], n - got, off_t(offset + got));
      if (r < 0) {
        if (errno == EINTR) continue;
        throw IoError(cat(path_, ": read error: ", std::strerror(errno)));
      }
      if (r == 0) break;
      got += uint64_t(r);
    }
    s.resize(got);
    return s;
  }
  std::string read_all() const {
    std::string s;
    char buf[1 << 16];
    if (::lseek(fd_, 0, SEEK_SET) < 0) throw IoError(cat(path_, ": cannot seek: ", std::strerror(errno)));
    for (;;) {
      ssize_t n = ::read(fd_, buf, sizeof buf);
      if (n < 0) {
        if (errno == EINTR) continue;
        throw IoError(cat(path_, ": read error: ", std::strerror(errno)));
      }
      if (n == 0) break;
      s.append(buf, size_t(n));
    }
    return s;
  }

 private:
  std::string path_;
  int fd_ = -1;
};

void check_header(const std::string& line, const std::string& path) {
  const std::string want = cat("# trawl-format: ", kJournalFormat);
  if (line.compare(0, want.size(), want) != 0)
    throw InputError(at(path, 1, cat("not a labels journal: the first line must start with '", want, "'; found '",
                                     line.substr(0, 80), "'")));
  const std::string vk = "trawl-format-version: ";
  size_t v = line.find(vk);
  uint64_t ver = 0;
  if (v == std::string::npos || !parse_u64(line.substr(v + vk.size()), &ver))
    throw InputError(at(path, 1, cat("the header has no readable trawl-format-version: '", line, "'")));
  if (ver > uint64_t(kJournalFormatVersion) || ver == 0)
    throw InputError(at(path, 1, cat("labels journal version ", ver, " is not supported (this trawl reads version ",
                                     kJournalFormatVersion, ")")));
}

}  // namespace

std::string escape_field(const std::string& s) { return tsv::escape(s); }

std::string unescape_field(const std::string& s) { return tsv::unescape(s); }

std::string format_record(const Record& r) {
  std::string body = cat(r.uid, '\t', escape_field(r.cls), '\t', escape_field(r.annotator), '\t',
                         escape_field(r.label), '\t', escape_field(r.time), '\t', r.round, '\t', escape_field(r.source));
  char crc[16];
  std::snprintf(crc, sizeof crc, "%08x", crc_of(body));
  return body + '\t' + crc;
}

Record parse_record(const std::string& line, const std::string& path, uint64_t lineno) {
  size_t t = line.rfind('\t');
  if (t == std::string::npos || line.size() - t - 1 != 8)
    throw InputError(at(path, lineno, cat("corrupt journal record (no checksum field): '", line.substr(0, 120), "'")));
  const std::string body = line.substr(0, t), stored = line.substr(t + 1);
  char crc[16];
  std::snprintf(crc, sizeof crc, "%08x", crc_of(body));
  if (stored != crc)
    throw InputError(at(path, lineno, cat("corrupt journal record: checksum ", stored, " stored, ", crc,
                                          " computed over '", body.substr(0, 120), "'")));
  auto f = tsv::split(body);
  if (f.size() != 7)
    throw InputError(at(path, lineno, cat("corrupt journal record: ", f.size(), " fields before the checksum, expected 7")));
  Record r;
  if (!parse_u64(f[0], &r.uid)) throw InputError(at(path, lineno, cat("uid '", f[0], "' is not an unsigned 64-bit integer")));
  if (!parse_u64(f[5], &r.round)) throw InputError(at(path, lineno, cat("round '", f[5], "' is not an unsigned integer")));
  r.cls = unescape_field(f[1]);
  r.annotator = unescape_field(f[2]);
  r.label = unescape_field(f[3]);
  r.time = unescape_field(f[4]);
  r.source = unescape_field(f[6]);
  r.line = lineno;
  if (r.annotator.empty() || r.label.empty())
    throw InputError(at(path, lineno, "journal record with an empty annotator or label"));
  return r;
}

JournalRead read_journal(const std::string& path) {
  if (!path_exists(path)) throw IoError(cat(path, ": no such labels journal"));
  LockedFile f(path, O_RDONLY, LOCK_SH);
  const std::string data = f.read_all();
  JournalRead jr;
  size_t end = data.rfind('\n');
  size_t complete = end == std::string::npos ? 0 : end + 1;
  if (complete < data.size()) {
    jr.torn_tail = true;
    jr.torn_bytes = data.size() - complete;
    uint64_t lineno = uint64_t(std::count(data.begin(), data.begin() + long(complete), '\n')) + 1;
    log::warn(path, ":", lineno, ": skipping a torn final line (", jr.torn_bytes,
              " bytes without a newline: an interrupted append); the next append removes it");
  }
  if (complete == 0) {
    if (data.empty() || jr.torn_tail) return jr;  // empty, or only a torn header
  }
  size_t a = 0;
  uint64_t lineno = 0;
  while (a < complete) {
    size_t b = data.find('\n', a);
    std::string line = data.substr(a, b - a);
    a = b + 1;
    ++lineno;
    if (lineno == 1) {
      check_header(line, path);
      continue;
    }
    if (line.empty()) throw InputError(at(path, lineno, "corrupt journal: an empty line"));
    jr.records.push_back(parse_record(line, path, lineno));
  }
  return jr;
}

uint64_t append_journal(const std::string& path, const std::vector<Record>& records, uint64_t* already_present) {
  if (already_present) *already_present = 0;
  if (records.empty()) return 0;  // nothing to append: the file is not touched (nor created)
  std::vector<std::string> lines;
  lines.reserve(records.size());
  for (size_t i = 0; i < records.size(); ++i) {
    const Record& r = records[i];
    if (r.annotator.empty() || r.label.empty() || r.time.empty())
      throw UsageError(cat("journal record ", i + 1, " (uid ", r.uid, ") has an empty annotator, label or time"));
    lines.push_back(format_record(r));
  }
  LockedFile f(path, O_RDWR | O_CREAT | O_APPEND, LOCK_EX);
  struct stat st;
  if (::fstat(f.fd(), &st) != 0) throw IoError(cat(path, ": cannot stat: ", std::strerror(errno)));
  uint64_t torn = 0;
  bool need_header = st.st_size == 0;
  if (st.st_size > 0) {
    // Only the first line and the tail are read: an append costs O(records appended), not
    // O(journal size).
    const uint64_t size = uint64_t(st.st_size);
    const std::string head = f.read_at(0, std::min<uint64_t>(size, 4096));
    uint64_t complete = 0;  // bytes up to and including the last newline
    for (uint64_t hi = size; hi > 0;) {
      uint64_t lo = hi > 65536 ? hi - 65536 : 0;
      const std::string part = f.read_at(lo, hi - lo);
      size_t nl = part.rfind('\n');
      if (nl != std::string::npos) {
        complete = lo + nl + 1;
        break;
      }
      hi = lo;
    }
    if (complete == 0) {
      // Only a torn first line: it must be a prefix of the header.
      const std::string h = header_line();
      if (size > h.size() || h.compare(0, head.size(), head) != 0)
        throw InputError(at(path, 1, cat("not a labels journal: '", head.substr(0, 80), "'")));
      need_header = true;
    } else {
      check_header(head.substr(0, head.find('\n')), path);
    }
    if (complete < size) {
      torn = size - complete;
      if (::ftruncate(f.fd(), off_t(complete)) != 0)
        throw IoError(cat(path, ": cannot truncate the torn final line: ", std::strerror(errno)));
      log::warn(path, ": removed a torn final line (", torn, " bytes) before appending");
    }
    if (already_present && complete > 0) {
      // Records already in the journal (the same line: every field equal) are not appended
      // again: rerunning an import that was killed, or importing a cumulative export, adds only
      // what is new. Reads the whole journal (under the lock).
      const std::string data = f.read_at(0, complete);
      std::unordered_set<std::string_view> present;
      for (size_t a = 0; a < data.size();) {
        size_t b = data.find('\n', a);
        present.insert(std::string_view(data).substr(a, b - a));
        a = b + 1;
      }
      std::vector<std::string> fresh;
      for (auto& l : lines) {
        if (present.count(l)) {
          ++*already_present;
        } else {
          fresh.push_back(std::move(l));
        }
      }
      lines.swap(fresh);
    }
  }
  std::string buf;
  for (const auto& l : lines) {
    buf += l;
    buf += '\n';
  }
  if (need_header) buf = header_line() + "\n" + buf;
  if (buf.empty()) return torn;
  size_t done = 0;
  while (done < buf.size()) {  // one write(); a short write continues where it stopped
    ssize_t n = ::write(f.fd(), buf.data() + done, buf.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      throw IoError(cat(path, ": cannot append to the labels journal: ", std::strerror(errno)));
    }
    done += size_t(n);
  }
  if (::fsync(f.fd()) != 0) throw IoError(cat(path, ": fsync failed: ", std::strerror(errno)));
  if (st.st_size == 0) {  // a new journal: make its directory entry durable too
    std::string dir = path.find('/') == std::string::npos ? "." : path.substr(0, path.rfind('/'));
    if (dir.empty()) dir = "/";
    int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
      ::fsync(dfd);
      ::close(dfd);
    }
  }
  return torn;
}

std::string unix_to_iso8601(int64_t seconds) {
  std::time_t t = static_cast<std::time_t>(seconds);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

std::string now_iso8601() { return unix_to_iso8601(int64_t(std::time(nullptr))); }

// ---- consensus

std::vector<Vote> effective_votes(const std::vector<Record>& records, const std::string& only_class) {
  std::map<std::tuple<uint64_t, std::string, std::string>, std::string> latest;
  for (auto& r : records) {
    if (!only_class.empty() && r.cls != only_class) continue;
    latest[{r.uid, r.cls, r.annotator}] = r.label;
  }
  std::vector<Vote> v;
  v.reserve(latest.size());
  for (auto& [k, label] : latest) v.push_back({std::get<0>(k), std::get<1>(k), std::get<2>(k), label});
  return v;
}

ConsensusResult consensus(const std::vector<Vote>& votes, const ConsensusOptions& o) {
  if (o.rule != "majority" && o.rule != "plurality")
    throw UsageError(cat("--rule '", o.rule, "': expected majority or plurality"));
  struct Group {
    uint64_t uid;
    std::string cls;
    size_t a, b;  // votes[a, b)
    std::map<std::string, int> counts;
    std::vector<std::string> tied;  // labels with the top count
    int top = 0, second = 0;
  };
  std::vector<Group> groups;
  std::map<std::string, uint64_t> global;
  for (size_t i = 0; i < votes.size();) {
    size_t j = i;
    Group g{votes[i].uid, votes[i].cls, i, i, {}, {}, 0, 0};
    while (j < votes.size() && votes[j].uid == g.uid && votes[j].cls == g.cls) {
      ++g.counts[votes[j].label];
      ++global[votes[j].label];
      ++j;
    }
    g.b = j;
    for (auto& [l, c] : g.counts) {
      if (c > g.top) {
        g.second = g.top;
        g.top = c;
        g.tied = {l};
      } else if (c == g.top) {
        g.second = c;
        g.tied.push_back(l);
      } else if (c > g.second) {
        g.second = c;
      }
    }
    groups.push_back(std::move(g));
    i = j;
  }
  ConsensusResult res;
  res.items = groups.size();
  if (o.rule == "plurality") {
    for (auto& g : groups) {
      int n = int(g.b - g.a);
      if (n == 1 && !o.keep_single) { ++res.dropped_single; continue; }
      if (n > 1 && g.top <= g.second) { ++res.dropped_tied; continue; }
      res.decisions.push_back({g.uid, g.cls, g.tied[0], n, g.top, "votes"});
    }
    return res;
  }
  // majority: annotator agreement on the items without a tie (computed only when needed)
  std::map<std::string, double> agreement;
  bool agreement_done = false;
  auto compute_agreement = [&]() {
    std::map<std::string, std::pair<uint64_t, uint64_t>> hits;  // annotator -> (agree, total)
    std::set<std::string> all;
    for (auto& g : groups) {
      for (size_t k = g.a; k < g.b; ++k) {
        all.insert(votes[k].annotator);
        if (g.tied.size() != 1) continue;
        auto& h = hits[votes[k].annotator];
        h.second += 1;
        h.first += votes[k].label == g.tied[0];
      }
    }
    double sum = 0;
    for (auto& [a, h] : hits) {
      agreement[a] = double(h.first) / double(h.second);
      sum += agreement[a];
    }
    double mean = hits.empty() ? 0.0 : sum / double(hits.size());
    for (auto& a : all)
      if (!agreement.count(a)) agreement[a] = mean;
    agreement_done = true;
  };
  for (auto& g : groups) {
    Decision d{g.uid, g.cls, "", int(g.b - g.a), g.top, "votes"};
    std::vector<std::string> cand = g.tied;
    if (cand.size() > 1) {  // tie-break 2: the lowest global vote count
      uint64_t lo = UINT64_MAX;
      for (auto& l : cand) lo = std::min(lo, global[l]);
      std::vector<std::string> k;
      for (auto& l : cand)
        if (global[l] == lo) k.push_back(l);
      cand.swap(k);
      d.how = "minority";
    }
    if (cand.size() > 1) {  // tie-break 3: the mean agreement of the annotators who chose it
      if (!agreement_done) compute_agreement();
      std::vector<double> score;
      double hi = -1;
      for (auto& l : cand) {
        double s = 0;
        int n = 0;
        for (size_t k = g.a; k < g.b; ++k)
          if (votes[k].label == l) { s += agreement[votes[k].annotator]; ++n; }
        score.push_back(s / n);
        hi = std::max(hi, score.back());
      }
      std::vector<std::string> k;
      for (size_t i = 0; i < cand.size(); ++i)
        if (score[i] >= hi - 1e-12) k.push_back(cand[i]);
      cand.swap(k);
      d.how = "agreement";
    }
    if (cand.size() > 1) {  // tie-break 4: a uniform draw keyed by (seed, uid)
      Rng rng(key(o.seed, g.uid));
      cand = {cand[rng.below(cand.size())]};
      d.how = "random";
      ++res.random_ties;
    }
    d.label = cand[0];
    res.decisions.push_back(std::move(d));
  }
  if (res.random_ties)
    log::warn(res.random_ties, " item(s) tied on votes, global counts and annotator agreement: settled by a draw keyed by (seed ",
              o.seed, ", uid)");
  return res;
}

std::vector<std::pair<uint64_t, std::string>> label_rows(const ConsensusResult& r, const std::string& journal) {
  std::vector<std::pair<uint64_t, std::string>> rows;
  std::map<uint64_t, const Decision*> seen;
  for (auto& d : r.decisions) {
    auto it = seen.find(d.uid);
    if (it != seen.end()) {
      if (it->second->label != d.label)
        throw InputError(cat(journal, ": uid ", d.uid, " is '", it->second->label, "' by the votes for queued class '",
                             it->second->cls, "' and '", d.label, "' by those for class '", d.cls,
                             "' (use --queued-class to take one class's view)"));
      continue;
    }
    seen[d.uid] = &d;
    rows.emplace_back(d.uid, d.label);
  }
  return rows;
}

void write_long_table(const std::string& path, const std::vector<Vote>& votes) {
  AtomicOutput out(path);
  {
    std::ofstream o(out.temp_path());
    if (!o) throw IoError(cat(out.temp_path(), ": cannot write"));
    o << "uid\tannotator\tlabel\tclass\n";
    for (auto& v : votes)
      o << v.uid << '\t' << escape_field(v.annotator) << '\t' << escape_field(v.label) << '\t' << escape_field(v.cls) << '\n';
    o.close();
    if (!o) throw IoError(cat(out.temp_path(), ": write error"));
  }
  out.commit();
}

}  // namespace trawl::labels
