// trawl-libs: trawl_labels trawl_label_formats
// bench_labels: the label round-trip's file work against this machine's limits, each limit
// measured in the same run on the same bytes:
//   (a) journal appends (append_journal: format + flock + tail check + one write() + fsync) in
//       batches of 1, 100 and 10,000 records: records/s, MB/s and the mean latency of one
//       append, against a plain write()+fsync() of the same bytes on an open O_APPEND fd
//       ("format ms": format_record of one batch alone, the CPU part of an append);
//   (b) read_journal of a --records-record journal, effective_votes, then majority and
//       plurality consensus: records/s, against read() of the file's bytes into a buffer;
//   (c) import_annotations of a Label Studio full JSON export and a Prodigy db-out JSONL with
//       --imports records each: records/s and MB/s, against read() of the same file.
// Everything lives in a fresh directory under $TMPDIR (default /tmp), removed at the end.
//
//   bench_labels [--records 1000000] [--imports 100000] [--appends 200] [--reps 3]
//
//   --records  journal size for (b)
//   --imports  records in each generated export for (c)
//   --appends  appends per run at batch 1 and 100 (batch 10,000 does --appends/10)
//   --reps     runs per figure; the best is printed (timings are never asserted)
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "core/log.h"
#include "labels/formats.h"
#include "labels/journal.h"
#include "bench_util.h"

using namespace trawl;
using trawl::bench::now;
using trawl::bench::arg;
using trawl::bench::best_of;
using namespace trawl::labels;

namespace {

const char* kLabels[] = {"neg", "pos"};

// n records over n/3 uids (3 annotators each, of 20), mostly agreeing.
std::vector<Record> make_records(size_t n, uint64_t seed) {
  std::mt19937_64 g(seed);
  std::vector<Record> v(n);
  for (size_t i = 0; i < n; ++i) {
    Record& r = v[i];
    r.uid = 1000000007ull + (i / 3) * 7919ull;
    r.cls = "pos";
    r.annotator = "annotator-" + std::to_string((i / 3 + i % 3 * 7) % 20);
    const int truth = int((i / 3) % 5 == 0);
    r.label = kLabels[(g() % 10 < 8) ? truth : 1 - truth];
    r.time = "2026-03-01T10:00:00Z";
    r.round = 3;
    r.source = "export-2026-03-01.json";
  }
  return v;
}

void write_file(const std::string& path, const std::string& data) {
  FILE* f = std::fopen(path.c_str(), "wb");
  if (!f || std::fwrite(data.data(), 1, data.size(), f) != data.size()) {
    std::perror(path.c_str());
    std::exit(1);
  }
  std::fclose(f);
}

// read() of the whole file into a reused buffer: the limit of every reader here.
size_t read_bytes(const std::string& path, std::vector<char>& buf) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    std::perror(path.c_str());
    std::exit(1);
  }
  size_t total = 0;
  for (;;) {
    if (buf.size() < total + (1 << 20)) buf.resize(std::max(buf.size() * 2, total + (size_t(1) << 20)));
    ssize_t n = ::read(fd, buf.data() + total, buf.size() - total);
    if (n <= 0) break;
    total += size_t(n);
  }
  ::close(fd);
  return total;
}

size_t file_size(const std::string& path) {
  std::vector<char> b;
  return read_bytes(path, b);
}

std::string json_escape(const std::string& s) {
  std::string o;
  for (char c : s) {
    if (c == '"' || c == '\\') o += '\\';
    o += c;
  }
  return o;
}

std::string item_text(uint64_t uid) {
  return "Looking for work in data engineering, item " + std::to_string(uid) +
         " - remote or on site, \"open to offers\"";
}

// A Label Studio full JSON export: one task per item, 2 annotations each (n records).
std::string label_studio_export(size_t n) {
  std::string o = "[\n";
  const size_t tasks = (n + 1) / 2;
  size_t made = 0;
  for (size_t t = 0; t < tasks; ++t) {
    const uint64_t uid = 2000000011ull + t * 104729ull;
    if (t) o += ",\n";
    o += "{\"id\": " + std::to_string(t + 1) + ", \"data\": {\"item_id\": \"" + std::to_string(uid) +
         "\", \"text\": \"" + json_escape(item_text(uid)) + "\", \"class\": \"pos\", \"score\": 0.73}, \"annotations\": [";
    for (int a = 0; a < 2 && made < n; ++a, ++made) {
      const int who = int((t * 3 + size_t(a)) % 12);
      if (a) o += ", ";
      o += "{\"id\": " + std::to_string(made + 1) + ", \"completed_by\": {\"id\": " + std::to_string(who) +
           ", \"email\": \"annotator" + std::to_string(who) + "@example.org\"}, \"result\": [{\"value\": {\"choices\": [\"" +
           kLabels[(t + size_t(a)) % 3 == 0] +
           "\"]}, \"id\": \"r" + std::to_string(made) +
           "\", \"from_name\": \"label\", \"to_name\": \"text\", \"type\": \"choices\", \"origin\": \"manual\"}], "
           "\"was_cancelled\": false, \"ground_truth\": false, \"created_at\": \"2026-03-01T10:00:00.000000Z\", "
           "\"updated_at\": \"2026-03-01T10:00:00.000000Z\", \"lead_time\": 4.2}";
    }
    o += "], \"predictions\": []}";
  }
  o += "\n]\n";
  return o;
}

// A Prodigy db-out JSONL of binary tasks: one line per record, accept or reject.
std::string prodigy_export(size_t n) {
  std::string o;
  for (size_t i = 0; i < n; ++i) {
    const uint64_t uid = 3000000019ull + (i / 2) * 104729ull;
    const int who = int(i % 12);
    o += "{\"text\": \"" + json_escape(item_text(uid)) + "\", \"label\": \"pos\", \"meta\": {\"id\": " +
         std::to_string(uid) + ", \"class\": \"pos\", \"score\": 0.73}, \"_input_hash\": " + std::to_string(-12345 - long(i)) +
         ", \"_task_hash\": " + std::to_string(67890 + i) + ", \"answer\": \"" + (i % 3 ? "accept" : "reject") +
         "\", \"_timestamp\": " + std::to_string(1772359200 + i) + ", \"_annotator_id\": \"session-" +
         std::to_string(who) + "\", \"_session_id\": \"session-" + std::to_string(who) + "\"}\n";
  }
  return o;
}

}  // namespace

int main(int argc, char** argv) {
  for (int i = 1; i < argc; ++i)
    if (!std::strcmp(argv[i], "--help") || !std::strcmp(argv[i], "-h")) {
      std::printf("bench_labels [--records 1000000] [--imports 100000] [--appends 200] [--reps 3]\n");
      return 0;
    }
  log::set_level(log::Level::kError);
  const size_t nrec = std::stoull(arg(argc, argv, "--records", "1000000"));
  const size_t nimp = std::stoull(arg(argc, argv, "--imports", "100000"));
  const size_t napp = std::stoull(arg(argc, argv, "--appends", "200"));
  const int reps = std::max(1, std::stoi(arg(argc, argv, "--reps", "3")));
  std::string tmpl = std::string(std::getenv("TMPDIR") ? std::getenv("TMPDIR") : "/tmp") + "/trawl-bench-labels-XXXXXX";
  if (!::mkdtemp(tmpl.data())) {
    std::perror("mkdtemp");
    return 1;
  }
  const std::string dir = tmpl;
  size_t sink = 0;  // keeps results alive
  std::printf("bench_labels: dir %s, best of %d\n", dir.c_str(), reps);

  // ---- (a) appends
  std::printf("\n(a) journal appends (append_journal) vs plain write()+fsync() of the same bytes\n");
  std::printf("%8s %8s %10s %12s %9s %12s | %12s %9s %12s | %7s | %12s\n", "batch", "appends", "bytes/app",
              "records/s", "MB/s", "ms/append", "raw rec/s", "raw MB/s", "raw ms/app", "x raw", "format ms");
  for (size_t batch : {size_t(1), size_t(100), size_t(10000)}) {
    const size_t apps = std::max<size_t>(1, batch >= 10000 ? napp / 10 : napp);
    const std::vector<Record> recs = make_records(batch, batch);
    std::string bytes;
    for (auto& r : recs) bytes += format_record(r) + "\n";
    double best_j = 1e300, best_r = 1e300;
    for (int rep = 0; rep < reps; ++rep) {
      const std::string jp = dir + "/append.tsv", rp = dir + "/raw.tsv";
      ::unlink(jp.c_str());
      ::unlink(rp.c_str());
      append_journal(jp, make_records(1, 99));  // create it (header, directory fsync) untimed
      double t0 = now();
      for (size_t a = 0; a < apps; ++a) append_journal(jp, recs);
      best_j = std::min(best_j, now() - t0);
      int fd = ::open(rp.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
      if (fd < 0 || ::write(fd, "x\n", 2) != 2 || ::fsync(fd) != 0) {
        std::perror(rp.c_str());
        return 1;
      }
      t0 = now();
      for (size_t a = 0; a < apps; ++a) {
        if (::write(fd, bytes.data(), bytes.size()) != ssize_t(bytes.size()) || ::fsync(fd) != 0) {
          std::perror(rp.c_str());
          return 1;
        }
      }
      best_r = std::min(best_r, now() - t0);
      ::close(fd);
      ::unlink(jp.c_str());
      ::unlink(rp.c_str());
    }
    // format_record of the batch alone (the CPU part of an append; no I/O)
    const double t_fmt = best_of(reps, [&] {
      for (auto& r : recs) sink += format_record(r).size();
    });
    const double n = double(apps * batch), mb = double(apps * bytes.size()) / 1e6;
    std::printf("%8zu %8zu %10zu %12.0f %9.2f %12.3f | %12.0f %9.2f %12.3f | %7.2f | %12.3f\n", batch, apps,
                bytes.size(), n / best_j, mb / best_j, best_j / double(apps) * 1e3, n / best_r, mb / best_r,
                best_r / double(apps) * 1e3, best_j / best_r, t_fmt * 1e3);
  }

  // ---- (b) read + consensus
  std::printf("\n(b) a journal of %zu records: read and consensus vs read() of its bytes\n", nrec);
  const std::string jp = dir + "/journal.tsv";
  {
    const std::vector<Record> recs = make_records(nrec, 7);
    const double t0 = now();
    append_journal(jp, recs);
    const double t = now() - t0;
    std::printf("  (one append of all %zu records: %.3f s, %.0f records/s)\n", nrec, t, double(nrec) / t);
  }
  const size_t jbytes = file_size(jp);
  std::vector<char> buf;
  const double t_raw = best_of(reps, [&] { sink += read_bytes(jp, buf); });
  JournalRead jr;
  const double t_read = best_of(reps, [&] { jr = read_journal(jp); });
  std::vector<Vote> votes;
  const double t_votes = best_of(reps, [&] { votes = effective_votes(jr.records); });
  ConsensusResult maj, plu;
  ConsensusOptions om, op;
  op.rule = "plurality";
  const double t_maj = best_of(reps, [&] { maj = consensus(votes, om); });
  const double t_plu = best_of(reps, [&] { plu = consensus(votes, op); });
  const double mbj = double(jbytes) / 1e6;
  auto row = [&](const char* what, double t, double bytes_mb) {
    std::printf("  %-34s %9.3f s %12.0f records/s %9.1f MB/s %8.1f x read()\n", what, t, double(nrec) / t, bytes_mb / t,
                t / t_raw);
  };
  std::printf("  journal %.1f MB, %zu records read, %zu effective votes, majority %zu decisions, plurality %zu\n", mbj,
              jr.records.size(), votes.size(), maj.decisions.size(), plu.decisions.size());
  row("read() of the bytes (limit)", t_raw, mbj);
  row("read_journal", t_read, mbj);
  row("effective_votes", t_votes, mbj);
  row("consensus majority", t_maj, mbj);
  row("consensus plurality", t_plu, mbj);
  row("read + votes + majority", t_read + t_votes + t_maj, mbj);
  row("read + votes + plurality", t_read + t_votes + t_plu, mbj);
  jr = JournalRead();
  votes.clear();
  ::unlink(jp.c_str());

  // ---- (c) imports
  std::printf("\n(c) imports of %zu-record exports vs read() of the same file\n", nimp);
  std::printf("  %-14s %9s %10s %12s %9s | %10s %9s | %7s\n", "format", "MB", "seconds", "records/s", "MB/s", "read() s",
              "MB/s", "x read");
  struct Case {
    const char* fmt;
    std::string file, data;
  };
  std::vector<Case> cases = {{"label-studio", dir + "/export.json", label_studio_export(nimp)},
                             {"prodigy", dir + "/prodigy.jsonl", prodigy_export(nimp)}};
  for (auto& c : cases) {
    write_file(c.file, c.data);
    const double mb = double(c.data.size()) / 1e6;
    c.data.clear();
    ImportOptions o;
    o.format = c.fmt;
    o.classes = {"neg", "pos"};
    o.negative_label = "neg";
    o.now = "2026-03-01T10:00:00Z";
    ImportResult res;
    const double tr = best_of(reps, [&] { sink += read_bytes(c.file, buf); });
    const double ti = best_of(reps, [&] { res = import_annotations(c.file, o); });
    if (res.records.size() != nimp) std::printf("  (%s: %zu records imported, expected %zu)\n", c.fmt, res.records.size(), nimp);
    std::printf("  %-14s %9.1f %10.3f %12.0f %9.1f | %10.4f %9.0f | %7.1f\n", c.fmt, mb, ti, double(res.records.size()) / ti,
                mb / ti, tr, mb / tr, ti / tr);
    ::unlink(c.file.c_str());
  }
  ::rmdir(dir.c_str());
  if (sink == 42) std::printf(" ");
  return 0;
}
