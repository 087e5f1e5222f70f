// trawl-libs: trawl_text
// Throughput of the text module on one core: reading + parsing chunks (TSV plain and gzip,
// CSV, JSONL) in MB/s, and text_to_ids (normalise + tokenise + hash) in docs/s.
//
//   bench_text [input.tsv[.gz]] [--rows N] [--repeat R]
//
// With an input (a TSV with id and text columns, e.g. /work/shared/data/package-summaries.tsv.gz)
// its rows are used; otherwise synthetic tweet-like rows (~60 characters) are generated. The
// rows are written as plain TSV, gzip TSV, CSV and JSONL under $TMPDIR, read back with
// ChunkReader, and removed. Each figure is the best of R runs (default 3).
#include <unistd.h>
#include <zlib.h>

#include <ctime>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

#include "core/error.h"
#include "core/rng.h"
#include "text/reader.h"
#include "text/tokenize.h"
#include "bench_util.h"

using namespace trawl;
using trawl::bench::now;
using namespace trawl::text;

namespace {

/// CPU time of this thread: on a shared machine it measures the work, not the waiting.
double cpu_now() {
  timespec t;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return double(t.tv_sec) + 1e-9 * double(t.tv_nsec);
}

struct Timing {
  double wall = 1e30, cpu = 1e30;
  void keep_best(double w, double c) {
    wall = std::min(wall, w);
    cpu = std::min(cpu, c);
  }
};

struct Rows {
  std::vector<std::string> id, text;
};

Rows synthetic(size_t n) {
  const std::vector<std::string> words = {
      "i", "lost", "my", "job", "today", "hiring", "now", "the", "a", "to", "and", "is", "for", "new",
      "great", "offer", "work", "from", "home", "can't", "believe", "this", "happened", "again", "lol",
      "Monday", "boss", "fired", "interview", "tomorrow", "wish", "me", "luck", "unemployed", "resume"};
  const std::vector<std::string> extras = {"@user_1", "#JobSearch", "https://t.co/xYz12", "100", "3.5",
                                           "\U0001F62D", "\U0001F44D\U0001F3FD", "caf\u00E9", "!!!", "?"};
  Rng rng(42);
  Rows r;
  r.id.reserve(n);
  r.text.reserve(n);
  for (size_t i = 0; i < n; ++i) {
    r.id.push_back("tw" + std::to_string(1000000000ULL + i));
    std::string t;
    while (t.size() < 50) {
      if (!t.empty()) t += ' ';
      t += rng.below(6) == 0 ? extras[rng.below(extras.size())] : words[rng.below(words.size())];
    }
    r.text.push_back(t);
  }
  return r;
}

Rows load(const std::string& path, size_t max_rows) {
  ReaderOptions o;
  ChunkReader reader(path, o);
  Rows r;
  Row row;
  BadRow bad;
  size_t nbad = 0;
  for (;;) {
    auto st = reader.next(row, bad);
    if (st == ChunkReader::Status::kEnd) break;
    if (st == ChunkReader::Status::kBad) {
      ++nbad;
      continue;
    }
    r.id.push_back(row.id);
    r.text.push_back(row.text);
    if (r.id.size() >= max_rows) break;
  }
  std::fprintf(stderr, "loaded %zu rows (%zu bad) from %s\n", r.id.size(), nbad, path.c_str());
  return r;
}

std::string tsv_escape(const std::string& s) {
  std::string o;
  for (char c : s) {
    if (c == '\t') o += "\\t";
    else if (c == '\n') o += "\\n";
    else if (c == '\r') o += "\\r";
    else if (c == '\\') o += "\\\\";
    else o += c;
  }
  return o;
}
std::string csv_field(const std::string& s) {
  if (s.find_first_of(",\"\r\n") == std::string::npos) return s;
  std::string o = "\"";
  for (char c : s) o += c == '"' ? std::string("\"\"") : std::string(1, c);
  return o + "\"";
}
std::string json_string(const std::string& s) {
  std::string o = "\"";
  for (unsigned char c : s) {
    if (c == '"') o += "\\\"";
    else if (c == '\\') o += "\\\\";
    else if (c < 0x20) {
      char b[8];
      std::snprintf(b, sizeof b, "\\u%04x", c);
      o += b;
    } else {
      o += static_cast<char>(c);
    }
  }
  return o + "\"";
}

void write_text(const std::string& path, const std::string& data) {
  std::ofstream f(path, std::ios::binary);
  f << data;
  if (!f) throw IoError("cannot write " + path);
}
void write_gz(const std::string& path, const std::string& data) {
  gzFile f = gzopen(path.c_str(), "wb6");
  if (!f) throw IoError("cannot write " + path);
  for (size_t off = 0; off < data.size(); off += 1 << 20) {
    unsigned n = static_cast<unsigned>(std::min<size_t>(data.size() - off, 1 << 20));
    if (gzwrite(f, data.data() + off, n) != static_cast<int>(n)) throw IoError("cannot write " + path);
  }
  gzclose(f);
}

struct ReadResult {
  Timing t;
  uint64_t rows = 0, bad = 0;
};

ReadResult time_read(const std::string& path, int repeat) {
  ReadResult res;
  for (int r = 0; r < repeat; ++r) {
    res.rows = res.bad = 0;
    double w0 = now(), c0 = cpu_now();
    ChunkReader reader(path, ReaderOptions());
    Row row;
    BadRow bad;
    for (;;) {
      auto st = reader.next(row, bad);
      if (st == ChunkReader::Status::kEnd) break;
      if (st == ChunkReader::Status::kRow) ++res.rows;
      else ++res.bad;
    }
    res.t.keep_best(now() - w0, cpu_now() - c0);
  }
  return res;
}

}  // namespace

int main(int argc, char** argv) {
  std::string input;
  size_t max_rows = 1 << 30;
  int repeat = 3;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--rows" && i + 1 < argc) max_rows = std::stoull(argv[++i]);
    else if (a == "--repeat" && i + 1 < argc) repeat = std::max(1, std::atoi(argv[++i]));
    else if (a == "-h" || a == "--help") {
      std::printf("usage: bench_text [input.tsv[.gz]] [--rows N] [--repeat R]\n");
      return 0;
    } else input = a;
  }
  try {
    Rows rows = input.empty() ? synthetic(std::min<size_t>(max_rows, 500000)) : load(input, max_rows);
    const size_t n = rows.id.size();
    if (n == 0) {
      std::fprintf(stderr, "no rows\n");
      return 3;
    }
    const char* tmp_env = std::getenv("TMPDIR");
    std::string tmpl = std::string(tmp_env && *tmp_env ? tmp_env : "/tmp") + "/trawl-bench-text-XXXXXX";
    std::vector<char> dir(tmpl.begin(), tmpl.end());
    dir.push_back('\0');
    if (!mkdtemp(dir.data())) throw IoError("mkdtemp failed for " + tmpl);
    const std::string d = dir.data();

    std::string tsv = "id\ttext\n", csv = "id,text\n", jsonl;
    uint64_t text_bytes = 0;
    for (size_t i = 0; i < n; ++i) {
      tsv += tsv_escape(rows.id[i]) + "\t" + tsv_escape(rows.text[i]) + "\n";
      csv += csv_field(rows.id[i]) + "," + csv_field(rows.text[i]) + "\n";
      jsonl += "{\"id\":" + json_string(rows.id[i]) + ",\"text\":" + json_string(rows.text[i]) + "}\n";
      text_bytes += rows.text[i].size();
    }
    write_text(d + "/b.tsv", tsv);
    write_gz(d + "/b.tsv.gz", tsv);
    write_text(d + "/b.csv", csv);
    write_text(d + "/b.jsonl", jsonl);
    const uint64_t tsv_bytes = tsv.size(), csv_bytes = csv.size(), jsonl_bytes = jsonl.size();
    std::string().swap(tsv);
    std::string().swap(csv);
    std::string().swap(jsonl);

    std::printf("bench_text: %zu rows, mean text %.1f bytes, source %s, best of %d\n", n,
                double(text_bytes) / double(n), input.empty() ? "synthetic" : input.c_str(), repeat);
    std::printf("%-30s %9s %9s %11s %11s %12s\n", "stage (one thread)", "wall s", "cpu s", "MB/s wall",
                "MB/s cpu", "rows/s cpu");
    auto line = [](const char* name, const Timing& t, double mb, double rows) {
      std::printf("%-30s %9.3f %9.3f %11.1f %11.1f %12.0f\n", name, t.wall, t.cpu, mb / t.wall, mb / t.cpu,
                  rows / t.cpu);
    };
    auto report_read = [&](const char* name, const std::string& path, uint64_t bytes) {
      ReadResult r = time_read(path, repeat);
      line(name, r.t, double(bytes) / 1e6, double(r.rows));
      if (r.rows + r.bad != n) std::printf("  (warning: read %llu rows + %llu bad, wrote %zu)\n",
                                           (unsigned long long)r.rows, (unsigned long long)r.bad, n);
    };
    report_read("read tsv (plain)", d + "/b.tsv", tsv_bytes);
    report_read("read tsv.gz (uncompressed MB)", d + "/b.tsv.gz", tsv_bytes);
    report_read("read csv (plain)", d + "/b.csv", csv_bytes);
    report_read("read jsonl (plain)", d + "/b.jsonl", jsonl_bytes);

    // Tokenising: text_to_ids over all texts, one thread.
    Timing best, best_norm;
    uint64_t ids_total = 0;
    std::vector<uint32_t> ids;
    std::string norm;
    size_t ascii = 0;
    for (size_t i = 0; i < n; ++i) {
      bool a = true;
      for (unsigned char c : rows.text[i]) a = a && c < 0x80;
      ascii += a;
    }
    for (int r = 0; r < repeat; ++r) {
      double w0 = now(), c0 = cpu_now();
      uint64_t total = 0;
      for (size_t i = 0; i < n; ++i) {
        ids.clear();
        text_to_ids(rows.text[i], ids);
        total += ids.size();
      }
      best.keep_best(now() - w0, cpu_now() - c0);
      ids_total = total;
      w0 = now();
      c0 = cpu_now();
      for (size_t i = 0; i < n; ++i) normalize_into(rows.text[i], norm);
      best_norm.keep_best(now() - w0, cpu_now() - c0);
    }
    line("normalize only (texts/s)", best_norm, double(text_bytes) / 1e6, double(n));
    line("text_to_ids (texts/s)", best, double(text_bytes) / 1e6, double(n));
    std::printf("  (%.1f ids per text: unigrams + bigrams; %.1f%% of texts pure ASCII)\n",
                double(ids_total) / double(n), 100.0 * double(ascii) / double(n));

    for (const char* f : {"/b.tsv", "/b.tsv.gz", "/b.csv", "/b.jsonl"}) ::unlink((d + f).c_str());
    ::rmdir(d.c_str());
  } catch (const Error& e) {
    std::fprintf(stderr, "bench_text: %s\n", e.what());
    return e.exit_code();
  }
  return 0;
}
