#include "stages/evaluate_stage.h"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <limits>
#include <map>
#include <sstream>

#include "core/error.h"
#include "core/fs.h"
#include "core/log.h"
#include "core/rng.h"
#include "core/tsv.h"
#include "formats/scores.h"
#include "labels/labels.h"
#include "score/evaluate.h"

namespace trawl::stages {

using namespace trawl::score;  // the calibration and counts this stage reports
using formats::class_file_tag;
using formats::ScoresReader;

namespace {

struct EvalRow {
  uint64_t rank = 0, uid = 0;
  double score = 0;
  int y = -1;  // -1: not labelled
};

bool parse_u64(const std::string& s, uint64_t* v) {
  if (s.empty() || s[0] < '0' || s[0] > '9') return false;
  errno = 0;
  char* e = nullptr;
  unsigned long long x = std::strtoull(s.c_str(), &e, 10);
  if (errno || *e) return false;
  *v = x;
  return true;
}

std::vector<EvalRow> read_cutoffs(const std::string& path) {
  std::ifstream f(path);
  if (!f) throw IoError(cat(path, ": cannot open (a cutoffs-<class>.tsv or top-<class>.tsv from trawl-score)"));
  std::vector<EvalRow> rows;
  std::string line;
  long cr = -1, cu = -1, cs = -1;
  uint64_t n = 0;
  while (std::getline(f, line)) {
    ++n;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty() || line[0] == '#') continue;
    auto fl = tsv::split(line);
    if (cu < 0) {
      for (size_t i = 0; i < fl.size(); ++i) {
        if (fl[i] == "rank") cr = long(i);
        if (fl[i] == "uid") cu = long(i);
        if (fl[i] == "score") cs = long(i);
      }
      if (cr < 0 || cu < 0 || cs < 0)
        throw InputError(cat(path, ":", n, ": the header needs columns rank, uid and score (got '", line, "')"));
      continue;
    }
    if (long(fl.size()) <= std::max({cr, cu, cs}))
      throw InputError(cat(path, ":", n, ": ", fl.size(), " fields, fewer than the header's"));
    EvalRow r;
    if (!parse_u64(fl[size_t(cr)], &r.rank) || r.rank == 0)
      throw InputError(cat(path, ":", n, ": rank '", fl[size_t(cr)], "' is not a positive integer"));
    if (!parse_u64(fl[size_t(cu)], &r.uid))
      throw InputError(cat(path, ":", n, ": uid '", fl[size_t(cu)], "' is not an unsigned integer"));
    char* e = nullptr;
    r.score = std::strtod(fl[size_t(cs)].c_str(), &e);
    if (fl[size_t(cs)].empty() || *e || !std::isfinite(r.score) || r.score < 0 || r.score > 1)
      throw InputError(cat(path, ":", n, ": score '", fl[size_t(cs)], "' is not a probability in [0, 1]"));
    rows.push_back(r);
  }
  if (cu < 0) throw InputError(cat(path, ": empty (no header)"));
  std::sort(rows.begin(), rows.end(), [](const EvalRow& x, const EvalRow& y) { return x.rank < y.rank; });
  return rows;
}

double precision_below(const std::vector<EvalRow>& rows, uint64_t T) {
  uint64_t lab = 0, pos = 0;
  for (auto& r : rows)
    if (r.rank < T && r.y >= 0) ++lab, pos += uint64_t(r.y);
  return lab ? double(pos) / double(lab) : 0.0;
}


std::string calibration_svg(const std::vector<EvalRow>& rows, const Calibration& cal, const std::string& cls,
                            double root) {
  const double W = 560, H = 400, L = 60, R = 20, T = 40, B = 50;
  auto X = [&](double v) { return L + (W - L - R) * v; };
  auto Y = [&](double v) { return H - B - (H - T - B) * v; };
  std::ostringstream o;
  o << "<svg xmlns='http://www.w3.org/2000/svg' width='" << W << "' height='" << H
    << "' font-family='sans-serif' font-size='12'>\n<rect width='100%' height='100%' fill='white'/>\n"
    << "<text x='" << W / 2 << "' y='20' text-anchor='middle' font-size='14'>calibration of '" << cls
    << "': P(positive | score), " << cal.a.size() << " bootstrap fits</text>\n";
  for (int k = 0; k <= 4; ++k) {
    const double v = k / 4.0;
    o << "<line x1='" << L << "' y1='" << Y(v) << "' x2='" << W - R << "' y2='" << Y(v) << "' stroke='#ddd'/>"
      << "<text x='" << L - 6 << "' y='" << Y(v) + 4 << "' text-anchor='end'>" << v << "</text>"
      << "<text x='" << X(v) << "' y='" << H - B + 16 << "' text-anchor='middle'>" << v << "</text>\n";
  }
  o << "<text x='" << (L + W - R) / 2 << "' y='" << H - 12 << "' text-anchor='middle'>model score</text>\n";
  for (double p : {0.5, 0.95})
    o << "<line x1='" << L << "' y1='" << Y(p) << "' x2='" << W - R << "' y2='" << Y(p)
      << "' stroke='#999' stroke-dasharray='4 3'/>\n";
  o << "<line x1='" << X(root) << "' y1='" << Y(0) << "' x2='" << X(root) << "' y2='" << Y(1)
    << "' stroke='#d62728' stroke-dasharray='4 3'/><text x='" << X(root) + 4 << "' y='" << T + 12
    << "' fill='#d62728'>root " << root << "</text>\n";
  for (auto& r : rows)
    if (r.y >= 0)
      o << "<circle cx='" << X(r.score) << "' cy='" << Y(r.y ? 0.98 : 0.02) << "' r='2.5' fill='"
        << (r.y ? "#2ca02c" : "#7f7f7f") << "' fill-opacity='0.6'/>\n";
  std::string pts;
  for (int i = 0; i <= 200; ++i) {
    const double s = i / 200.0;
    char b[48];
    std::snprintf(b, sizeof b, "%.1f,%.1f ", X(s), Y(cal(s)));
    pts += b;
  }
  o << "<polyline fill='none' stroke='#1f77b4' stroke-width='2' points='" << pts << "'/>\n</svg>\n";
  return o.str();
}

}  // namespace

EvaluateSummary run_evaluate(const mpi::Comm& comm, const EvaluateOptions& o) {
  if (o.cutoffs.empty()) throw UsageError("--cutoffs: required (cutoffs-<class>.tsv from trawl-score)");
  if (o.labels.empty()) throw UsageError("--labels: required (TSV with uid and label)");
  if (o.cls.empty()) throw UsageError("--class: required");
  if (o.output.empty()) throw UsageError("--output: required");
  if (o.bootstrap > 1000000) throw UsageError(cat("--bootstrap ", o.bootstrap, ": at most 1000000"));
  const std::string positive = o.positive.empty() ? o.cls : o.positive;
  if (comm.root()) make_dirs(o.output);
  comm.barrier();
  check_writable_dir(o.output);

  // Every rank reads the (small) sample and fits the same calibration: no broadcast needed,
  // the fits are deterministic.
  auto rows = read_cutoffs(o.cutoffs);
  auto ls = labels::read_labels_tsv(o.labels);
  std::map<uint64_t, int> y_of;
  for (auto& it : ls.items) y_of[it.uid] = ls.classes[size_t(it.cls)] == positive ? 1 : 0;
  EvaluateSummary sum;
  std::vector<double> s;
  std::vector<int> y;
  for (auto& r : rows) {
    auto it = y_of.find(r.uid);
    if (it == y_of.end()) continue;
    r.y = it->second;
    s.push_back(r.score), y.push_back(r.y);
    sum.labelled++, sum.positives += uint64_t(r.y);
  }
  if (sum.labelled == 0)
    throw InputError(cat(o.labels, ": labels none of the ", rows.size(), " rows of ", o.cutoffs,
                         " (label the rank-bucket sample first: trawl-label --queue / --mode consensus)"));
  auto cal = calibrate(s, y, o.bootstrap, o.seed);

  uint64_t seen = 0, pos20 = 0;
  for (auto& r : rows)
    if (r.y >= 0 && seen < 20) ++seen, pos20 += uint64_t(r.y);
  sum.precision_top20 = seen ? double(pos20) / double(seen) : 0.0;
  sum.t95 = rows.empty() ? 1 : double(rows.back().rank + 1);
  for (auto& r : rows)
    if (cal(r.score) < 0.95) {
      sum.t95 = double(r.rank);
      break;
    }
  sum.precision_t95 = precision_below(rows, uint64_t(sum.t95));
  for (uint64_t T : o.top) sum.precision_top.push_back({T, precision_below(rows, T)});
  sum.root = cal.root(0.5);

  // Expansion numerator over the pool's scores files.
  if (!o.scores.empty()) {
    std::vector<double> t;
    t.push_back(sum.root);
    for (size_t b = 0; b < cal.a.size(); ++b)
      t.push_back(cal.a[b] > 0 ? -cal.c[b] / cal.a[b] : std::numeric_limits<double>::infinity());
    std::vector<size_t> order(t.size());
    for (size_t i = 0; i < t.size(); ++i) order[i] = i;
    std::sort(order.begin(), order.end(), [&](size_t i, size_t j) { return t[i] < t[j]; });
    std::vector<double> ts(t.size());
    for (size_t i = 0; i < t.size(); ++i) ts[i] = t[order[i]];
    AboveCounter counter(ts);
    auto files = list_files(o.scores, "shard-", ".scores.h5");
    if (files.empty()) throw IoError(cat(o.scores, ": no shard-*.scores.h5 (run trawl-score --pool first)"));
    uint64_t items = 0;
    std::vector<uint64_t> uid;
    std::vector<float> probs;
    for (size_t i = size_t(comm.rank()); i < files.size(); i += size_t(comm.size())) {
      ScoresReader r(files[i]);
      const auto& cls = r.info().classes;
      const long k = std::find(cls.begin(), cls.end(), o.cls) - cls.begin();
      if (k == long(cls.size())) throw InputError(cat(files[i], ": no class '", o.cls, "' among the scores' classes"));
      const size_t C = cls.size();
      for (uint64_t b = 0; b < r.info().rows; b += 65536) {
        const uint64_t e = std::min(r.info().rows, b + 65536);
        r.read(b, e, uid, probs);
        counter.add(probs.data() + size_t(k), e - b, C);
        items += e - b;
      }
    }
    auto counts = counter.finish(comm);
    sum.pool_items = comm.sum(items);
    std::vector<double> by(t.size());
    for (size_t i = 0; i < t.size(); ++i) by[order[i]] = double(counts[i]);
    sum.expansion = uint64_t(by[0]);
    if (by.size() > 2) {
      double m = 0, v = 0;
      for (size_t i = 1; i < by.size(); ++i) m += by[i];
      m /= double(by.size() - 1);
      for (size_t i = 1; i < by.size(); ++i) v += (by[i] - m) * (by[i] - m);
      sum.expansion_se = std::sqrt(v / double(by.size() - 2));
    }
  }

  const std::string tag = class_file_tag(o.cls);
  sum.summary_path = join_path(o.output, "evaluate-" + tag + ".tsv");
  if (comm.root()) {
    std::ostringstream f;
    f.precision(10);
    f << "# trawl-format: evaluation\n# trawl-format-version: 1\n";
    std::istringstream cfg(o.config);
    for (std::string l; std::getline(cfg, l);) f << "# config: " << l << '\n';
    f << "metric\tvalue\n";
    f << "class\t" << o.cls << "\npositive_label\t" << positive << "\nsample_rows\t" << rows.size()
      << "\nlabelled\t" << sum.labelled << "\npositives\t" << sum.positives << "\nbootstrap\t" << o.bootstrap
      << "\nprecision_top20\t" << sum.precision_top20 << "\nt95\t" << uint64_t(sum.t95) << "\nprecision_t95\t"
      << sum.precision_t95 << '\n';
    for (auto& [T, p] : sum.precision_top) f << "precision_top" << T << '\t' << p << '\n';
    f << "root_0.5\t" << sum.root << '\n';
    if (!o.scores.empty())
      f << "pool_items\t" << sum.pool_items << "\nexpansion_numerator\t" << sum.expansion << "\nexpansion_se\t"
        << sum.expansion_se << '\n';
    write_text_atomic(sum.summary_path, f.str());
    std::ostringstream c;
    c.precision(12);
    c << "b\ta\tc\troot\n";
    for (size_t b = 0; b < cal.a.size(); ++b)
      c << b << '\t' << cal.a[b] << '\t' << cal.c[b] << '\t' << (cal.a[b] > 0 ? -cal.c[b] / cal.a[b] : INFINITY) << '\n';
    write_text_atomic(join_path(o.output, "calibration-" + tag + ".tsv"), c.str());
    write_text_atomic(join_path(o.output, "calibration-" + tag + ".svg"), calibration_svg(rows, cal, o.cls, sum.root));
  }
  comm.barrier();
  log::info("evaluate '", o.cls, "': ", sum.labelled, " labelled rows (", sum.positives, " positive); precision_top20 ",
            sum.precision_top20, ", T95 ", uint64_t(sum.t95), " (precision ", sum.precision_t95, "), root ", sum.root,
            o.scores.empty() ? std::string()
                             : cat(", expansion numerator ", sum.expansion, " ± ", sum.expansion_se, " of ",
                                   sum.pool_items, " items"),
            " -> ", sum.summary_path);
  return sum;
}

}  // namespace trawl::stages
