// Exploration of the exploit–explore strategy (reference/twitter-labor.md §5.2, §10), over the
// pool's shards with MPI:
//   1. count motifs — ordered token combinations — in a class's top set, then the same
//      candidates' document frequency over the pool (each rank its shards, one streaming pass
//      over token_ids, counts summed across ranks);
//   2. keep motifs with lift = (top / n_top) / (pool / n_pool) >= min_lift, top count >= min_count
//      and pool count >= min_pool_count; choose greedily by lift per motif size, rejecting a
//      motif that shares a token with one already chosen (same size) or repeats a token;
//   3. sample matches of each chosen motif from the whole pool (labelled and top-set items
//      excluded) by per-rank reservoirs with keyed priorities, merged across ranks.
//
// Motifs follow the reference: an n-motif is an ORDERED, NOT NECESSARILY CONTIGUOUS n-token
// combination (t_i, t_j[, t_l]) with i < j < l of a document's tokens (k-skip-n-grams with
// unbounded k, itertools.combinations), and a document matches a motif when the motif's tokens
// occur in it in that order with anything in between (the reference's \bw1\b.*\bw2\b regex).
// Tokens are the shard's unigram ids (text::tokenize + unigram_id), without the reference's
// stop set: the "<url>", "<user>", "<number>" tags and the stray tokens "t" and "s" (the
// tokenizer already drops punctuation, quotes, '&', '@' and '#' alone, and skin-tone marks).
//
// Counting unit: documents by default (a motif counts once per document), recorded as
// `count = documents`; the reference counts occurrences (repeated tokens give repeated motifs),
// available as count = occurrences. The reference's denominator is a seeded 1M random sample of
// the pool (min_obs = 10 on it); here it is the whole pool, or with pool_sample > 0 a keyed
// Bernoulli sample of about that many documents (the same in every round).
// Only the first max_tokens motif tokens of a document form motifs (C(64,3) = 41,664 triples a
// document at most), in the top set and the pool alike; matching uses the whole document.
#pragma once
#include <array>
#include <memory>
#include <cstdint>
#include <string>
#include <vector>

#include "mpi/comm.h"
#include "pool/pool.h"

namespace trawl::explore {

constexpr uint32_t kNoToken = 0xffffffffu;  // never a unigram id (those are < 2^31)

/// An ordered motif of 2 or 3 unigram ids; unused slots hold kNoToken.
struct Motif {
  std::array<uint32_t, 3> ids{{kNoToken, kNoToken, kNoToken}};
  int size() const { return ids[2] != kNoToken ? 3 : ids[1] != kNoToken ? 2 : ids[0] != kNoToken ? 1 : 0; }
  bool operator==(const Motif& o) const { return ids == o.ids; }
  bool operator!=(const Motif& o) const { return ids != o.ids; }
  bool operator<(const Motif& o) const { return ids < o.ids; }
  bool has_repeat() const;
  bool shares_token(const Motif& o) const;
};
Motif make_motif(uint32_t a, uint32_t b, uint32_t c = kNoToken);
/// Stable 64-bit identity of a motif (keys its sampling priorities).
uint64_t motif_key(const Motif& m);

/// True for the stop set (see above).
bool is_stop_token(uint32_t id);
/// The motif tokens of one shard row (its token id list, unigrams then bigrams): the unigram
/// ids in order without stop tokens, at most max_tokens of them (0: all). Replaces out.
void motif_tokens(const uint32_t* ids, size_t n, int max_tokens, std::vector<uint32_t>& out);
/// Keyed Bernoulli inclusion of a document in the pool sample (pool_sample > 0): rate =
/// pool_sample / pool rows; the same documents in every round.
bool in_pool_sample(uint64_t uid, double rate, uint64_t seed);
/// True if tokens (a document's full unigram list) contain m's tokens in order.
bool matches(const Motif& m, const uint32_t* tokens, size_t n);

struct ExploreOptions {
  std::vector<int> sizes{2, 3};     // motif sizes (2 and/or 3)
  double min_lift = 1.0;            // reference: 1
  uint64_t min_count = 5;           // documents (or occurrences) in the top set
  uint64_t min_pool_count = 10;     // in the pool (or pool sample); reference min_obs = 10
  int max_motifs = 5;               // chosen per size (reference: 5)
  bool occurrences = false;         // count occurrences (reference) instead of documents
  int max_tokens = 64;              // motif tokens used per document for counting (0: all)
  uint64_t pool_sample = 0;         // 0: whole pool; else ~this many documents (keyed by seed, uid)
  size_t per_motif = 5;             // matches sampled per chosen motif (reference n_sample = 5)
  uint64_t seed = 42, round = 0;
  uint64_t block_rows = 65536;      // shard rows read at a time
  std::vector<Motif> exclude;       // never chosen (seed n-grams, earlier rounds' motifs)
};

struct MotifStat {
  Motif motif;
  uint64_t top_count = 0, pool_count = 0;
  double lift = 0;
  std::string text;  // the tokens as text ("lost job"), "?<hex id>" for an id not seen in the top set's text
};

/// Step 1a (pure): the candidate motifs of a top set given as CSR token rows (shard layout):
/// every motif of the requested sizes with top count >= min_count, without a repeated token,
/// not excluded; sorted by motif. top_count filled, the rest zero.
std::vector<MotifStat> count_top_motifs(const std::vector<uint64_t>& offsets, const std::vector<uint32_t>& ids,
                                        const ExploreOptions& o);

/// Step 1b's per-document counting (pure, reusable across documents; one per thread).
class MotifCounter {
 public:
  MotifCounter(const std::vector<MotifStat>& candidates, const ExploreOptions& o);
  size_t size() const { return n_; }
  /// Adds one document (its shard token id list) into counts[candidate index].
  void add(const uint32_t* ids, size_t n, uint64_t* counts);

 private:
  struct Table;
  std::shared_ptr<const Table> t_;
  size_t n_ = 0;
  bool occurrences_ = false;
  int max_tokens_ = 64;
  std::vector<uint32_t> toks_, stamp_;
  uint32_t doc_ = 0;
  std::vector<uint32_t> hits_;
};

/// Step 2 (pure): lift of every candidate (pool_count = 0 gives +inf), then the greedy choice:
/// per size in o.sizes order, candidates passing min_lift / min_count / min_pool_count ordered
/// by lift desc, top count desc, motif asc; a motif sharing a token with one already chosen
/// for that size is skipped; at most max_motifs per size. Fills lift in `candidates`.
std::vector<MotifStat> select_motifs(std::vector<MotifStat>& candidates, uint64_t n_top, uint64_t n_pool,
                                     const ExploreOptions& o);

/// One sampled match: priority key(seed, round, motif_key, uid), smallest first.
struct Match {
  uint64_t priority = 0, uid = 0;
};
/// Step 3 (collective): for each motif, the `per_motif` matching pool documents with the
/// smallest priorities (ties: uid), uids in `exclude` (sorted) skipped. Every rank returns the
/// same lists, whatever the rank count.
std::vector<std::vector<Match>> sample_matches(const mpi::Comm& comm, const pool::Pool& p,
                                               const std::vector<Motif>& motifs, const std::vector<uint64_t>& exclude,
                                               const ExploreOptions& o);

struct ExploreResult {
  uint64_t n_top = 0, n_pool = 0, candidates = 0;
  std::vector<MotifStat> chosen;              // selection order
  std::vector<std::vector<Match>> samples;    // per chosen motif
};

/// The three steps. top_uids: the class's top set (any order; unique). exclude: uids never
/// sampled (labelled items; the top set is excluded as well). Collective; the same result on
/// every rank and at any rank count.
ExploreResult explore(const mpi::Comm& comm, const pool::Pool& p, std::vector<uint64_t> top_uids,
                      std::vector<uint64_t> exclude, const ExploreOptions& o);

/// Motif text from a map of token id -> token string built from texts (text::normalize +
/// tokenize of each).
std::vector<std::pair<uint32_t, std::string>> token_strings(const std::vector<std::string>& texts);
std::string motif_text(const Motif& m, const std::vector<std::pair<uint32_t, std::string>>& strings);

}  // namespace trawl::explore
