// The per-round files of trawl-retrieve besides the subpool (subpool.h): the partial result of
// an array task (trawl-format "retrieve-part", version 1, <round>/parts/part-<i>-of-<N>.h5, read
// by trawl-merge) and SEALS's cumulative state (trawl-format "seals-state", version 1,
// <round>/seals-state.h5, read by the next round). The one reader and writer of each; both
// carry the round's attributes (RoundMeta) and are written atomically.
//
// retrieve-part: attributes part, parts, state (the SEALS state path the task read), anchors;
// datasets query_uid, labelled_uid u64; the task's anchor lists flattened (uid u64, anchor u32,
// dist f32, one row per neighbour, anchors ascending); the baselines' keyed sample
// (sample_priority, sample_uid u64).
// seals-state: datasets searched (labelled uids already used as queries, sorted) and union
// (every neighbour retrieved so far, sorted).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "formats/subpool.h"

namespace trawl::formats {

constexpr const char* kPartFormat = "retrieve-part";
constexpr int kPartVersion = 1;
constexpr const char* kSealsFormat = "seals-state";
constexpr int kSealsVersion = 1;

struct RetrievePart {
  RoundMeta meta;
  int part = 0, parts = 0;
  std::string state;
  uint64_t anchors = 0;
  std::vector<uint64_t> query_uid, labelled_uid;
  std::vector<uint64_t> uid;  // the flattened lists (same length as anchor and dist)
  std::vector<uint32_t> anchor;
  std::vector<float> dist;
  std::vector<uint64_t> sample_priority, sample_uid;  // same length
};
void write_retrieve_part(const std::string& path, const RetrievePart& p);
/// InputError naming the file for a wrong format, a newer version, a missing attribute or
/// dataset, or columns of different lengths.
RetrievePart read_retrieve_part(const std::string& path);

struct SealsState {
  std::vector<uint64_t> searched;  // labelled uids already used as queries (sorted)
  std::vector<uint64_t> pool;      // cumulative union of retrieved neighbours (sorted)
};
/// An empty path gives the empty state (the first round).
SealsState read_seals_state(const std::string& path);
void write_seals_state(const std::string& path, const SealsState& s, const RoundMeta& m);

}  // namespace trawl::formats
