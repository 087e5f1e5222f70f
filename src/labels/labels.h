// The labelled set as the retrieval and training stages read it: a TSV with a header naming
// columns `uid` and `label` (other columns are ignored). Later issues add the append-only
// annotation journal; this reader is its consensus view.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace trawl::labels {

struct Labelled {
  uint64_t uid = 0;
  int cls = -1;       // index into LabelSet::classes
  uint64_t line = 0;  // where it was read (for error messages)
};

struct LabelSet {
  std::string path;
  std::vector<std::string> classes;  // sorted class names
  std::vector<Labelled> items;       // sorted by uid, unique
  int class_index(const std::string& name) const;  // -1 if absent
};

/// Reads and validates: header with uid and label columns, uids as unsigned decimal, no
/// conflicting duplicate (the same uid with two labels is an InputError naming both lines;
/// an exact repeat is collapsed), no empty label. `classes`, when given, fixes the class list
/// (a label outside it is an error); otherwise the sorted distinct labels are the classes.
LabelSet read_labels_tsv(const std::string& path, const std::vector<std::string>& classes = {});

/// Reads a list of uids: a TSV whose header names a `uid` column (other columns ignored), e.g. a
/// held-out test split or a labels file. Returns the sorted, unique uids. InputError naming the
/// file and line for a missing header column or an unparsable uid; IoError if it cannot be read.
std::vector<uint64_t> read_uid_list(const std::string& path);

/// Writes uid<TAB>label TSV atomically.
void write_labels_tsv(const std::string& path, const std::vector<std::pair<uint64_t, std::string>>& rows);

}  // namespace trawl::labels
