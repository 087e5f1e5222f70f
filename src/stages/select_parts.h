// Private to trawl-select (src/stages/select_*.cpp): the selection's pieces shared by its
// files. select_stage.cpp checks the options, dispatches on the strategy once and writes the
// queue; select_scores.cpp streams the scores files for the streamable, BADGE and k-means
// strategies; select_activelab.cpp reads the annotations for ActiveLab; select_explore.cpp runs
// the exploit-explore workflow over the top lists and the pool.
#pragma once
#include <Eigen/Core>
#include <algorithm>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/error.h"
#include "formats/scores.h"
#include "io/block_stream.h"
#include "mpi/comm.h"
#include "stages/select_stage.h"
#include "strategy/strategy.h"

namespace trawl::stages::sel {

using strategy::RowMatrixXf;

struct Picked {
  uint64_t uid;
  double score;
  std::string cls, source;
};

// ---- scores files (formats/scores.h validates them) ----------------------------------------
struct ScoresFile {
  std::string path;
  std::unique_ptr<formats::ScoresReader> reader;
  std::vector<std::string> classes;
  uint64_t rows = 0;
  int C = 0, F = 0;
};

inline ScoresFile open_scores(const std::string& path, bool need_features) {
  ScoresFile s;
  s.path = path;
  s.reader = std::make_unique<formats::ScoresReader>(path);
  const auto& info = s.reader->info();
  s.classes = info.classes;
  s.rows = info.rows;
  s.C = int(info.classes.size());
  s.F = info.feature_dim;
  if (need_features && s.F == 0)
    throw InputError(cat(path, ": no 'features' dataset; this strategy needs the model's penultimate features: "
                               "rerun trawl-score with --features"));
  return s;
}

/// A block of a scores file's rows with the dropped (labelled, excluded) rows taken out.
struct Block {
  std::vector<uint64_t> uid;
  std::vector<float> p, h;
  uint64_t skipped = 0;  // rows of the block dropped
};

/// The scores files `paths` streamed block by block through the one block stream
/// (io/block_stream.h): each file is opened and checked on the stream's thread (its classes
/// must be `classes`; with features, it must have them, all of one width), and the rows whose
/// uid is in `drop` (sorted) are taken out of each block.
class ScoresStream {
 public:
  ScoresStream(std::vector<std::string> paths, const std::vector<std::string>& classes, bool features,
               const std::vector<uint64_t>& drop, uint64_t block_rows, std::string what)
      : paths_(std::move(paths)), classes_(classes), features_(features), drop_(drop), what_(std::move(what)) {
    std::vector<uint64_t> rows;
    for (const auto& f : paths_) rows.push_back(formats::read_scores_info(f).rows);
    stream_ = std::make_unique<io::BlockStream<Block>>(
        io::block_tasks(rows, block_rows), [this](const io::BlockTask& t, Block& b) { read(t, b); });
  }
  Block* next() { return stream_->next(); }
  int features() const { return F_; }  // valid after the last block

 private:
  void read(const io::BlockTask& t, Block& out) {
    if (t.source != open_) {
      file_.reset();
      file_ = std::make_unique<ScoresFile>(open_scores(paths_[t.source], features_));
      open_ = t.source;
      if (file_->classes != classes_)
        throw InputError(cat(paths_[t.source], ": classes differ from ", what_));
      if (features_ && F_ >= 0 && file_->F != F_)
        throw InputError(cat(paths_[t.source], ": ", file_->F, " features, expected ", F_, " as the other files"));
      F_ = file_->F;
    }
    const ScoresFile& s = *file_;
    s.reader->read(t.begin, t.end, uid_, p_, features_ ? &h_ : nullptr);
    out.uid.clear();
    out.p.clear();
    out.h.clear();
    out.skipped = 0;
    for (uint64_t i = 0; i < t.rows(); ++i) {
      if (std::binary_search(drop_.begin(), drop_.end(), uid_[i])) {
        ++out.skipped;
        continue;
      }
      out.uid.push_back(uid_[i]);
      out.p.insert(out.p.end(), &p_[i * uint64_t(s.C)], &p_[(i + 1) * uint64_t(s.C)]);
      if (features_) out.h.insert(out.h.end(), &h_[i * uint64_t(s.F)], &h_[(i + 1) * uint64_t(s.F)]);
    }
  }

  std::vector<std::string> paths_;
  std::vector<std::string> classes_;
  bool features_;
  const std::vector<uint64_t>& drop_;
  std::string what_;
  std::unique_ptr<ScoresFile> file_;  // the file being read (stream thread only)
  size_t open_ = SIZE_MAX;
  int F_ = -1;
  std::vector<uint64_t> uid_;
  std::vector<float> p_, h_;
  std::unique_ptr<io::BlockStream<Block>> stream_;  // last: joined before the file goes
};

/// This rank's share of the files: file i goes to rank i % size.
inline std::vector<std::string> my_files(const mpi::Comm& comm, const std::vector<std::string>& files) {
  std::vector<std::string> mine;
  for (size_t i = size_t(comm.rank()); i < files.size(); i += size_t(comm.size())) mine.push_back(files[i]);
  return mine;
}

inline Eigen::Map<const RowMatrixXf> as_matrix(const std::vector<float>& v, size_t rows, int cols) {
  return Eigen::Map<const RowMatrixXf>(v.data(), Eigen::Index(rows), cols);
}

/// The index of class `name` in classes (UsageError naming file and the classes).
int class_index(const std::vector<std::string>& classes, const std::string& name, const std::string& file);

std::vector<Picked> select_streamable(const mpi::Comm& comm, const SelectOptions& o, const std::vector<uint64_t>& labelled,
                                     const std::vector<std::string>& files, const std::vector<std::string>& classes,
                                     SelectSummary& sum);
std::vector<Picked> select_diverse(const mpi::Comm& comm, const SelectOptions& o, const std::vector<uint64_t>& labelled,
                                     const std::vector<std::string>& files, const std::vector<std::string>& classes,
                                     SelectSummary& sum);
/// ActiveLab over the annotations table (every rank computes the labelled side; the ranks
/// split the candidate files, keep their b best and gather them).
std::vector<Picked> select_activelab(const mpi::Comm& comm, const SelectOptions& o, const std::vector<uint64_t>& labelled,
                                     const std::vector<std::string>& files, const std::vector<std::string>& classes,
                                     SelectSummary& sum);
std::vector<Picked> select_exploit_explore(const mpi::Comm& comm, const SelectOptions& o, const std::vector<uint64_t>& labelled,
                                           bool dir, SelectSummary& sum);

}  // namespace trawl::stages::sel
