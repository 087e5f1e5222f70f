#include "labels/labels.h"

#include "core/tsv.h"

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "core/error.h"
#include "core/fs.h"

namespace trawl::labels {

int LabelSet::class_index(const std::string& name) const {
  auto it = std::lower_bound(classes.begin(), classes.end(), name);
  return it != classes.end() && *it == name ? int(it - classes.begin()) : -1;
}


namespace {
// A uid field: unsigned decimal, 64 bits; InputError naming the file, line and value otherwise.
uint64_t parse_uid(const std::string& path, uint64_t lineno, const std::string& us) {
  errno = 0;
  char* end = nullptr;
  unsigned long long u = std::strtoull(us.c_str(), &end, 10);
  if (us.empty() || *end != '\0' || errno == ERANGE || us[0] == '-')
    throw InputError(at(path, lineno, cat("uid '", us, "' is not an unsigned 64-bit integer")));
  return u;
}
}  // namespace

std::vector<uint64_t> read_uid_list(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw IoError(cat(path, ": cannot open the uid list"));
  std::vector<uint64_t> out;
  std::string line;
  uint64_t lineno = 0;
  int cu = -1;
  while (std::getline(in, line)) {
    ++lineno;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty() || line[0] == '#') continue;
    auto f = tsv::split(line);
    if (cu < 0) {
      for (size_t i = 0; i < f.size(); ++i)
        if (f[i] == "uid") cu = int(i);
      if (cu < 0) throw InputError(at(path, lineno, cat("the header must name a 'uid' column (tab-separated); found '", line, "'")));
      continue;
    }
    if (f.size() <= size_t(cu)) throw InputError(at(path, lineno, cat("no 'uid' field (", f.size(), " fields)")));
    out.push_back(parse_uid(path, lineno, f[size_t(cu)]));
  }
  if (cu < 0) throw InputError(cat(path, ": empty uid list (expected a header naming a 'uid' column)"));
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

LabelSet read_labels_tsv(const std::string& path, const std::vector<std::string>& classes) {
  std::ifstream in(path);
  if (!in) throw IoError(cat(path, ": cannot open the labels file"));
  LabelSet ls;
  ls.path = path;
  std::string line;
  uint64_t lineno = 0;
  int cu = -1, cl = -1;
  size_t ncols = 0;
  std::map<uint64_t, std::pair<std::string, uint64_t>> seen;
  while (std::getline(in, line)) {
    ++lineno;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty()) continue;
    auto f = tsv::split(line);
    if (cu < 0) {
      for (size_t i = 0; i < f.size(); ++i) {
        if (f[i] == "uid") cu = int(i);
        if (f[i] == "label") cl = int(i);
      }
      if (cu < 0 || cl < 0)
        throw InputError(at(path, lineno, cat("the header must name columns 'uid' and 'label' (tab-separated); found '", line, "'")));
      ncols = f.size();
      continue;
    }
    if (f.size() != ncols)
      throw InputError(at(path, lineno, cat("expected ", ncols, " tab-separated fields, found ", f.size())));
    const uint64_t u = parse_uid(path, lineno, f[cu]);
    const std::string& lab = f[cl];
    if (lab.empty()) throw InputError(at(path, lineno, cat("empty label for uid ", u)));
    auto it = seen.find(u);
    if (it != seen.end()) {
      if (it->second.first != lab)
        throw InputError(at(path, lineno, cat("uid ", u, " is labelled '", lab, "' here and '", it->second.first,
                                              "' at line ", it->second.second)));
      continue;
    }
    seen[u] = {lab, lineno};
  }
  if (cu < 0) throw InputError(cat(path, ": empty labels file (expected a header 'uid<TAB>label')"));
  if (!classes.empty()) {
    ls.classes = classes;
    std::sort(ls.classes.begin(), ls.classes.end());
  } else {
    std::set<std::string> names;
    for (auto& [u, v] : seen) names.insert(v.first);
    ls.classes.assign(names.begin(), names.end());
  }
  for (auto& [u, v] : seen) {
    int c = ls.class_index(v.first);
    if (c < 0) throw InputError(at(path, v.second, cat("label '", v.first, "' is not one of the classes")));
    ls.items.push_back({u, c, v.second});
  }
  return ls;
}

void write_labels_tsv(const std::string& path, const std::vector<std::pair<uint64_t, std::string>>& rows) {
  AtomicOutput out(path);
  {
    std::ofstream o(out.temp_path());
    if (!o) throw IoError(cat(out.temp_path(), ": cannot write"));
    o << "uid\tlabel\n";
    for (auto& [u, l] : rows) o << u << '\t' << l << '\n';
    o.close();
    if (!o) throw IoError(cat(out.temp_path(), ": write error"));
  }
  out.commit();
}

}  // namespace trawl::labels
