// The scores file (trawl-format "scores", version 1): class probabilities of a shard's rows,
// of a subpool, or out-of-fold probabilities of a labelled set. The one reader and the one
// writer of the format; every stage and tool goes through them.
//
// Layout: HDF5, root attributes
//   trawl-format = "scores", trawl-format-version = 1, trawl-version,
//   classes (class names joined by '\n'), model, model-checksum, model-kind, model-input,
//   source-kind ("shard" | "subpool" | "oof"), shard (basename of the source), shard-identity
//   (shard: its source checksum; subpool: the subpool file's checksum; oof: the labels'),
//   shard-rows, rows (written last: a file without it was not finished), encoder,
//   encoder-params, dim, feature-dim (0: no features), config; writers may add more (oof:
//   oof-folds, fingerprint);
// datasets uid u64[rows], probs f32[rows, classes], features f32[rows, feature-dim] (optional).
// Only `classes`, `uid` and `probs` are required to read a file (hand-made files from other
// tools work); every attribute present is validated (rows = shard-rows = the datasets' rows).
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace trawl::formats {

constexpr const char* kScoresFormat = "scores";
constexpr int kScoresVersion = 1;  // the version written, and the newest read

/// What a scores file records about itself (root attributes).
struct ScoresInfo {
  int format_version = 0;
  std::vector<std::string> classes;
  std::string model, model_checksum, model_kind, model_input;
  std::string source_kind;      // "shard", "subpool" or "oof"
  std::string shard;            // basename of the scored shard (or subpool file, or labels file)
  std::string shard_identity;   // shard: its source-checksum; subpool: the subpool file checksum
  uint64_t shard_rows = 0, rows = 0;
  std::string encoder, encoder_params, config, trawl_version;
  int dim = 0, feature_dim = 0;  // feature_dim 0: no features dataset
  std::string fingerprint;        // oof: what the out-of-fold models were trained from (else empty)
};

/// "shard-000042.h5" -> "shard-000042.scores.h5" (any "X.h5" -> "X.scores.h5").
std::string scores_file_name(const std::string& shard_path);

/// "a/b c" -> "a_b_c": a class name made safe for a file name ([A-Za-z0-9._-] kept; a leading
/// '.' or an empty name gets a '_' in front). Names top-<class>.tsv and cutoffs-<class>.tsv.
std::string class_file_tag(const std::string& cls);

/// Streams a scores file's rows. The constructor validates the format, version, attributes
/// and dataset shapes (InputError / IoError naming the file and the dataset or attribute).
class ScoresReader {
 public:
  explicit ScoresReader(const std::string& path);
  ~ScoresReader();
  ScoresReader(const ScoresReader&) = delete;
  ScoresReader& operator=(const ScoresReader&) = delete;
  const ScoresInfo& info() const;
  const std::string& path() const;
  /// Rows [begin, end): uids and probabilities (n × classes, row-major); features if asked
  /// (InputError when the file has none). Every probability must be finite and in [0, 1] and
  /// every feature finite: InputError naming the file, dataset, row, uid and value otherwise.
  void read(uint64_t begin, uint64_t end, std::vector<uint64_t>& uid, std::vector<float>& probs,
            std::vector<float>* features = nullptr) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

/// Opens and validates a scores file (as ScoresReader) and returns its header.
ScoresInfo read_scores_info(const std::string& path);

/// Writes a scores file atomically (under a temporary name; commit() renames it into place):
/// the attributes of `info` (rows and format_version are set by the writer; feature_dim > 0
/// creates the features dataset), rows written in any order, `rows` set last by commit().
class ScoresWriter {
 public:
  ScoresWriter(const std::string& final_path, const ScoresInfo& info, uint64_t rows, uint64_t chunk_rows = 16384);
  ~ScoresWriter();  // an uncommitted file is removed
  ScoresWriter(const ScoresWriter&) = delete;
  ScoresWriter& operator=(const ScoresWriter&) = delete;
  /// An extra root attribute (e.g. oof-folds, fingerprint).
  void set_attr(const std::string& name, const std::string& value);
  void set_attr(const std::string& name, int64_t value);
  /// Rows [begin, begin + n); features only when the file has them (else ignored).
  void write(uint64_t begin, uint64_t n, const uint64_t* uid, const float* probs, const float* features = nullptr);
  void commit();  // throws unless every row was written exactly once (by count)

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace trawl::formats
