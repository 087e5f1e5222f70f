// trawl-fit: reads the pool's chunks, builds the sublinear TF-IDF rows of the vocab's top ids,
// runs the distributed randomized SVD and writes the LSA encoder file (see lsa.h).
#include "stages/fit_stage.h"

#include <omp.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <fstream>
#include <set>
#include <sstream>

#include "core/error.h"
#include "core/fs.h"
#include "core/log.h"
#include "core/memory.h"
#include "core/progress.h"
#include "core/rng.h"
#include "core/timer.h"
#include "embed/lsa.h"
#include "embed/vocab.h"
#include "io/h5.h"
#include "io/shard.h"
#include "mpi/comm.h"
#include "mpi/report.h"
#include "mpi/run.h"
#include "text/tokenize.h"

namespace trawl::stages {

using namespace trawl::embed;  // the SVD and the encoder file this stage fits and writes

namespace {

using train::linear::Csr;

using mpi::collective;  // a step that may fail on some ranks: every rank learns (mpi/run.h)

std::string gib(double bytes) {
  char buf[32];
  if (bytes < double(1ULL << 30)) std::snprintf(buf, sizeof buf, "%.1f MiB", bytes / double(1ULL << 20));
  else std::snprintf(buf, sizeof buf, "%.2f GiB", bytes / double(1ULL << 30));
  return buf;
}

void append_rows(Csr& dst, const Csr& src, size_t r) {
  for (uint64_t q = src.offsets[r]; q < src.offsets[r + 1]; ++q) {
    dst.index.push_back(src.index[q]);
    dst.value.push_back(src.value[q]);
  }
  dst.offsets.push_back(dst.index.size());
}

bool same_fit(const LsaModel& m, const FitOptions& o, const std::string& vocab_checksum) {
  return m.input_file == o.inputs && m.vocab_checksum == vocab_checksum && m.dim == o.svd.dim &&
         m.seed == o.svd.seed && m.power_iterations == o.svd.power_iterations && m.oversample == o.svd.oversample &&
         m.sample == o.sample && m.max_features == o.max_features && m.block_rows == o.block_rows;
}

// ---- the checkpoint ----------------------------------------------------------------------------

constexpr const char* kCheckpointFormat = "lsa-fit-checkpoint";
constexpr int kCheckpointVersion = 1;

std::string hex16(uint64_t h) {
  char buf[24];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(h));
  return buf;
}

// What the power iteration's state depends on: the algorithm, every input chunk (name and
// checksum), the vocab, the reader's options and the fit's parameters. A checkpoint is resumed
// only under the same fingerprint.
std::string fit_fingerprint(const FitOptions& o, const std::string& vocab_checksum,
                            const std::vector<std::string>& checksums, uint64_t V, int kp) {
  uint64_t sample_bits;
  std::memcpy(&sample_bits, &o.sample, sizeof sample_bits);
  // v5: per-column 64-bit fixed point (v4: 2^-80, 128-bit); v4: A Z and the block's column sums
  // in float, the dense kernels with fma (v3: double, no fma); v3: the dense steps in row tiles
  // summed in tile order (v2: all rows on rank 0).
  std::string t = cat("lsa-fit svd v5|dense_tile_rows=", o.svd.dense_tile_rows, "|vocab=", vocab_checksum, "|dim=", o.svd.dim, "|oversample=", o.svd.oversample,
                      "|power_iterations=", o.svd.power_iterations, "|seed=", o.svd.seed, "|sample=", sample_bits,
                      "|max_features=", o.max_features, "|block_rows=", o.block_rows, "|features=", V, "|kp=", kp,
                      "|format=", static_cast<int>(o.reader.format), "|id_column=", o.reader.id_column,
                      "|text_column=", o.reader.text_column, "|max_line_bytes=", o.reader.max_line_bytes);
  for (size_t i = 0; i < o.inputs.size(); ++i) t += cat("|", o.inputs[i], "=", checksums[i]);
  return cat("fit:", hex16(hash_str(t, 0x636b7074)));
}

uint64_t z_checksum(const std::vector<float>& z) { return hash_bytes(z.data(), z.size() * sizeof(float), 0x7a); }

void write_checkpoint(const std::string& path, const std::string& fingerprint, int next_pass, int passes, int kp,
                      uint64_t V, const std::vector<float>& z) {
  TRAWL_ASSERT(z.size() == V * uint64_t(kp));
  AtomicOutput out(path);
  {
    auto f = io::h5::File::create(out.temp_path());
    io::h5::set_format(f, kCheckpointFormat, kCheckpointVersion);
    f.set_attr("fingerprint", fingerprint);
    f.set_attr("pass", static_cast<int64_t>(next_pass));
    f.set_attr("passes", static_cast<int64_t>(passes));
    f.set_attr("kp", static_cast<int64_t>(kp));
    f.set_attr_u64("features", V);
    f.set_attr("checksum", hex16(z_checksum(z)));
    auto d = io::h5::Dataset::create(f, "z", io::h5::Type::kF32, std::max<uint64_t>(1, (1 << 16) / uint64_t(kp)),
                                     uint64_t(kp));
    if (V) d.write(0, V, z.data());
    f.close();
  }
  out.commit();
}

// The checkpoint's state when it belongs to this fit (same fingerprint, sizes, and an intact
// checksum); otherwise false and why.
bool read_checkpoint(const std::string& path, const std::string& fingerprint, int passes, int kp, uint64_t V,
                     SvdState* st, std::string* why) {
  try {
    auto f = io::h5::File::open(path);
    io::h5::check_format(f, kCheckpointFormat, kCheckpointVersion);
    if (f.attr_str("fingerprint") != fingerprint) {
      *why = "it was written for other inputs or parameters";
      return false;
    }
    const int64_t pass = f.attr_i64("pass");
    if (f.attr_i64("passes") != passes || pass < 1 || pass >= passes || f.attr_i64("kp") != kp ||
        f.attr_u64("features") != V) {
      *why = cat("its pass ", pass, " of ", f.attr_i64("passes"), " or its size does not fit this fit");
      return false;
    }
    auto d = io::h5::Dataset::open(f, "z");
    d.expect(io::h5::Type::kF32, 2, uint64_t(kp));
    d.expect_rows(V, "one row per feature");
    st->z = d.read_all<float>();
    if (hex16(z_checksum(st->z)) != f.attr_str("checksum")) {
      *why = "its content does not match its checksum";
      return false;
    }
    st->pass = static_cast<int>(pass);
    st->kp = kp;
    return true;
  } catch (const std::exception& e) {
    *why = e.what();
    return false;
  }
}

}  // namespace

std::string checkpoint_path(const std::string& output) { return output + ".checkpoint"; }

FitStats run_fit(const mpi::Comm& comm, const FitOptions& o) {
  if (o.inputs.empty()) throw UsageError("trawl-fit: no input chunks (--input FILE... or --input-list FILE)");
  if (o.vocab_path.empty()) throw UsageError("trawl-fit: --vocab FILE (a trawl-vocab file) is required");
  if (o.output.empty()) throw UsageError("trawl-fit: --output FILE is required");
  if (!(o.sample > 0.0 && o.sample <= 1.0))
    throw UsageError(cat("--sample ", o.sample, ": must be a fraction in (0, 1]"));
  if (o.svd.dim < 1) throw UsageError(cat("--dim ", o.svd.dim, ": must be at least 1"));
  if (o.svd.oversample < 0) throw UsageError(cat("--oversample ", o.svd.oversample, ": must be >= 0"));
  if (o.svd.power_iterations < 0 || o.svd.power_iterations > 100)
    throw UsageError(cat("--power-iterations ", o.svd.power_iterations, ": must be in 0..100"));
  if (o.block_rows == 0) throw UsageError("--block-rows must be positive");
  if (o.memory_limit_gb < 0) throw UsageError(cat("--memory-limit ", o.memory_limit_gb, ": must be >= 0"));
  {
    std::set<std::string> seen;
    for (auto& f : o.inputs)
      if (!seen.insert(f).second) throw UsageError(cat("input chunk '", f, "' is listed twice"));
  }
  // Inputs, vocab and output location, checked before any work.
  collective(comm, [&] {
    if (!comm.root()) return;
    for (size_t i = 0; i < o.inputs.size(); ++i) {
      const auto& p = o.inputs[i];
      if (!path_exists(p)) throw IoError(cat(p, ": input chunk ", i, " of ", o.inputs.size(), " does not exist"));
      if (is_directory(p)) throw IoError(cat(p, ": input chunk ", i, " is a directory, expected a text chunk"));
      if (::access(p.c_str(), R_OK) != 0) throw IoError(cat(p, ": input chunk ", i, " is not readable"));
    }
    if (!path_exists(o.vocab_path))
      throw IoError(cat(o.vocab_path, ": vocab file does not exist (count one with trawl-vocab)"));
    check_writable_dir(parent_dir(o.output));
  });
  Vocab vocab;
  collective(comm, [&] { vocab = read_vocab(o.vocab_path); });
  const std::string vocab_checksum = vocab.checksum();
  std::vector<uint32_t> ids;
  std::vector<uint64_t> df;
  std::vector<float> idf;
  select_features(vocab, o.max_features, &ids, &df, &idf);
  const uint64_t V = ids.size();
  if (V == 0) throw InputError(cat(o.vocab_path, ": the vocab holds no token ids"));
  if (uint64_t(o.svd.dim) > V)
    throw UsageError(cat("--dim ", o.svd.dim, " exceeds the ", V, " features selected from ", o.vocab_path,
                         " (--max-features ", o.max_features, "); lower --dim"));

  FitStats st;
  int skip = 0;
  if (comm.root() && !o.force && path_exists(o.output)) {
    try {
      LsaModel m = read_lsa(o.output);
      if (same_fit(m, o, vocab_checksum)) {
        skip = 1;
        st.checksum = m.checksum;
      } else {
        log::warn(o.output, " exists but was fitted from other inputs or parameters; fitting again");
      }
    } catch (const std::exception& e) {
      log::warn(o.output, " exists but does not validate (", e.what(), "); fitting again");
    }
  }
  comm.bcast_value(skip);
  if (skip) {
    comm.bcast(st.checksum);
    st.skipped = true;
    // A fit killed after committing its output but before removing its checkpoint.
    if (comm.root() && path_exists(checkpoint_path(o.output))) remove_file(checkpoint_path(o.output));
    log::info("fit: ", o.output, " exists and validates for the same inputs and parameters; skipping (--force refits)");
    return st;
  }

  // The memory estimate, before any reading: the dense part is exact, the sparse rows are
  // bounded by the vocab's token count (every token an entry: an upper bound) of this rank's
  // share of the input bytes.
  const auto split = mpi::work_split(comm, 0, 0);
  const auto mine = split.items(o.inputs.size());
  uint64_t total_bytes = 0, my_bytes = 0;
  for (size_t i = 0; i < o.inputs.size(); ++i) {
    uint64_t b = file_size(o.inputs[i]);
    total_bytes += b;
    if (split.mine(i)) my_bytes += b;
  }
  const double share = total_bytes ? double(my_bytes) / double(total_bytes) : 0.0;
  const uint64_t dense = svd_dense_bytes(V, o.svd.dim, o.svd.oversample, comm.size());
  const uint64_t sparse_est = uint64_t(double(vocab.tokens) * o.sample * share * 8.0 +
                                       double(vocab.n_docs) * o.sample * share * 8.0);
  // The pass's working set besides the dense matrices: A Z of 4,096 rows (double) and the
  // per-column bookkeeping.
  const uint64_t block_est = 4096 * uint64_t(svd_padded_columns(o.svd.dim, o.svd.oversample, V)) * 8 + V * 24;
  const int local_ranks = mpi::ranks_on_node(comm);
  uint64_t limit = uint64_t(o.memory_limit_gb * double(1ULL << 30));
  if (limit == 0) limit = mem_available() / uint64_t(std::max(local_ranks, 1));
  const uint64_t need = dense + sparse_est + block_est;
  log::info("fit: ", o.inputs.size(), " chunks, ", V, " features (top --max-features by df of ", vocab.size(),
            "), dim ", o.svd.dim, " + ", o.svd.oversample, " oversampling, ", o.svd.power_iterations,
            " power iterations, sample ", o.sample, "; memory estimate on rank 0: ", gib(double(need)),
            " (dense ", gib(double(dense)), ", TF-IDF rows <= ", gib(double(sparse_est)), "), limit ", gib(double(limit)),
            " per rank");
  collective(comm, [&] {
    if (limit > 0 && need > limit)
      throw UsageError(cat("fit: needs about ", gib(double(need)), " on rank ", comm.rank(), " (dense V x k matrices ",
                           gib(double(dense)), " for ", V, " features, TF-IDF rows up to ", gib(double(sparse_est)),
                           ") but the limit is ", gib(double(limit)),
                           " per rank; use more ranks, --sample, a smaller --max-features or --dim, or raise "
                           "--memory-limit GiB"));
  });

  // Read, tokenise, sample and featurise this rank's chunks into blocks.
  LsaFeaturizer feat(ids, idf);
  std::vector<SvdBlock> blocks;
  std::vector<std::string> checksums(o.inputs.size());
  std::string first_bad;
  double t_read = 0;
  collective(comm, [&] {
    ScopedTimer timer("fit: read + featurise");
    Progress prog("fit: reading", my_bytes, "bytes");
    uint64_t before = 0, held = 0;
    const size_t batch = 4096;
    std::vector<std::string> texts;
    std::vector<uint64_t> uids;
    for (uint64_t c : mine) {
      const std::string& path = o.inputs[c];
      checksums[c] = checksum_file(path).str();
      text::ChunkReader reader(path, o.reader);
      text::Row row;
      text::BadRow bad;
      uint64_t block_no = 0;
      SvdBlock cur;
      cur.chunk = c;
      cur.rows.cols = int64_t(V);
      bool end = false;
      while (!end) {
        texts.clear();
        uids.clear();
        while (texts.size() < batch) {
          auto s = reader.next(row, bad);
          if (s == text::ChunkReader::Status::kEnd) {
            end = true;
            break;
          }
          if (s == text::ChunkReader::Status::kBad) {
            if (st.bad_rows++ == 0) first_bad = at(path, static_cast<long long>(bad.line), bad.reason);
            continue;
          }
          const uint64_t uid = io::make_uid(c, row.row);
          if (o.sample < 1.0 && double(key(o.svd.seed, uid) >> 11) * 0x1.0p-53 >= o.sample) {
            ++st.sampled_out;
            continue;
          }
          texts.push_back(std::move(row.text));
          uids.push_back(uid);
        }
        const size_t n = texts.size();
        std::vector<uint64_t> offs;
        std::vector<uint32_t> flat;
        text::texts_to_ids(texts, offs, flat);
        Csr x;
        feat.rows(offs.data(), flat.data(), n, &x);
        for (size_t r = 0; r < n; ++r) {
          if (x.offsets[r + 1] == x.offsets[r]) {
            ++st.empty_rows;
            continue;
          }
          append_rows(cur.rows, x, r);
          if (cur.rows.rows() == o.block_rows) {
            held += cur.rows.offsets.back() * 8 + cur.rows.offsets.size() * 8;
            cur.block = block_no++;
            blocks.push_back(std::move(cur));
            cur = SvdBlock();
            cur.chunk = c;
            cur.rows.cols = int64_t(V);
          }
        }
        if (limit > 0 && dense + held + block_est > limit)
          throw UsageError(cat("fit: the TF-IDF rows of rank ", comm.rank(), " outgrew the memory limit ",
                               gib(double(limit)), " at ", path, " (", gib(double(held)),
                               " held); use more ranks, --sample or a smaller --max-features, or raise --memory-limit"));
        prog.set(before + reader.bytes_consumed());
      }
      if (cur.rows.rows() > 0) {
        held += cur.rows.offsets.back() * 8 + cur.rows.offsets.size() * 8;
        cur.block = block_no++;
        blocks.push_back(std::move(cur));
      }
      before += file_size(path);
      prog.set(before);
    }
    prog.finish();
    t_read = timer.stop();
  });
  for (auto& b : blocks) st.rows += b.rows.rows(), st.nnz += b.rows.offsets.back();
  mpi::report_total(comm, "fit: TF-IDF rows", double(st.rows), "rows", t_read);
  st.rows = comm.sum(st.rows);
  st.nnz = comm.sum(st.nnz);
  st.empty_rows = comm.sum(st.empty_rows);
  st.sampled_out = comm.sum(st.sampled_out);
  st.bad_rows = comm.sum(st.bad_rows);
  {
    auto bads = comm.gather_strings(first_bad);
    if (comm.root() && st.bad_rows > 0) {
      std::string example;
      for (auto& b : bads)
        if (!b.empty()) {
          example = b;
          break;
        }
      log::warn("fit: ", st.bad_rows, " bad rows skipped (first: ", example, ")");
    }
  }
  log::info("fit: ", st.rows, " TF-IDF rows (", st.nnz, " entries; ", st.empty_rows, " rows without a selected id, ",
            st.sampled_out, " left out by --sample)");

  if (!o.dump_matrix.empty()) {
    collective(comm, [&] {
      if (comm.size() != 1) throw UsageError("--dump-matrix works on one rank only");
      make_dirs(o.dump_matrix);
      std::vector<uint64_t> offs{0};
      std::vector<uint32_t> idx;
      std::vector<float> val;
      for (auto& b : blocks) {
        for (size_t r = 0; r < b.rows.rows(); ++r) offs.push_back(offs.back() + b.rows.offsets[r + 1] - b.rows.offsets[r]);
        idx.insert(idx.end(), b.rows.index.begin(), b.rows.index.end());
        val.insert(val.end(), b.rows.value.begin(), b.rows.value.end());
      }
      auto put = [&](const std::string& name, const void* p, size_t n) {
        std::ofstream f(join_path(o.dump_matrix, name), std::ios::binary);
        f.write(static_cast<const char*>(p), std::streamsize(n));
        if (!f) throw IoError(cat(join_path(o.dump_matrix, name), ": cannot write"));
      };
      put("offsets.u64", offs.data(), offs.size() * 8);
      put("index.u32", idx.data(), idx.size() * 4);
      put("value.f32", val.data(), val.size() * 4);
      std::string meta = cat(offs.size() - 1, " ", V, " ", o.svd.dim, " ", o.svd.power_iterations, " ", o.svd.oversample, "\n");
      put("meta.txt", meta.data(), meta.size());
      log::info("fit: wrote the TF-IDF matrix to ", o.dump_matrix);
    });
  }

  // The chunk checksums, each from the rank that read the chunk.
  {
    std::string mine_ck;
    for (auto c : mine) mine_ck += cat(c, "\t", checksums[c], "\n");
    auto all = comm.gather_strings(mine_ck);
    if (comm.root())
      for (auto& s : all) {
        std::istringstream in(s);
        std::string line;
        while (std::getline(in, line)) {
          auto tab = line.find('\t');
          checksums[std::stoull(line.substr(0, tab))] = line.substr(tab + 1);
        }
      }
  }

  // A checkpoint of an earlier run of this fit: resume after its last completed pass.
  const int passes = o.svd.power_iterations + 1;
  const int kp = svd_padded_columns(o.svd.dim, o.svd.oversample, V);
  const std::string ckpt = checkpoint_path(o.output);
  std::string fingerprint;
  SvdState resume;
  collective(comm, [&] {
    if (!comm.root()) return;
    fingerprint = fit_fingerprint(o, vocab_checksum, checksums, V, kp);
    if (!path_exists(ckpt)) return;
    std::string why;
    if (o.force) {
      log::info("fit: --force: not resuming from ", ckpt);
    } else if (o.checkpoint && read_checkpoint(ckpt, fingerprint, passes, kp, V, &resume, &why)) {
      log::info("fit: resuming from ", ckpt, ": ", resume.pass, " of ", passes, " passes done");
    } else if (o.checkpoint) {
      log::warn("fit: ", ckpt, " is not resumed (", why, "); fitting from the start");
    }
    if (resume.pass == 0) remove_file(ckpt);
  });
  comm.bcast_value(resume.pass);
  st.resumed_from_pass = resume.pass;
  const SvdAfterPass after_pass = [&](int next, int kp_, const std::vector<float>& z) {
    if (o.checkpoint)
      collective(comm, [&] {
        if (!comm.root()) return;
        ScopedTimer timer("fit: checkpoint writes (rank 0)");
        write_checkpoint(ckpt, fingerprint, next, passes, kp_, V, z);
      });
    return !(o.stop_after_pass > 0 && next >= o.stop_after_pass);
  };

  SvdResult svd;
  collective(comm, [&] {
    ScopedTimer timer("fit: randomized svd");
    svd = randomized_svd(comm, blocks, ids, o.svd, {}, resume.pass > 0 ? &resume : nullptr, after_pass);
  });
  blocks.clear();
  std::vector<float>().swap(resume.z);
  if (svd.stopped) {
    st.stopped = true;
    log::warn("fit: stopped after pass ", o.stop_after_pass, " of ", passes, " as asked (TRAWL_FIT_STOP_AFTER_PASS); ",
              o.checkpoint ? cat("rerun to resume from ", ckpt) : std::string("no checkpoint written"));
    mpi::report_timers(comm);
    return st;
  }

  collective(comm, [&] {
    if (!comm.root()) return;
    LsaModel m;
    m.id = ids;
    m.df = df;
    m.idf = idf;
    m.dim = o.svd.dim;
    m.basis.resize(svd.basis.size());
    for (size_t i = 0; i < svd.basis.size(); ++i) m.basis[i] = static_cast<float>(svd.basis[i]);
    m.singular_values = svd.singular_values;
    m.rows = svd.rows;
    m.n_docs = vocab.n_docs;
    m.seed = o.svd.seed;
    m.max_features = o.max_features;
    m.block_rows = o.block_rows;
    m.power_iterations = o.svd.power_iterations;
    m.oversample = o.svd.oversample;
    m.sample = o.sample;
    m.vocab_checksum = vocab_checksum;
    m.config = o.config;
    m.input_file = o.inputs;
    m.input_checksum = checksums;
    write_lsa(o.output, m);
    st.checksum = m.checksum;
    if (path_exists(ckpt)) remove_file(ckpt);  // the output is complete: the checkpoint has served
    log::info("fit: wrote ", o.output, " (", m.checksum, "); singular values ", svd.singular_values.front(), " .. ",
              svd.singular_values.back());
  });
  comm.bcast(st.checksum);
  mpi::report_timers(comm);
  return st;
}

}  // namespace trawl::stages
