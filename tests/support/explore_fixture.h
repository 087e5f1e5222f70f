// Shared fixture of the exploration tests (tests/unit/test_explore.cpp, tests/mpi/test_explore_mpi.cpp):
// a seeded pool of tweet-like documents over a 20-word vocabulary (a quarter carry the motif
// "lost … my … job"), written as real shards, and an independent brute-force motif count.
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "core/error.h"
#include "core/fs.h"
#include "core/rng.h"
#include "io/shard.h"
#include "strategy/explore.h"
#include "text/tokenize.h"

namespace trawl::test::explore_fixture {
using trawl::explore::make_motif;
using trawl::explore::Motif;

inline uint32_t id(const char* w) { return text::unigram_id(w); }

inline const char* kWords[] = {"lost", "my", "job", "today", "the", "a", "new", "work", "hiring", "we", "are",
                        "t", "s", "@bob", "http://x.y", "42", "fired", "boss", "happy", "sunny"};

struct Doc {
  uint64_t uid;
  std::string text;
};

inline std::vector<Doc> make_docs(int shards, int per_shard, uint64_t seed) {
  Rng r(seed);
  std::vector<Doc> d;
  for (int s = 0; s < shards; ++s)
    for (int i = 0; i < per_shard; ++i) {
      std::string t;
      const int n = 2 + int(r.below(9));
      const bool theme = r.below(4) == 0;
      for (int k = 0; k < n; ++k) {
        if (theme && k == 1) t += "lost ";
        if (theme && k == n / 2 + 1) t += "my ";
        t += kWords[r.below(sizeof kWords / sizeof *kWords)];
        t += ' ';
        if (theme && k == n - 1) t += "job";
      }
      d.push_back(Doc{io::make_uid(uint64_t(s), uint64_t(i)), t});
    }
  return d;
}

/// One shard per chunk (uid >> 40) under dir (created), 2-d unit embeddings, ids id_prefix + uid.
inline void write_pool(const std::string& dir, const std::vector<Doc>& docs, const std::string& id_prefix = "id") {
  make_dirs(dir);
  std::map<uint64_t, io::ShardBlock> by;
  for (auto& d : docs) {
    auto& b = by[d.uid >> 40];
    b.uid.push_back(d.uid);
    b.id.push_back(cat(id_prefix, d.uid));
    b.text.push_back(d.text);
    text::text_to_ids(d.text, b.token_ids);
    b.token_offsets.push_back(b.token_ids.size());
    b.embedding.push_back(1.0f);
    b.embedding.push_back(0.0f);
  }
  for (auto& [chunk, b] : by) {
    io::ShardMeta m;
    m.encoder = "test";
    m.encoder_params = "none";
    m.dim = 2;
    m.source_file = cat("chunk", chunk);
    m.source_checksum = "crc32:00000000/size:0";
    m.chunk_index = chunk;
    const std::string path = join_path(dir, io::shard_file_name(chunk));
    io::ShardWriter w(path, m, 64);
    w.append(b);
    w.close(0);
  }
}

/// Independent: tokens by splitting on spaces (the vocabulary is plain lowercase words), stop set
/// by the words themselves.
inline std::vector<uint32_t> brute_tokens(const std::string& t, bool drop_stop) {
  std::vector<uint32_t> v;
  size_t i = 0;
  while (i < t.size()) {
    size_t j = t.find(' ', i);
    if (j == std::string::npos) j = t.size();
    std::string w = t.substr(i, j - i);
    i = j + 1;
    if (w.empty()) continue;
    bool stop = w == "t" || w == "s" || w == "@bob" || w == "http://x.y" || w == "42";
    if (drop_stop && stop) continue;
    v.push_back(w == "@bob" ? id("<user>") : w == "http://x.y" ? id("<url>") : w == "42" ? id("<number>") : id(w.c_str()));
  }
  return v;
}
inline std::map<Motif, uint64_t> brute_counts(const std::vector<Doc>& docs, bool occ) {
  std::map<Motif, uint64_t> c;
  for (auto& d : docs) {
    auto t = brute_tokens(d.text, true);
    std::map<Motif, uint64_t> mine;
    for (size_t i = 0; i < t.size(); ++i)
      for (size_t j = i + 1; j < t.size(); ++j) {
        if (t[i] != t[j]) ++mine[make_motif(t[i], t[j])];
        for (size_t l = j + 1; l < t.size(); ++l)
          if (t[i] != t[j] && t[i] != t[l] && t[j] != t[l]) ++mine[make_motif(t[i], t[j], t[l])];
      }
    for (auto& [m, n] : mine) c[m] += occ ? n : 1;
  }
  return c;
}

}  // namespace trawl::test::explore_fixture
