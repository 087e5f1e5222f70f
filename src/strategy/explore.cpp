#include "strategy/explore.h"

#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

#include "core/error.h"
#include "core/log.h"
#include "core/progress.h"
#include "core/rng.h"
#include "core/timer.h"
#include "io/block_stream.h"
#include "io/shard.h"
#include "text/tokenize.h"

namespace trawl::explore {

// ---- motifs --------------------------------------------------------------------------------

Motif make_motif(uint32_t a, uint32_t b, uint32_t c) {
  Motif m;
  m.ids = {{a, b, c}};
  return m;
}
bool Motif::has_repeat() const {
  const int n = size();
  for (int i = 0; i < n; ++i)
    for (int j = i + 1; j < n; ++j)
      if (ids[size_t(i)] == ids[size_t(j)]) return true;
  return false;
}
bool Motif::shares_token(const Motif& o) const {
  for (int i = 0; i < size(); ++i)
    for (int j = 0; j < o.size(); ++j)
      if (ids[size_t(i)] == o.ids[size_t(j)]) return true;
  return false;
}
uint64_t motif_key(const Motif& m) { return key(0x6d6f74696631ULL, m.ids[0], m.ids[1], m.ids[2]); }

namespace {
const uint32_t kStop[] = {text::unigram_id("<url>"), text::unigram_id("<user>"), text::unigram_id("<number>"),
                          text::unigram_id("t"), text::unigram_id("s")};

inline size_t motif_hash(const Motif& m) {
  return size_t(mix64((uint64_t(m.ids[0]) << 32 | m.ids[1]) ^ mix64(m.ids[2])));
}

/// Open-addressing map Motif -> u64 (linear probing, load <= 1/2; empty slot: ids[0] = kNoToken).
class MotifMap {
 public:
  explicit MotifMap(size_t expected = 16) { rehash(expected); }
  size_t size() const { return used_; }
  uint64_t& operator[](const Motif& m) {
    if (2 * (used_ + 1) > keys_.size()) rehash(used_ + 1);
    size_t i = motif_hash(m) & mask_;
    while (keys_[i].ids[0] != kNoToken) {
      if (keys_[i] == m) return vals_[i];
      i = (i + 1) & mask_;
    }
    keys_[i] = m;
    ++used_;
    return vals_[i] = 0;
  }
  const uint64_t* find(const Motif& m) const {
    size_t i = motif_hash(m) & mask_;
    while (keys_[i].ids[0] != kNoToken) {
      if (keys_[i] == m) return &vals_[i];
      i = (i + 1) & mask_;
    }
    return nullptr;
  }
  template <class F> void for_each(const F& f) const {
    for (size_t i = 0; i < keys_.size(); ++i)
      if (keys_[i].ids[0] != kNoToken) f(keys_[i], vals_[i]);
  }

 private:
  void rehash(size_t need) {
    size_t cap = 16;
    while (cap < 2 * need) cap <<= 1;
    if (cap <= keys_.size()) return;
    std::vector<Motif> k(cap);
    std::vector<uint64_t> v(cap);
    const size_t mask = cap - 1;
    for (size_t i = 0; i < keys_.size(); ++i)
      if (keys_[i].ids[0] != kNoToken) {
        size_t j = motif_hash(keys_[i]) & mask;
        while (k[j].ids[0] != kNoToken) j = (j + 1) & mask;
        k[j] = keys_[i];
        v[j] = vals_[i];
      }
    keys_.swap(k);
    vals_.swap(v);
    mask_ = mask;
  }
  std::vector<Motif> keys_;
  std::vector<uint64_t> vals_;
  size_t mask_ = 0, used_ = 0;
};

bool wants(const ExploreOptions& o, int size) { return std::find(o.sizes.begin(), o.sizes.end(), size) != o.sizes.end(); }

void check_options(const ExploreOptions& o) {
  if (o.sizes.empty()) throw UsageError("exploration: no motif size given; expected 2 and/or 3");
  for (int s : o.sizes)
    if (s != 2 && s != 3) throw UsageError(cat("exploration: motif size ", s, ", expected 2 or 3"));
  if (!(o.min_lift >= 0)) throw UsageError(cat("exploration: min lift ", o.min_lift, ", expected >= 0"));
  if (o.max_motifs < 0) throw UsageError(cat("exploration: max motifs ", o.max_motifs, ", expected >= 0"));
  if (o.max_tokens < 0) throw UsageError(cat("exploration: max tokens ", o.max_tokens, ", expected >= 0"));
  if (o.block_rows == 0) throw UsageError("exploration: block rows 0, expected >= 1");
}

/// Calls f(motif) for every motif of the requested sizes of toks (no repeated token).
template <class F>
void for_each_motif(const std::vector<uint32_t>& t, bool two, bool three, const F& f) {
  const size_t n = t.size();
  for (size_t i = 0; i < n; ++i)
    for (size_t j = i + 1; j < n; ++j) {
      if (t[j] == t[i]) continue;
      if (two) f(make_motif(t[i], t[j]));
      if (three)
        for (size_t l = j + 1; l < n; ++l)
          if (t[l] != t[i] && t[l] != t[j]) f(make_motif(t[i], t[j], t[l]));
    }
}

bool in_sorted(const std::vector<uint64_t>& v, uint64_t u) { return std::binary_search(v.begin(), v.end(), u); }

}  // namespace

bool in_pool_sample(uint64_t uid, double rate, uint64_t seed) {
  if (rate >= 1.0) return true;
  return double(key(seed, 0x706f6f6c73616d70ULL, uid) >> 11) * (1.0 / 9007199254740992.0) < rate;
}

bool is_stop_token(uint32_t id) {
  for (uint32_t s : kStop)
    if (id == s) return true;
  return false;
}

void motif_tokens(const uint32_t* ids, size_t n, int max_tokens, std::vector<uint32_t>& out) {
  out.clear();
  const size_t u = text::unigram_count(n);
  for (size_t i = 0; i < u; ++i) {
    if (is_stop_token(ids[i])) continue;
    if (max_tokens > 0 && out.size() >= size_t(max_tokens)) break;
    out.push_back(ids[i]);
  }
}

bool matches(const Motif& m, const uint32_t* t, size_t n) {
  const int k = m.size();
  int at = 0;
  for (size_t i = 0; i < n && at < k; ++i)
    if (t[i] == m.ids[size_t(at)]) ++at;
  return at == k && k > 0;
}

// ---- step 1a: the top set --------------------------------------------------------------------

std::vector<MotifStat> count_top_motifs(const std::vector<uint64_t>& offsets, const std::vector<uint32_t>& ids,
                                        const ExploreOptions& o) {
  check_options(o);
  TRAWL_ASSERT(!offsets.empty() && offsets.back() == ids.size());
  const bool two = wants(o, 2), three = wants(o, 3);
  MotifMap counts(1 << 16);
  std::vector<uint32_t> toks;
  std::vector<Motif> doc;
  for (size_t r = 0; r + 1 < offsets.size(); ++r) {
    motif_tokens(ids.data() + offsets[r], offsets[r + 1] - offsets[r], o.max_tokens, toks);
    if (o.occurrences) {
      for_each_motif(toks, two, three, [&](const Motif& m) { ++counts[m]; });
    } else {
      doc.clear();
      for_each_motif(toks, two, three, [&](const Motif& m) { doc.push_back(m); });
      std::sort(doc.begin(), doc.end());
      doc.erase(std::unique(doc.begin(), doc.end()), doc.end());
      for (auto& m : doc) ++counts[m];
    }
  }
  std::vector<Motif> excl = o.exclude;
  std::sort(excl.begin(), excl.end());
  std::vector<MotifStat> out;
  counts.for_each([&](const Motif& m, uint64_t c) {
    if (c < o.min_count || std::binary_search(excl.begin(), excl.end(), m)) return;
    MotifStat s;
    s.motif = m;
    s.top_count = c;
    out.push_back(s);
  });
  std::sort(out.begin(), out.end(), [](const MotifStat& a, const MotifStat& b) { return a.motif < b.motif; });
  return out;
}

// ---- step 1b: per-document counting over the pool ------------------------------------------

struct MotifCounter::Table {
  MotifMap index;     // candidate -> position
  MotifMap prefixes;  // (a, b) pairs that start a candidate triple
  std::vector<uint32_t> tokens;  // sorted tokens of all candidates
  bool two = false, three = false;
};

MotifCounter::MotifCounter(const std::vector<MotifStat>& cands, const ExploreOptions& o)
    : n_(cands.size()), occurrences_(o.occurrences), max_tokens_(o.max_tokens), stamp_(cands.size(), 0) {
  auto t = std::make_shared<Table>();
  for (size_t i = 0; i < cands.size(); ++i) {
    const Motif& m = cands[i].motif;
    t->index[m] = i;
    if (m.size() == 3) {
      t->prefixes[make_motif(m.ids[0], m.ids[1])] = 1;
      t->three = true;
    } else {
      t->two = true;
    }
    for (int k = 0; k < m.size(); ++k) t->tokens.push_back(m.ids[size_t(k)]);
  }
  std::sort(t->tokens.begin(), t->tokens.end());
  t->tokens.erase(std::unique(t->tokens.begin(), t->tokens.end()), t->tokens.end());
  t_ = t;
}

void MotifCounter::add(const uint32_t* ids, size_t n, uint64_t* counts) {
  if (n_ == 0) return;
  motif_tokens(ids, n, max_tokens_, toks_);
  const auto& tok = t_->tokens;
  size_t w = 0;
  for (size_t i = 0; i < toks_.size(); ++i)
    if (std::binary_search(tok.begin(), tok.end(), toks_[i])) toks_[w++] = toks_[i];
  toks_.resize(w);
  if (w < 2) return;
  if (++doc_ == 0) {  // the stamp wrapped: forget all stamps
    std::fill(stamp_.begin(), stamp_.end(), 0u);
    doc_ = 1;
  }
  auto hit = [&](const uint64_t* idx) {
    if (!idx) return;
    if (occurrences_) {
      ++counts[*idx];
    } else if (stamp_[*idx] != doc_) {
      stamp_[*idx] = doc_;
      ++counts[*idx];
    }
  };
  const auto& t = toks_;
  for (size_t i = 0; i < w; ++i)
    for (size_t j = i + 1; j < w; ++j) {
      if (t[j] == t[i]) continue;
      const Motif pair = make_motif(t[i], t[j]);
      if (t_->two) hit(t_->index.find(pair));
      if (t_->three && t_->prefixes.find(pair))
        for (size_t l = j + 1; l < w; ++l)
          if (t[l] != t[i] && t[l] != t[j]) hit(t_->index.find(make_motif(t[i], t[j], t[l])));
    }
}

// ---- step 2: choose motifs ---------------------------------------------------------------------

std::vector<MotifStat> select_motifs(std::vector<MotifStat>& cands, uint64_t n_top, uint64_t n_pool,
                                     const ExploreOptions& o) {
  check_options(o);
  for (auto& c : cands) {
    if (n_top == 0 || n_pool == 0) {
      c.lift = 0;
      continue;
    }
    const double top_rate = double(c.top_count) / double(n_top);
    c.lift = c.pool_count == 0 ? std::numeric_limits<double>::infinity()
                               : top_rate / (double(c.pool_count) / double(n_pool));
  }
  std::vector<MotifStat> chosen;
  for (int size : o.sizes) {
    std::vector<const MotifStat*> order;
    for (auto& c : cands)
      if (c.motif.size() == size && c.lift >= o.min_lift && c.top_count >= o.min_count &&
          c.pool_count >= o.min_pool_count && !c.motif.has_repeat())
        order.push_back(&c);
    std::sort(order.begin(), order.end(), [](const MotifStat* a, const MotifStat* b) {
      if (a->lift != b->lift) return a->lift > b->lift;
      if (a->top_count != b->top_count) return a->top_count > b->top_count;
      return a->motif < b->motif;
    });
    std::vector<Motif> mine;
    for (const MotifStat* c : order) {
      if (int(mine.size()) >= o.max_motifs) break;
      bool clash = false;
      for (auto& m : mine) clash = clash || m.shares_token(c->motif);
      for (auto& e : o.exclude) clash = clash || e == c->motif;
      if (clash) continue;
      mine.push_back(c->motif);
      chosen.push_back(*c);
    }
  }
  return chosen;
}

// ---- step 3: sample matches ------------------------------------------------------------------

namespace {
struct Rec {
  uint64_t priority, uid;
  uint32_t motif, pad;
};
bool rec_less(const Match& a, const Match& b) { return a.priority < b.priority || (a.priority == b.priority && a.uid < b.uid); }
}  // namespace

std::vector<std::vector<Match>> sample_matches(const mpi::Comm& comm, const pool::Pool& p,
                                               const std::vector<Motif>& motifs, const std::vector<uint64_t>& exclude,
                                               const ExploreOptions& o) {
  ScopedTimer timer("explore: sample matches");
  check_options(o);
  TRAWL_ASSERT(std::is_sorted(exclude.begin(), exclude.end()));
  const size_t M = motifs.size(), K = o.per_motif;
  std::vector<std::vector<Match>> heaps(M);  // max-heaps by rec_less
  std::vector<uint64_t> mkeys(M);
  for (size_t m = 0; m < M; ++m) mkeys[m] = motif_key(motifs[m]);
  if (M > 0 && K > 0) {
    const auto split = mpi::work_split(comm, 0, 0);
    std::vector<std::string> mine;
    for (uint64_t s : split.items(p.shards.size())) mine.push_back(p.shards[s]);
    io::ShardStream stream(mine, io::ShardReader::kUid | io::ShardReader::kTokens, o.block_rows,
                           [&](const io::ShardReader& r) { pool::check_shard(p, r); });
    while (const io::ShardBlock* next = stream.next()) {
      const io::ShardBlock& blk = *next;
      {
        for (size_t i = 0; i < blk.size(); ++i) {
          const uint32_t* t = blk.token_ids.data() + blk.token_offsets[i];
          const size_t nu = text::unigram_count(blk.token_offsets[i + 1] - blk.token_offsets[i]);
          const uint64_t uid = blk.uid[i];
          bool checked = false, excluded = false;
          for (size_t m = 0; m < M; ++m) {
            if (!matches(motifs[m], t, nu)) continue;
            if (!checked) excluded = in_sorted(exclude, uid), checked = true;
            if (excluded) break;
            Match x{key(o.seed, o.round, mkeys[m], uid), uid};
            auto& h = heaps[m];
            if (h.size() < K) {
              h.push_back(x);
              std::push_heap(h.begin(), h.end(), rec_less);
            } else if (rec_less(x, h.front())) {
              std::pop_heap(h.begin(), h.end(), rec_less);
              h.back() = x;
              std::push_heap(h.begin(), h.end(), rec_less);
            }
          }
        }
      }
    }
  }
  std::vector<Rec> mine;
  for (size_t m = 0; m < M; ++m)
    for (auto& x : heaps[m]) mine.push_back(Rec{x.priority, x.uid, uint32_t(m), 0});
  auto all = comm.allgatherv(mine);
  std::vector<std::vector<Match>> out(M);
  for (auto& r : all) out[r.motif].push_back(Match{r.priority, r.uid});
  for (auto& v : out) {
    std::sort(v.begin(), v.end(), rec_less);
    if (v.size() > K) v.resize(K);
  }
  return out;
}

// ---- token strings -----------------------------------------------------------------------------

std::vector<std::pair<uint32_t, std::string>> token_strings(const std::vector<std::string>& texts) {
  std::vector<std::pair<uint32_t, std::string>> out;
  std::vector<uint32_t> ids;
  std::vector<std::string> toks;
  for (auto& t : texts) {
    ids.clear();
    text::text_to_ids(t, ids, &toks);
    for (size_t i = 0; i < toks.size(); ++i) out.emplace_back(ids[i], toks[i]);
  }
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end(), [](auto& a, auto& b) { return a.first == b.first; }), out.end());
  return out;
}

std::string motif_text(const Motif& m, const std::vector<std::pair<uint32_t, std::string>>& strings) {
  std::string s;
  for (int k = 0; k < m.size(); ++k) {
    if (k) s += ' ';
    const uint32_t id = m.ids[size_t(k)];
    auto it = std::lower_bound(strings.begin(), strings.end(), std::make_pair(id, std::string()));
    if (it != strings.end() && it->first == id) {
      s += it->second;
    } else {
      char buf[16];
      std::snprintf(buf, sizeof buf, "?%08x", id);
      s += buf;
    }
  }
  return s;
}

// ---- the three steps ---------------------------------------------------------------------------

ExploreResult explore(const mpi::Comm& comm, const pool::Pool& p, std::vector<uint64_t> top,
                      std::vector<uint64_t> exclude, const ExploreOptions& o) {
  check_options(o);
  ScopedTimer timer("explore");
  std::sort(top.begin(), top.end());
  top.erase(std::unique(top.begin(), top.end()), top.end());
  exclude.insert(exclude.end(), top.begin(), top.end());
  std::sort(exclude.begin(), exclude.end());
  exclude.erase(std::unique(exclude.begin(), exclude.end()), exclude.end());

  ExploreResult res;
  // 1a. The top set's tokens and text (fetched from the shards; every rank gets all rows).
  pool::Rows rows = pool::fetch_rows(comm, p, top, [](uint64_t) { return std::string("exploration top set"); },
                                     io::ShardReader::kTokens | io::ShardReader::kText);
  res.n_top = rows.size();
  std::vector<MotifStat> cands;
  {
    ScopedTimer t("explore: count top set");
    cands = count_top_motifs(rows.token_offsets, rows.token_ids, o);
  }
  res.candidates = cands.size();
  log::info("exploration: ", res.n_top, " top-set documents, ", cands.size(), " candidate motifs (top ",
            o.occurrences ? "occurrences" : "documents", " >= ", o.min_count, ")");

  // 1b. Pool counts of the candidates: each rank its shards, summed across ranks.
  const auto split = mpi::work_split(comm, 0, 0);
  const auto my_shards = split.items(p.shards.size());
  double rate = 1.0;
  if (o.pool_sample > 0) {
    uint64_t rows_mine = 0;
    for (auto s : my_shards) rows_mine += io::ShardReader(p.shards[s]).rows();
    const uint64_t total = comm.sum(rows_mine);
    rate = total ? std::min(1.0, double(o.pool_sample) / double(total)) : 1.0;
  }
  std::vector<uint64_t> counts(cands.size(), 0);
  uint64_t n_pool = 0;
  if (!cands.empty()) {
    ScopedTimer t("explore: count pool");
    MotifCounter proto(cands, o);
    const int nt = omp_get_max_threads();
    std::vector<MotifCounter> counters(size_t(nt), proto);
    std::vector<std::vector<uint64_t>> tc(size_t(nt), std::vector<uint64_t>(cands.size(), 0));
    uint64_t my_rows = 0;
    for (auto s : my_shards) my_rows += io::ShardReader(p.shards[s]).rows();
    Progress prog("exploration: counting motifs", my_rows, "docs");
    std::vector<std::string> mine;
    for (auto s : my_shards) mine.push_back(p.shards[s]);
    io::ShardStream stream(mine, io::ShardReader::kUid | io::ShardReader::kTokens, o.block_rows,
                           [&](const io::ShardReader& r) { pool::check_shard(p, r); });
    while (const io::ShardBlock* next = stream.next()) {
      const io::ShardBlock& blk = *next;
      {
        uint64_t docs = 0;
#pragma omp parallel for schedule(dynamic, 256) reduction(+ : docs)
        for (long i = 0; i < long(blk.size()); ++i) {
          if (rate < 1.0 && !in_pool_sample(blk.uid[size_t(i)], rate, o.seed)) continue;
          ++docs;
          const int th = omp_get_thread_num();
          const uint64_t a = blk.token_offsets[size_t(i)], e = blk.token_offsets[size_t(i) + 1];
          counters[size_t(th)].add(blk.token_ids.data() + a, e - a, tc[size_t(th)].data());
        }
        n_pool += docs;
        prog.add(blk.size());
      }
    }
    prog.finish();
    for (auto& v : tc)
      for (size_t i = 0; i < v.size(); ++i) counts[i] += v[i];
  } else {
    for (auto s : my_shards) {
      io::ShardReader r(p.shards[s]);
      if (rate >= 1.0) {
        n_pool += r.rows();
      } else {
        for (auto u : r.read_uids()) n_pool += in_pool_sample(u, rate, o.seed);
      }
    }
  }
  comm.allreduce_inplace(counts, MPI_SUM);
  res.n_pool = comm.sum(n_pool);
  for (size_t i = 0; i < cands.size(); ++i) cands[i].pool_count = counts[i];

  // 2. Choose motifs, with their text from the top set's tokens.
  res.chosen = select_motifs(cands, res.n_top, res.n_pool, o);
  const auto strings = token_strings(rows.text);
  for (auto& c : res.chosen) c.text = motif_text(c.motif, strings);

  // 3. Sample matches from the whole pool.
  std::vector<Motif> ms;
  for (auto& c : res.chosen) ms.push_back(c.motif);
  res.samples = sample_matches(comm, p, ms, exclude, o);
  for (size_t m = 0; m < res.chosen.size(); ++m)
    log::info("exploration motif '", res.chosen[m].text, "': top ", res.chosen[m].top_count, "/", res.n_top, ", pool ",
              res.chosen[m].pool_count, "/", res.n_pool, ", lift ", res.chosen[m].lift, ", ", res.samples[m].size(),
              " sampled");
  return res;
}

}  // namespace trawl::explore
