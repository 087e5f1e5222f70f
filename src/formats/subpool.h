// The subpool file (trawl-format "subpool", version 1) that trawl-retrieve writes for a round,
// and the round attributes it shares with the retrieve-part and seals-state files. The one
// reader and the one writer of the format.
//
// Layout: HDF5, root attributes trawl-format, trawl-format-version, trawl-version, the round's
// attributes (RoundMeta: method, backend, pool, labels, round, seed, subpool-size, neighbours,
// anchors-per-class, ef, dim, encoder, encoder-params, config) and candidates, anchors,
// labelled, all-unlabelled (1: method "full", no rows — it stands for every unlabelled item),
// rows; datasets uid u64[rows], score f64[rows], anchor_count i32[rows], embedding
// f32[rows, dim], in subpool order (score descending, uid ascending).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "io/h5.h"

namespace trawl::formats {

constexpr const char* kSubpoolFormat = "subpool";
constexpr int kSubpoolVersion = 1;

/// What a retrieval round records about itself (subpool, retrieve-part and seals-state files).
struct RoundMeta {
  std::string method, backend, pool, labels, config;
  uint64_t round = 0, seed = 0, M = 0;
  int K = 0, A = 0, ef = 0, dim = 0;
  std::string encoder, params;
};
void put_round_meta(io::h5::File& f, const RoundMeta& m);
RoundMeta get_round_meta(const io::h5::File& f);  // InputError naming the file and a missing attribute

struct SubpoolInfo {
  RoundMeta meta;
  uint64_t candidates = 0, anchors = 0, labelled = 0, rows = 0;
  bool all_unlabelled = false;
};

/// Opens a subpool file and validates its format, version, attributes and datasets (InputError /
/// IoError naming the file). Reads the uids at open.
class SubpoolReader {
 public:
  explicit SubpoolReader(const std::string& path);
  const std::string& path() const { return f_.path(); }
  const SubpoolInfo& info() const { return info_; }
  const std::vector<uint64_t>& uids() const { return uid_; }
  std::vector<double> scores() const;
  std::vector<int32_t> anchor_counts() const;
  /// Embedding rows [row, row + n) into out[n × dim].
  void read_embedding(uint64_t row, uint64_t n, float* out) const;

 private:
  io::h5::File f_;
  io::h5::Dataset score_, count_, emb_;
  SubpoolInfo info_;
  std::vector<uint64_t> uid_;
};

/// Writes a subpool file atomically. uid, score, anchor_count hold info.rows entries and
/// embedding info.rows × info.meta.dim floats (row-major, in the same order).
void write_subpool(const std::string& path, const SubpoolInfo& info, const std::vector<uint64_t>& uid,
                   const std::vector<double>& score, const std::vector<int32_t>& anchor_count,
                   const std::vector<float>& embedding);

}  // namespace trawl::formats
