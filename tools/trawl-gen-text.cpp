// trawl-libs: trawl_cli
// trawl-gen-text: writes synthetic tweet-like text chunks for tests and scale benchmarks:
// Zipf-distributed pseudo-words with hashtags, mentions, URLs, numbers and emoji, and a rare
// positive class whose texts carry topic phrases ("lost my job", ...). Seeded: the same options
// give byte-identical files.
#include <zlib.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include "cli/options.h"
#include "core/error.h"
#include "core/fs.h"
#include "core/log.h"
#include "core/rng.h"
#include "mpi/run.h"

using namespace trawl;
namespace po = cli::po;

namespace {

const char* kSyll[] = {"ka", "lo", "mi", "ter", "sun", "bra", "vel", "do", "ni", "qua", "ris", "po",
                       "zen", "the", "an", "or", "ex", "ul", "me", "tra", "gon", "fi", "sa", "ble"};
const char* kTopic[] = {"lost my job", "laid off today", "got fired", "unemployed again",
                        "looking for work", "job offer", "hiring now", "just got hired"};
const char* kEmoji[] = {"\xF0\x9F\x98\x82", "\xF0\x9F\x94\xA5", "\xE2\x9D\xA4\xEF\xB8\x8F",
                        "\xF0\x9F\x91\x8D\xF0\x9F\x8F\xBD", "\xF0\x9F\x98\xAD"};

struct Out {
  FILE* f = nullptr;
  gzFile g = nullptr;
  void write(const std::string& s) {
    if (g) {
      if (gzwrite(g, s.data(), unsigned(s.size())) != int(s.size())) throw IoError("gzwrite failed");
    } else if (std::fwrite(s.data(), 1, s.size(), f) != s.size()) {
      throw IoError("write failed");
    }
  }
};

std::string json_escape(const std::string& s) {
  std::string o;
  for (char c : s) {
    if (c == '"' || c == '\\') { o += '\\'; o += c; }
    else if (c == '\n') o += "\\n";
    else if (c == '\t') o += "\\t";
    else o += c;
  }
  return o;
}
std::string csv_quote(const std::string& s) {
  if (s.find_first_of(",\"\n\r") == std::string::npos) return s;
  std::string o = "\"";
  for (char c : s) { if (c == '"') o += '"'; o += c; }
  return o + "\"";
}

}  // namespace

int main(int argc, char** argv) {
  return mpi::run_main(argc, argv, "trawl-gen-text", [&](mpi::Comm& comm) {
    std::string out, format = "tsv";
    uint64_t chunks = 4, rows = 1000, seed = 1, vocab = 5000;
    double rate = 0.01;
    bool gzip = false;
    cli::Cli c("trawl-gen-text", "gen-text", "write synthetic tweet-like text chunks with a rare positive class");
    c.required().add_options()("output,o", po::value<std::string>(&out)->required(), "output directory");
    c.optional().add_options()
        ("chunks", po::value<uint64_t>(&chunks)->default_value(4), "number of chunk files")
        ("rows", po::value<uint64_t>(&rows)->default_value(1000), "rows per chunk")
        ("format", po::value<std::string>(&format)->default_value("tsv"), "tsv, csv or jsonl")
        ("gzip", po::bool_switch(&gzip), "gzip the chunks")
        ("positive-rate", po::value<double>(&rate)->default_value(0.01), "fraction of positive rows")
        ("vocab", po::value<uint64_t>(&vocab)->default_value(5000), "distinct pseudo-words")
        ("seed", po::value<uint64_t>(&seed)->default_value(1), "generator seed");
    if (!c.parse(argc, argv)) return 0;
    if (format != "tsv" && format != "csv" && format != "jsonl") throw UsageError("--format: tsv, csv or jsonl");
    make_dirs(out);
    // Pseudo-words and Zipf weights (cumulative).
    std::vector<std::string> words(vocab);
    for (uint64_t w = 0; w < vocab; ++w) {
      Rng r(key(seed, 0xfeed, w));
      int n = 1 + int(r.below(3));
      for (int k = 0; k < n; ++k) words[w] += kSyll[r.below(sizeof kSyll / sizeof *kSyll)];
      words[w] += std::to_string(w % 7 == 0 ? w : 0).substr(0, w % 7 == 0 ? 3 : 0);
    }
    std::vector<double> cum(vocab);
    double acc = 0;
    for (uint64_t w = 0; w < vocab; ++w) cum[w] = acc += 1.0 / std::pow(double(w + 1), 1.05);
    auto mine = mpi::work_split(comm, c.common().shard_id, c.common().num_shards).items(chunks);
    for (uint64_t ch : mine) {
      char name[64];
      std::snprintf(name, sizeof name, "chunk-%05llu.%s%s", (unsigned long long)ch, format.c_str(), gzip ? ".gz" : "");
      std::string path = join_path(out, name);
      AtomicOutput ao(path);
      Out o;
      if (gzip) o.g = gzopen(ao.temp_path().c_str(), "wb6");
      else o.f = std::fopen(ao.temp_path().c_str(), "wb");
      if (!o.f && !o.g) throw IoError(cat(ao.temp_path(), ": cannot write"));
      if (format == "tsv") o.write("id\ttext\tlabel\n");
      if (format == "csv") o.write("id,text,label\n");
      for (uint64_t i = 0; i < rows; ++i) {
        Rng r(key(seed, ch, i));
        bool pos = r.uniform() < rate;
        std::string t;
        int n = 4 + int(r.below(14));
        for (int k = 0; k < n; ++k) {
          double u = r.uniform();
          if (u < 0.03) t += "@" + words[r.below(vocab)];
          else if (u < 0.05) t += "#" + words[r.below(200)];
          else if (u < 0.06) t += "https://t.co/" + std::to_string(r() % 100000);
          else if (u < 0.08) t += std::to_string(r.below(2030));
          else if (u < 0.10) t += kEmoji[r.below(5)];
          else {
            double x = r.uniform() * acc;
            uint64_t w = std::lower_bound(cum.begin(), cum.end(), x) - cum.begin();
            std::string wd = words[std::min(w, vocab - 1)];
            if (r.uniform() < 0.1) wd[0] = char(std::toupper(wd[0]));
            t += wd;
          }
          if (pos && k == n / 2) t += std::string(" ") + kTopic[r.below(8)];
          t += k + 1 < n ? " " : "";
        }
        if (r.uniform() < 0.2) t += r.uniform() < 0.5 ? "!" : "?";
        std::string id = cat("g", ch, "-", i);
        std::string label = pos ? "pos" : "neg";
        if (format == "tsv") o.write(id + "\t" + t + "\t" + label + "\n");
        else if (format == "csv") o.write(id + "," + csv_quote(t) + "," + label + "\n");
        else o.write("{\"id\":\"" + id + "\",\"text\":\"" + json_escape(t) + "\",\"label\":\"" + label + "\"}\n");
      }
      if (o.g && gzclose(o.g) != Z_OK) throw IoError(cat(ao.temp_path(), ": gzclose failed"));
      if (o.f && std::fclose(o.f) != 0) throw IoError(cat(ao.temp_path(), ": close failed"));
      ao.commit();
    }
    comm.barrier();
    log::info("wrote ", chunks, " chunks of ", rows, " rows to ", out);
    return 0;
  });
}
