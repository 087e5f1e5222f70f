#include "stages/vocab_stage.h"

#include <unistd.h>

#include <cstdio>

#include "core/error.h"
#include "core/fs.h"
#include "core/log.h"
#include "core/timer.h"
#include "mpi/report.h"
#include "mpi/run.h"

namespace trawl::stages {

using namespace trawl::embed;  // the vocabulary this stage counts
using mpi::collective;

namespace {

/// Rank 0 checks that every input is a readable file and the output location is writable,
/// before any counting.
void check_inputs_and_output(const VocabOptions& o, const std::string& out_dir) {
  if (o.inputs.empty()) throw UsageError("trawl-vocab: no input files (--input or --input-list)");
  for (size_t i = 0; i < o.inputs.size(); ++i) {
    const auto& p = o.inputs[i];
    if (!path_exists(p)) throw IoError(cat(p, ": input file ", i, " of ", o.inputs.size(), " does not exist"));
    if (is_directory(p)) throw IoError(cat(p, ": input file ", i, " is a directory, expected a text chunk"));
    if (::access(p.c_str(), R_OK) != 0) throw IoError(cat(p, ": input file ", i, " is not readable"));
  }
  check_writable_dir(out_dir);
}

/// The existing output may be reused when it validates and was counted over the same chunk
/// list (and, for a vocab, the same min_df).
bool reusable(const std::string& path, const VocabOptions& o, bool part) {
  if (!path_exists(path)) return false;
  try {
    Vocab v = read_vocab(path, part);
    if (part != (v.format == kVocabPartFormat)) return false;
    if (v.input_file != o.inputs) return false;
    if (part) return v.shard_id == o.shard_id && v.num_shards == o.num_shards;
    return v.min_df == o.min_df;
  } catch (const std::exception&) {
    return false;
  }
}

VocabStats stats_of(const Vocab& v, const std::string& path) {
  VocabStats s;
  s.docs = v.n_docs;
  s.bad_rows = v.bad_rows;
  s.tokens = v.tokens;
  s.kept_ids = v.size();
  s.pruned_ids = v.pruned_ids;
  s.output = path;
  return s;
}

}  // namespace

VocabStats run_vocab(const mpi::Comm& comm, const VocabOptions& o) {
  const bool part = o.num_shards > 0;
  if (o.min_df < 1) throw UsageError(cat("--min-df ", o.min_df, ": must be at least 1"));
  if (o.output.empty()) throw UsageError("trawl-vocab: --output is required");
  const mpi::WorkSplit split = mpi::work_split(comm, o.shard_id, o.num_shards);
  const std::string parts_dir = o.parts_dir.empty() ? o.output + ".parts" : o.parts_dir;
  const std::string out_path = part ? join_path(parts_dir, vocab_part_name(o.shard_id, o.num_shards)) : o.output;

  // Up-front checks on rank 0 (the same error on every rank), and the skip decision.
  int skip = 0;
  collective(comm, [&] {
    if (!comm.root()) return;
    check_inputs_and_output(o, part ? parts_dir : parent_dir(o.output));
    if (!o.force && reusable(out_path, o, part)) skip = 1;
  });
  comm.bcast_value(skip);
  if (skip) {
    VocabStats s;
    collective(comm, [&] {
      if (comm.root()) s = stats_of(read_vocab(out_path, part), out_path);
    });
    std::vector<uint64_t> nums{s.docs, s.bad_rows, s.tokens, s.kept_ids, s.pruned_ids};
    comm.bcast(nums);
    s.docs = nums[0], s.bad_rows = nums[1], s.tokens = nums[2], s.kept_ids = nums[3], s.pruned_ids = nums[4];
    s.skipped = true;
    s.output = out_path;
    log::info("vocab: ", out_path, " exists and validates for the same inputs; skipping (--force recounts)");
    return s;
  }

  // Count this process's chunks and reduce (not pruned in array mode: the merge prunes).
  const uint64_t min_df = part ? 1 : o.min_df;
  ReducedCounts rc = count_and_reduce(comm, o, split.items(o.inputs.size()), min_df);
  mpi::report_total(comm, "vocab: documents counted", double(rc.local_docs), "docs", rc.count_seconds);
  VocabStats s;
  s.docs = rc.docs;
  s.bad_rows = rc.bad_rows;
  s.tokens = rc.tokens;
  s.pruned_ids = rc.pruned_ids;
  s.kept_ids = rc.kept_ids;
  s.exchange_rounds = rc.exchange_rounds;
  if (comm.root() && s.bad_rows > 0)
    log::warn("vocab: skipped ", s.bad_rows, " bad input row(s), not counted as documents (first: ", rc.first_bad,
              "); trawl-embed fails or rejects them");
  Vocab& v = rc.counts;

  collective(comm, [&] {
    if (!comm.root()) return;
    ScopedTimer t("vocab write");
    v.format = part ? kVocabPartFormat : kVocabFormat;
    v.n_docs = s.docs;
    v.min_df = min_df;
    v.pruned_ids = s.pruned_ids;
    v.tokens = s.tokens;
    v.bad_rows = s.bad_rows;
    v.config = o.config;
    v.shard_id = part ? o.shard_id : 0;
    v.num_shards = part ? o.num_shards : 0;
    v.input_file = o.inputs;
    if (part) make_dirs(parts_dir);
    write_vocab(out_path, v);
    log::info("vocab: wrote ", out_path, ": ", v.size(), " ids with df >= ", min_df, " (", s.pruned_ids,
              " dropped) over ", s.docs, " documents");
  });
  s.output = out_path;
  mpi::report_timers(comm);
  return s;
}

VocabStats run_vocab_merge(const std::string& dir, const std::string& output, uint64_t min_df,
                             const std::string& config, bool force) {
  if (min_df < 1) throw UsageError(cat("--min-df ", min_df, ": must be at least 1"));
  if (!is_directory(dir)) throw IoError(cat(dir, ": --merge-parts directory does not exist"));
  auto files = list_files(dir, "part-", ".h5");
  if (files.empty()) throw InputError(cat(dir, ": no part-<i>-of-<N>.h5 files to merge"));
  check_writable_dir(parent_dir(output));

  PartSum sum;
  Vocab out;
  int n_parts = -1;
  std::vector<int> seen;
  for (const auto& f : files) {
    int i = -1, n = -1;
    char tail = 0;
    if (std::sscanf(basename(f).c_str(), "part-%d-of-%d.h%c", &i, &n, &tail) != 3)
      throw InputError(cat(f, ": not a part file name (expected part-<i>-of-<N>.h5)"));
    Vocab p = read_vocab(f, true);
    if (p.format != kVocabPartFormat)
      throw InputError(cat(f, ": trawl-format = '", p.format, "', expected '", kVocabPartFormat, "'"));
    if (p.shard_id != i || p.num_shards != n)
      throw InputError(cat(f, ": holds part ", p.shard_id, " of ", p.num_shards, ", but its name says ", i, " of ", n));
    if (n_parts < 0) {
      n_parts = n;
      seen.assign(n, 0);
      out.input_file = p.input_file;
      out.input_checksum.assign(p.input_file.size(), std::string());
      out.config = p.config;
    } else if (n != n_parts) {
      throw InputError(cat(f, ": part of a ", n, "-task array, but ", files.front(), " is of a ", n_parts,
                           "-task array; remove the parts of the other run"));
    }
    if (p.input_file != out.input_file)
      throw InputError(cat(f, ": counted another chunk list (", p.input_file.size(), " files) than ",
                           files.front(), " (", out.input_file.size(), " files)"));
    seen[i]++;
    for (size_t c = 0; c < p.input_checksum.size(); ++c) {
      if (p.input_checksum[c].empty()) continue;
      if (!out.input_checksum[c].empty())
        throw InputError(cat(f, ": chunk ", c, " (", p.input_file[c], ") was also counted by another part"));
      out.input_checksum[c] = p.input_checksum[c];
    }
    out.n_docs += p.n_docs;
    out.tokens += p.tokens;
    out.bad_rows += p.bad_rows;
    sum.add(p);
  }
  std::string missing;
  for (int i = 0; i < n_parts; ++i)
    if (!seen[i]) missing += (missing.empty() ? "" : ", ") + vocab_part_name(i, n_parts);
  if (!missing.empty())
    throw InputError(cat(dir, ": missing ", missing, " (rerun those array tasks)"));
  for (size_t c = 0; c < out.input_checksum.size(); ++c)
    if (out.input_checksum[c].empty())
      throw InputError(cat(dir, ": no part counted chunk ", c, " (", out.input_file[c], ")"));

  if (!force && path_exists(output)) {
    try {
      Vocab old = read_vocab(output);
      if (old.input_file == out.input_file && old.input_checksum == out.input_checksum && old.min_df == min_df) {
        log::info("vocab: ", output, " exists and validates for the same inputs; skipping (--force rewrites)");
        VocabStats s = stats_of(old, output);
        s.skipped = true;
        return s;
      }
    } catch (const std::exception&) {
    }
  }

  sum.finish(min_df, out);
  out.min_df = min_df;
  if (!config.empty()) out.config += cat("# merged by trawl-vocab --merge-parts\n", config);
  out.format = kVocabFormat;
  write_vocab(output, out);
  log::info("vocab: merged ", files.size(), " parts into ", output, ": ", out.size(), " ids with df >= ", min_df,
            " (", out.pruned_ids, " dropped) over ", out.n_docs, " documents");
  return stats_of(out, output);
}

}  // namespace trawl::stages
