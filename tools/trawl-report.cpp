// trawl-libs: trawl_cli
// trawl-report: compares trawl-simulate runs. Reads metrics.tsv files (format simulate-metrics,
// version 2) from run directories or multi-seed directories (seed-<s>/metrics.tsv), groups the
// runs by (method, strategy, model, target), and writes to --output:
//   report.md              mean ± sd over seeds of the chosen metrics at one round, select time per round
//   f1, ap, found, select-time .png/.svg   plots drawn by gnuplot (a subprocess)
//   plot.gp, data-N.tsv, eval-N.tsv        the script and data it drew them from (for restyling)
// Everything is written to a staging directory and moved into --output only when complete.
#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <limits>
#include <map>
#include <set>
#include <sstream>

#include "cli/options.h"
#include "core/error.h"
#include "core/log.h"
#include "core/tsv.h"
#include "formats/metrics.h"
#include "mpi/run.h"

extern char** environ;

using namespace trawl;
namespace po = cli::po;
namespace fs = std::filesystem;

namespace {

const double kNoValue = std::numeric_limits<double>::quiet_NaN();
const char* kDefaultMetrics =
    "labelled,target_labelled,f1,f1_argmax,best_f1,average_precision,roc_auc,auc_f1,select_seconds,train_seconds";
// The version-2 columns: read when present (extra columns are ignored unless --metrics names them).
const std::vector<std::string> kV2Columns = {
    "round", "labelled", "target_labelled", "found_share", "subpool", "subpool_target", "queued", "queued_target",
    "evaluated", "precision", "recall", "f1", "f1_argmax", "best_f1", "average_precision", "roc_auc",
    "prior_target", "auc_f1", "relabelled", "label_accuracy", "select_seconds", "train_seconds"};
// Test-split evaluations: meaningful only on rows with evaluated = 1.
const std::set<std::string> kEvalColumns = {"precision", "recall", "f1", "f1_argmax", "best_f1",
                                            "average_precision", "roc_auc", "prior_target"};
// Needed by the plots and the round bookkeeping, whatever --metrics says.
const std::vector<std::string> kNeeded = {"round", "evaluated", "labelled", "target_labelled",
                                          "f1", "average_precision", "select_seconds"};
const std::vector<std::string> kColours = {"#0072b2", "#d55e00", "#009e73", "#cc79a7",
                                           "#e69f00", "#56b4e9", "#000000", "#999999"};

std::string trim(const std::string& s) {
  size_t a = s.find_first_not_of(" \t\r"), b = s.find_last_not_of(" \t\r");
  return a == std::string::npos ? "" : s.substr(a, b - a + 1);
}
std::vector<std::string> split_list(const std::string& s) {  // "a, b c" -> {a, b, c}
  std::vector<std::string> out;
  std::string t = s;
  std::replace(t.begin(), t.end(), ',', ' ');
  std::istringstream is(t);
  for (std::string x; is >> x;)
    if (std::find(out.begin(), out.end(), x) == out.end()) out.push_back(x);
  return out;
}

struct Run {
  std::string file;
  std::map<std::string, std::string> meta;  // "# key: value" lines before the header
  std::vector<std::string> cols;            // columns read, in file order
  std::vector<std::vector<double>> rows;    // rows[round][col]; NaN = no value
};

void check_version(const Run& r) {
  auto get = [&](const char* k) { auto it = r.meta.find(k); return it == r.meta.end() ? std::string() : it->second; };
  if (get("trawl-format") != formats::kSimulateMetricsFormat)
    throw InputError(at(r.file, 0, cat("not a trawl-simulate metrics file (no '# trawl-format: ", formats::kSimulateMetricsFormat,
                                       "' line)")));
  const std::string v = get("trawl-format-version");
  if (v == "1")
    throw InputError(at(r.file, 0, "trawl-format-version 1: version-1 metrics measured F1 on the unlabelled rest "
                                   "of the pool, not on a held-out test split, and cannot be compared with version "
                                   "2; rerun this simulation with the current trawl-simulate"));
  if (v != std::to_string(formats::kSimulateMetricsVersion))
    throw InputError(at(r.file, 0, cat("trawl-format-version '", v, "' is not supported (trawl-report reads ",
                                       formats::kSimulateMetricsVersion, ")")));
  for (const char* k : {"target", "method", "strategy", "model", "seed"})
    if (get(k).empty()) throw InputError(at(r.file, 0, cat("no '# ", k, ": ...' line before the header")));
}

double parse_number(const std::string& s, const std::string& file, long line, const std::string& col) {
  std::string t = s;
  std::transform(t.begin(), t.end(), t.begin(), ::tolower);
  if (t == "nan" || t == "-nan") return kNoValue;  // an undefined metric: no value
  char* end = nullptr;
  double v = std::strtod(s.c_str(), &end);
  if (s.empty() || *end || !std::isfinite(v))
    throw InputError(at(file, line, cat("column '", col, "': '", s, "' is not a number")));
  return v;
}

// Reads one metrics.tsv: the columns of `want` must all be there; the v2 columns are read when present.
Run read_metrics(const std::string& path, const std::vector<std::string>& want) {
  std::ifstream is(path, std::ios::binary);
  if (!is) throw IoError(at(path, 0, "cannot open the metrics file"));
  Run r;
  r.file = path;
  std::vector<std::string> header;
  std::vector<size_t> at_field;  // field index of r.cols[i]
  size_t c_round = 0, c_eval = 0;
  std::string line;
  long no = 0;
  while (std::getline(is, line)) {
    ++no;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (trim(line).empty()) continue;
    if (line[0] == '#') {
      auto colon = line.find(':');
      if (header.empty() && colon != std::string::npos) r.meta.emplace(trim(line.substr(1, colon - 1)), trim(line.substr(colon + 1)));
      continue;
    }
    if (header.empty()) {
      check_version(r);
      header = tsv::split(line);
      std::set<std::string> seen;
      for (auto& h : header)
        if (!seen.insert(h).second) throw InputError(at(path, no, cat("column '", h, "' appears twice in the header")));
      for (auto& w : want)
        if (!seen.count(w)) throw InputError(at(path, no, cat("no column '", w, "' in the header")));
      for (size_t i = 0; i < header.size(); ++i)
        if (std::find(want.begin(), want.end(), header[i]) != want.end() ||
            std::find(kV2Columns.begin(), kV2Columns.end(), header[i]) != kV2Columns.end()) {
          if (header[i] == "round") c_round = r.cols.size();
          if (header[i] == "evaluated") c_eval = r.cols.size();
          r.cols.push_back(header[i]);
          at_field.push_back(i);
        }
      continue;
    }
    auto f = tsv::split(line);
    if (f.size() != header.size())
      throw InputError(at(path, no, cat(f.size(), " fields, the header has ", header.size())));
    std::vector<double> row(r.cols.size());
    const std::string& ev = f[at_field[c_eval]];
    if (ev != "0" && ev != "1") throw InputError(at(path, no, cat("column 'evaluated': '", ev, "' is not 0 or 1")));
    for (size_t c = 0; c < r.cols.size(); ++c)
      row[c] = ev == "0" && kEvalColumns.count(r.cols[c]) ? kNoValue : parse_number(f[at_field[c]], path, no, r.cols[c]);
    if (row[c_round] != double(r.rows.size()))
      throw InputError(at(path, no, cat("round '", f[at_field[c_round]], "' where round ", r.rows.size(),
                                        " was expected (one row per round, from 0)")));
    r.rows.push_back(std::move(row));
  }
  if (header.empty()) {
    check_version(r);
    throw InputError(at(path, 0, "no header line"));
  }
  if (r.rows.empty()) throw InputError(at(path, 0, "no rounds (a header but no rows)"));
  return r;
}

// The metrics files of one --input: a file, a run directory, or a directory of seed-*/ runs.
std::vector<std::string> metrics_files(const std::string& input) {
  std::error_code ec;
  if (fs::is_regular_file(input, ec)) return {input};
  if (!fs::is_directory(input, ec)) throw UsageError(cat(input, ": no such file or directory"));
  std::vector<std::string> out;
  try {
    for (auto& e : fs::directory_iterator(input)) {
      const std::string name = e.path().filename().string();
      if (name.rfind("seed-", 0) != 0 || !e.is_directory()) continue;
      if (fs::is_regular_file(e.path() / "metrics.tsv")) out.push_back((e.path() / "metrics.tsv").string());
      else log::warn(e.path().string(), ": no metrics.tsv (an unfinished run?); skipped");
    }
  } catch (const fs::filesystem_error& e) {
    throw IoError(cat(input, ": cannot list the directory: ", e.what()));
  }
  std::sort(out.begin(), out.end());
  if (out.empty() && fs::is_regular_file(fs::path(input) / "metrics.tsv")) out.push_back((fs::path(input) / "metrics.tsv").string());
  if (out.empty()) throw UsageError(cat(input, ": neither metrics.tsv nor seed-*/metrics.tsv (not a trawl-simulate output?)"));
  return out;
}

struct Stat {
  double mean = kNoValue, sd = kNoValue;
  int n = 0;
};
struct Group {
  std::string method, strategy, model, target, label;
  std::vector<const Run*> runs;  // by seed
  size_t rounds = 0;             // rounds every seed has
  std::vector<std::string> cols;  // columns every seed has
  std::map<std::string, std::vector<Stat>> stat;  // column -> per round
  const Stat& at(const std::string& c, size_t round) const { return stat.at(c)[round]; }
  std::string meta(const char* k) const {  // a header line's value, or its distinct values over seeds
    std::vector<std::string> v;
    for (auto* r : runs) {
      auto it = r->meta.find(k);
      std::string x = it == r->meta.end() ? "?" : it->second;
      if (std::find(v.begin(), v.end(), x) == v.end()) v.push_back(x);
    }
    std::string s;
    for (auto& x : v) s += (s.empty() ? "" : " | ") + x;
    return s;
  }
};

bool seed_less(const Run* a, const Run* b) {
  const std::string &x = a->meta.at("seed"), &y = b->meta.at("seed");
  char *ex, *ey;
  long long nx = std::strtoll(x.c_str(), &ex, 10), ny = std::strtoll(y.c_str(), &ey, 10);
  if (!*ex && !*ey) return nx < ny;
  return x < y;
}

void compute(Group& g) {
  size_t lo = SIZE_MAX, hi = 0;
  for (auto* r : g.runs) lo = std::min(lo, r->rows.size()), hi = std::max(hi, r->rows.size());
  if (lo != hi) log::warn("group ", g.label, ": its seeds have ", lo, " to ", hi, " rounds; using the first ", lo);
  g.rounds = lo;
  for (auto& c : g.runs[0]->cols) {
    bool all = true;
    for (auto* r : g.runs) all = all && std::count(r->cols.begin(), r->cols.end(), c);
    if (!all) continue;
    g.cols.push_back(c);
    auto& v = g.stat[c];
    v.resize(g.rounds);
    for (size_t k = 0; k < g.rounds; ++k) {
      std::vector<double> x;
      for (auto* r : g.runs) {
        double y = r->rows[k][std::find(r->cols.begin(), r->cols.end(), c) - r->cols.begin()];
        if (!std::isnan(y)) x.push_back(y);
      }
      Stat& s = v[k];
      s.n = int(x.size());
      if (x.empty()) continue;
      double sum = 0, ss = 0;
      for (double y : x) sum += y;
      s.mean = sum / double(x.size());
      for (double y : x) ss += (y - s.mean) * (y - s.mean);
      s.sd = x.size() > 1 ? std::sqrt(ss / double(x.size() - 1)) : 0.0;
    }
  }
}

// Three significant digits, never in exponent form, whole numbers never rounded: 0.444, 0.0123, 105, 6046.
std::string fmt3(double v) {
  if (std::isnan(v)) return "–";
  if (v == 0) return "0";
  int dec = std::clamp(2 - int(std::floor(std::log10(std::fabs(v)))), 0, 9);
  char b[64];
  std::snprintf(b, sizeof b, "%.*f", dec, v);
  return b;
}
std::string cell(const Stat& s) {
  if (s.n == 0) return "–";
  return fmt3(s.mean) + " ± " + (s.n > 1 ? fmt3(s.sd) : std::string("–"));
}
std::string md_escape(std::string s) {
  std::string o;
  for (char ch : s) o += ch == '|' ? std::string("\\|") : std::string(1, ch);
  return o;
}
std::string gp_string(const std::string& s) {  // a single-quoted gnuplot string (no escapes inside)
  std::string o = "'";
  for (char ch : s) o += ch == '\'' ? std::string("''") : ch == '\n' || ch == '\r' ? std::string(" ") : std::string(1, ch);
  return o + "'";
}

// Runs with the same (method, strategy, model, target) form a group, its runs in seed order.
std::vector<Group> group_runs(std::vector<Run>& runs) {
  std::map<std::tuple<std::string, std::string, std::string, std::string>, Group> by_key;
  for (auto& r : runs) {
    Group& g = by_key[{r.meta["method"], r.meta["strategy"], r.meta["model"], r.meta["target"]}];
    g.method = r.meta["method"], g.strategy = r.meta["strategy"], g.model = r.meta["model"], g.target = r.meta["target"];
    for (auto* o : g.runs)
      if (o->meta.at("seed") == r.meta["seed"])
        throw InputError(cat("seed ", r.meta["seed"], " appears twice in group ", g.method, "/", g.strategy, " (model ",
                             g.model, ", target ", g.target, "): ", o->file, " and ", r.file));
    g.runs.push_back(&r);
  }
  std::vector<Group> groups;
  std::set<std::string> models, targets;
  for (auto& [k, g] : by_key) models.insert(g.model), targets.insert(g.target), groups.push_back(g);
  for (auto& g : groups) {  // the legend says method/strategy, and model or target where they differ
    std::sort(g.runs.begin(), g.runs.end(), seed_less);
    g.label = g.method + "/" + g.strategy + (models.size() > 1 ? "/" + g.model : "") +
              (targets.size() > 1 ? " (" + g.target + ")" : "");
    compute(g);
  }
  return groups;
}

// One row per group: "mean ± sd" of each metric at round R.
std::string summary_table(const std::vector<Group>& groups, const std::vector<std::string>& metrics, size_t R) {
  std::ostringstream t;
  t << "| method/strategy | model | target | seeds |";
  for (auto& m : metrics) t << " " << m << " |";
  t << "\n|---|---|---|---|";
  for (size_t i = 0; i < metrics.size(); ++i) t << "---|";
  t << "\n";
  for (auto& g : groups) {
    t << "| " << md_escape(g.label) << " | " << md_escape(g.model) << " | " << md_escape(g.target) << " | "
      << g.runs.size() << " |";
    for (auto& m : metrics) t << " " << cell(g.at(m, R)) << " |";
    t << "\n";
  }
  return t.str();
}

std::string markdown(const std::vector<Group>& groups, const std::string& table, const std::vector<std::string>& formats,
                     const std::string& title, size_t R, size_t runs) {
  std::ostringstream md;
  md << "# " << title << "\n\n" << runs << " runs in " << groups.size()
     << " groups. Metrics are on each run's held-out test split; `f1` is the target class's F1 at the model's "
        "decision (its argmax, or prior-corrected with trawl-simulate --prior-correction em), `f1_argmax` at the raw "
        "argmax, `best_f1` at the best threshold. Mean ± sample sd over seeds (– with one seed).\n\n";
  size_t max_rounds = 0;
  for (auto& g : groups) {
    std::string seeds;
    for (auto* r : g.runs) seeds += (seeds.empty() ? "" : ", ") + r->meta.at("seed");
    md << "- **" << md_escape(g.label) << "**: method " << g.method << ", strategy " << g.strategy << ", model "
       << g.model << ", target " << g.target << "; seeds " << seeds << "; pool: " << g.meta("pool")
       << "; test: " << g.meta("test") << "; " << g.rounds << " rounds\n";
    max_rounds = std::max(max_rounds, g.rounds);
  }
  md << "\n## Round " << R << "\n\n" << table << "\n## Selection time per round\n\nMean `select_seconds` over seeds.\n\n| round |";
  for (auto& g : groups) md << " " << md_escape(g.label) << " |";
  md << "\n|---|";
  for (size_t i = 0; i < groups.size(); ++i) md << "---|";
  md << "\n";
  for (size_t k = 0; k < max_rounds; ++k) {
    md << "| " << k << " |";
    for (auto& g : groups) md << " " << (k < g.rounds ? fmt3(g.at("select_seconds", k).mean) : "–") << " |";
    md << "\n";
  }
  md << "\n## Plots\n\n";
  const std::string img = std::count(formats.begin(), formats.end(), "png") ? "png" : "svg";
  for (auto [name, what] : std::vector<std::pair<std::string, std::string>>{
           {"f1", "F1 against labelled items"}, {"ap", "Average precision against labelled items"},
           {"found", "Rare items found against labelled items"}, {"select-time", "Selection time per round"}}) {
    md << "### " << what << "\n\n![" << what << "](" << name << "." << img << ")";
    for (auto& f : formats) md << " [" << f << "](" << name << "." << f << ")";
    md << "\n\n";
  }
  md << "Redraw or restyle: `gnuplot plot.gp` in this directory (data in data-N.tsv and eval-N.tsv).\n";
  return md.str();
}

void write_file(const fs::path& p, const std::string& text) {
  std::ofstream f(p, std::ios::binary);
  f << text;
  f.flush();
  if (!f) throw IoError(at(p.string(), 0, cat("write error (", std::strerror(errno), ")")));
}

// Files are written into a sibling staging directory; commit() moves them into --output. Destroyed
// without commit, the staging directory is removed: a failure leaves --output as it was.
class Staging {
 public:
  explicit Staging(std::string out) : final_(std::move(out)) {
    while (final_.size() > 1 && final_.back() == '/') final_.pop_back();
    std::error_code ec;
    if (fs::exists(final_, ec) && !fs::is_directory(final_, ec))
      throw UsageError(cat("--output ", final_, ": exists and is not a directory"));
    fs::path f(final_), parent = f.parent_path().empty() ? fs::path(".") : f.parent_path();
    dir_ = parent / cat(".", f.filename().string(), ".tmp.", ::getpid());
    fs::create_directories(parent, ec);
    fs::remove_all(dir_, ec);
    if (!fs::create_directory(dir_, ec) || ec)
      throw IoError(cat(dir_.string(), ": cannot create the staging directory: ", ec.message()));
  }
  ~Staging() {
    std::error_code ec;
    if (!done_) fs::remove_all(dir_, ec);
  }
  const fs::path& dir() const { return dir_; }
  void commit() {
    std::error_code ec;
    if (!fs::exists(final_, ec)) {
      fs::rename(dir_, final_, ec);
      if (ec) throw IoError(cat("--output ", final_, ": cannot rename ", dir_.string(), " into place: ", ec.message()));
    } else {
      for (auto& e : fs::directory_iterator(dir_)) {
        fs::rename(e.path(), fs::path(final_) / e.path().filename(), ec);
        if (ec) throw IoError(cat("--output ", final_, ": cannot move ", e.path().filename().string(), " into it: ", ec.message()));
      }
      fs::remove(dir_, ec);
    }
    done_ = true;
  }

 private:
  std::string final_;
  fs::path dir_;
  bool done_ = false;
};

std::string find_program(const std::string& name) {
  if (name.find('/') != std::string::npos) {
    if (::access(name.c_str(), X_OK) == 0) return name;
  } else if (const char* path = std::getenv("PATH")) {
    std::istringstream ps(path);
    for (std::string d; std::getline(ps, d, ':');) {
      std::string p = (d.empty() ? std::string(".") : d) + "/" + name;
      if (::access(p.c_str(), X_OK) == 0 && !fs::is_directory(p)) return p;
    }
  }
  throw IoError(cat(name, ": gnuplot not found; trawl-report draws its plots with gnuplot: install it "
                          "(Debian/Ubuntu: apt-get install gnuplot-nox) or name it with --gnuplot PATH"));
}

// Runs `gnuplot plot.gp` in dir; stderr goes to dir/gnuplot.log, quoted in the error on failure.
void run_gnuplot(const std::string& exe, const fs::path& dir) {
  const std::string log = fs::absolute(dir / "gnuplot.log").string(), cwd = fs::absolute(dir).string();
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&fa, 1, log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_adddup2(&fa, 1, 2);
  posix_spawn_file_actions_addchdir_np(&fa, cwd.c_str());
  std::string a0 = "gnuplot", a1 = "plot.gp";
  char* argv[] = {a0.data(), a1.data(), nullptr};
  pid_t pid = 0;
  int rc = posix_spawn(&pid, exe.c_str(), &fa, nullptr, argv, environ);
  posix_spawn_file_actions_destroy(&fa);
  if (rc != 0) throw IoError(cat(exe, ": cannot run gnuplot: ", std::strerror(rc)));
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  std::ifstream lf(log);
  std::string out((std::istreambuf_iterator<char>(lf)), std::istreambuf_iterator<char>());
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
    throw IoError(cat("gnuplot failed (", WIFEXITED(status) ? cat("exit status ", WEXITSTATUS(status)) : std::string("killed"),
                      ") on plot.gp:\n", out.size() > 2000 ? out.substr(out.size() - 2000) : out));
  if (!trim(out).empty()) log::warn("gnuplot: ", trim(out));
  fs::remove(log);
}

// data-N.tsv (every round) or eval-N.tsv (rounds with a test evaluation): per column its mean and sd.
std::string data_file(const Group& g, bool eval_only) {
  std::ostringstream os;
  os << "# trawl-report: " << g.label << " (method " << g.method << ", strategy " << g.strategy << ", model "
     << g.model << ", target " << g.target << "), " << g.runs.size() << " seeds; mean and sample sd over seeds"
     << (eval_only ? ", rounds with a test evaluation" : "") << "; ? = no value\n";
  for (size_t i = 0; i < g.cols.size(); ++i) os << (i ? "\t" : "") << g.cols[i] << "\t" << g.cols[i] << "_sd";
  os << "\n";
  for (size_t k = 0; k < g.rounds; ++k) {
    if (eval_only && g.at("f1", k).n == 0) continue;
    for (size_t i = 0; i < g.cols.size(); ++i) {
      const Stat& s = g.at(g.cols[i], k);
      char b[64];
      if (s.n) std::snprintf(b, sizeof b, "%.9g\t%.9g", s.mean, s.sd);
      os << (i ? "\t" : "") << (s.n ? b : "?\t?");
    }
    os << "\n";
  }
  return os.str();
}

std::string plot_script(const std::vector<Group>& groups, const std::vector<std::string>& formats,
                        const std::string& title, const std::string& target, size_t rounds) {
  std::ostringstream os;
  const size_t n = groups.size();
  os << "# trawl-report plots: run `gnuplot plot.gp` in this directory to redraw them; edit freely.\n"
        "# data-N.tsv: group N's mean and sd over seeds per round; eval-N.tsv: the same, rounds with a test\n"
        "# evaluation only (F1 and average precision). Columns are named in each file's header; ? = no value.\n"
        "set datafile separator \"\\t\"\nset datafile missing \"?\"\nset datafile columnheaders\n";
  os << "formats = " << gp_string([&] { std::string s; for (auto& f : formats) s += (s.empty() ? "" : " ") + f; return s; }())
     << "\nreport_title = " << gp_string(title) << "\ngroups = " << n << "\narray label[" << n << "]\narray colour[" << n << "]\n";
  for (size_t i = 0; i < n; ++i)
    os << "label[" << i + 1 << "] = " << gp_string(groups[i].label) << "; colour[" << i + 1 << "] = '"
       << kColours[i % kColours.size()] << "'\n";
  os << "alldata(i) = sprintf('data-%d.tsv', i)\nevaldata(i) = sprintf('eval-%d.tsv', i)\n"
        "set grid\nset key top left opaque box Left reverse\nset border 3\nset tics nomirror\n"
        "do for [fmt in formats] {\n"
        "  if (fmt eq 'png') {\n"
        "    if (strstrt(GPVAL_TERMINALS, 'pngcairo') > 0) { set terminal pngcairo size 960,600 noenhanced font 'sans,11' }\n"
        "    else { set terminal png truecolor size 960,600 noenhanced }\n"
        "  } else { set terminal svg size 960,600 dynamic noenhanced font 'sans,11' background rgb 'white' }\n";
  struct P { std::string name, file, x, y, xlabel, ylabel, what, xtics = "autofreq"; };
  const std::string tgt = target.empty() ? std::string("target-class") : target;
  const std::vector<P> plots = {
      {"f1", "evaldata", "labelled", "f1", "labelled items", "F1 at the decision threshold", "F1 of " + tgt + " on the test split"},
      {"ap", "evaldata", "labelled", "average_precision", "labelled items", "average precision",
       "average precision of " + tgt + " on the test split"},
      {"found", "alldata", "labelled", "target_labelled", "labelled items", "labelled " + tgt + " items",
       "rare items found (" + tgt + ")"},
      {"select-time", "alldata", "round", "select_seconds", "round", "seconds", "selection time per round",
       std::to_string(std::max<size_t>(1, (rounds + 9) / 10))}};  // whole rounds
  for (auto& p : plots) {
    os << "  set output '" << p.name << ".' . fmt\n"
       << "  set title report_title . \"\\n\" . " << gp_string(p.what + ", mean ± sd over seeds") << "\n"
       << "  set xlabel " << gp_string(p.xlabel) << "\n  set ylabel " << gp_string(p.ylabel) << "\n  set yrange [0:*]\n  set xtics " << p.xtics << "\n"
       << "  plot for [i=1:groups] " << p.file << "(i) using '" << p.x << "':(column('" << p.y << "')-column('" << p.y
       << "_sd')):(column('" << p.y << "')+column('" << p.y
       << "_sd')) with filledcurves fc rgb colour[i] fs transparent solid 0.2 noborder notitle, \\\n"
       << "       for [i=1:groups] " << p.file << "(i) using '" << p.x << "':'" << p.y
       << "' with linespoints lc rgb colour[i] lw 2 pt 7 ps 0.6 title label[i]\n  unset output\n";
  }
  os << "}\n";
  return os.str();
}

// Positional arguments are inputs: "a b --output o" becomes "--input a --input b --output o".
std::vector<std::string> positional_to_input(int argc, char** argv) {
  std::vector<std::string> out{argv[0]};
  bool value_next = false, rest = false;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (value_next) {
      out.push_back(a);
      value_next = false;
    } else if (rest || a.empty() || a[0] != '-' || a == "-") {
      out.push_back("--input");
      out.push_back(a);
    } else if (a == "--") {
      rest = true;
    } else {
      out.push_back(a);
      value_next = a.rfind("--", 0) == 0 ? a.find('=') == std::string::npos && a != "--help" && a != "--version"
                                         : a.size() == 2 && a != "-h";
    }
  }
  return out;
}

}  // namespace

int main(int argc0, char** argv0) {
  std::vector<std::string> args = positional_to_input(argc0, argv0);
  std::vector<char*> argv_v;
  for (auto& a : args) argv_v.push_back(a.data());
  argv_v.push_back(nullptr);
  int argc = int(args.size());
  char** argv = argv_v.data();
  return mpi::run_main(argc, argv, "trawl-report", [&](mpi::Comm& comm) {
    std::vector<std::string> inputs;
    std::string output, title, metrics_opt, format_opt, gnuplot;
    int round = -1;
    cli::Cli c("trawl-report", "report",
               "compare trawl-simulate runs: reads metrics.tsv (format version 2) from run directories and "
               "multi-seed directories (seed-*/metrics.tsv), given as arguments or --input; groups runs by "
               "method, strategy, model and target; writes report.md (mean ± sd over seeds per group at one "
               "round, selection time per round) and plots of F1, average precision, rare items found and "
               "selection time (PNG/SVG via gnuplot, with plot.gp and its data files) to --output, and prints "
               "the table.");
    c.required().add_options()
        ("output,o", po::value<std::string>(&output)->required(), "report directory (written only when complete)");
    c.optional().add_options()
        ("input", po::value<std::vector<std::string>>(&inputs)->multitoken()->composing(),
         "simulation output directories or metrics.tsv files (also as plain arguments)")
        ("title", po::value<std::string>(&title)->default_value("trawl simulation report"), "report and plot title")
        ("metrics", po::value<std::string>(&metrics_opt)->default_value(kDefaultMetrics),
         "comma-separated metrics.tsv columns for the table")
        ("round", po::value<int>(&round)->default_value(-1), "round the table reports (-1: the last one every group has)")
        ("format", po::value<std::string>(&format_opt)->default_value("png,svg"), "plot formats: png, svg or both")
        ("gnuplot", po::value<std::string>(&gnuplot)->default_value("gnuplot"), "the gnuplot program");
    if (!c.parse(argc, argv)) return 0;
    if (!comm.root()) return 0;
    if (inputs.empty()) throw UsageError("no inputs: give trawl-simulate output directories (see trawl-report --help)");
    const auto metrics = split_list(metrics_opt), formats = split_list(format_opt);
    if (metrics.empty()) throw UsageError("--metrics: no columns");
    if (formats.empty()) throw UsageError("--format: no formats");
    for (auto& f : formats)
      if (f != "png" && f != "svg") throw UsageError(cat("--format ", format_opt, ": '", f, "' is not png or svg"));
    const std::string gnuplot_exe = find_program(gnuplot);

    std::vector<std::string> want = kNeeded;
    for (auto& m : metrics)
      if (std::find(want.begin(), want.end(), m) == want.end()) want.push_back(m);
    std::vector<Run> runs;
    std::set<std::string> seen_files;
    for (auto& in : inputs)
      for (auto& f : metrics_files(in)) {
        std::error_code ec;
        auto canon = fs::weakly_canonical(f, ec).string();
        if (!seen_files.insert(ec ? f : canon).second) {
          log::warn(f, ": given twice; read once");
          continue;
        }
        runs.push_back(read_metrics(f, want));
      }

    std::vector<Group> groups = group_runs(runs);
    size_t common = SIZE_MAX, max_rounds = 0;
    std::set<std::string> targets;
    for (auto& g : groups) common = std::min(common, g.rounds), max_rounds = std::max(max_rounds, g.rounds), targets.insert(g.target);
    for (auto& g : groups)
      if (g.rounds != common) {
        log::warn("groups differ in their number of rounds; the table reports round ", common - 1, " unless --round");
        break;
      }
    if (round >= int(common))
      throw UsageError(cat("--round ", round, ": not every group has it (the last round all groups have is ", common - 1, ")"));
    const size_t R = round < 0 ? common - 1 : size_t(round);

    const std::string table = summary_table(groups, metrics, R);
    Staging st(output);
    write_file(st.dir() / "report.md", markdown(groups, table, formats, title, R, runs.size()));
    for (size_t i = 0; i < groups.size(); ++i) {
      write_file(st.dir() / cat("data-", i + 1, ".tsv"), data_file(groups[i], false));
      write_file(st.dir() / cat("eval-", i + 1, ".tsv"), data_file(groups[i], true));
    }
    write_file(st.dir() / "plot.gp", plot_script(groups, formats, title, targets.size() == 1 ? *targets.begin() : "", max_rounds));
    run_gnuplot(gnuplot_exe, st.dir());
    for (auto name : {"f1", "ap", "found", "select-time"})
      for (auto& f : formats)
        if (!fs::is_regular_file(st.dir() / cat(name, ".", f)) || fs::file_size(st.dir() / cat(name, ".", f)) == 0)
          throw IoError(cat("gnuplot did not write ", name, ".", f));
    st.commit();
    std::cout << table << std::flush;
    log::info("wrote report.md and ", 4 * formats.size(), " plots for ", groups.size(), " groups (", runs.size(),
              " runs, round ", R, ") to ", output);
    return 0;
  });
}
