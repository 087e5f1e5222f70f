#include "stages/embed_stage.h"

#include <omp.h>

#include <algorithm>
#include <fstream>
#include <condition_variable>
#include <deque>
#include <exception>
#include <mutex>
#include <set>
#include <thread>

#include "core/error.h"
#include "core/fs.h"
#include "core/log.h"
#include "core/progress.h"
#include "core/timer.h"
#include "mpi/report.h"
#include "embed/lsa.h"
#include "embed/vocab.h"
#include "text/tokenize.h"

namespace trawl::stages {

std::vector<std::string> read_input_list(const std::string& list_file) { return embed::read_chunk_list(list_file); }

namespace {

std::unique_ptr<embed::Encoder> make_encoder(const EmbedOptions& o) {
  if (o.encoder == "hash") return embed::make_hash_encoder(o.hash);
  if (o.encoder == "lsa" || o.encoder == "lsa+hash") {
    if (o.lsa_path.empty()) throw UsageError(cat("--encoder ", o.encoder, " needs --lsa FILE (an encoder file from trawl-fit)"));
    auto lsa = embed::make_lsa_encoder(o.lsa_path);
    if (o.encoder == "lsa") return lsa;
    std::vector<std::unique_ptr<embed::Encoder>> parts;
    parts.push_back(std::move(lsa));
    parts.push_back(embed::make_hash_encoder(o.hash));
    return embed::make_concat_encoder(std::move(parts));
  }
  if (o.encoder == "torchscript") {
    if (o.torchscript.model_path.empty() || o.torchscript.vocab_path.empty())
      throw UsageError("--encoder torchscript needs --model FILE and --vocab FILE");
    return embed::load_torchscript_encoder(o.torchscript);
  }
  throw UsageError(cat("--encoder: '", o.encoder, "' is not one of hash, lsa, lsa+hash, torchscript"));
}

std::string tsv_escape(const std::string& s, size_t max_len = 200) {
  std::string out;
  for (size_t i = 0; i < s.size() && i < max_len; ++i) {
    char c = s[i];
    if (c == '\t') out += "\\t";
    else if (c == '\n') out += "\\n";
    else if (c == '\r') out += "\\r";
    else if (c == '\\') out += "\\\\";
    else out += c;
  }
  return out;
}

/// Tokenises a block of rows in parallel into the block's CSR token arrays.
void tokenize_block(io::ShardBlock& b) {
  const size_t n = b.size();
  std::vector<std::vector<uint32_t>> ids(n);
#pragma omp parallel
  {
    std::vector<std::string> scratch;
#pragma omp for schedule(dynamic, 256)
    for (long i = 0; i < static_cast<long>(n); ++i) text::text_to_ids(b.text[i], ids[i], &scratch);
  }
  b.token_offsets.assign(n + 1, 0);
  for (size_t i = 0; i < n; ++i) b.token_offsets[i + 1] = b.token_offsets[i] + ids[i].size();
  b.token_ids.resize(b.token_offsets[n]);
  for (size_t i = 0; i < n; ++i) std::copy(ids[i].begin(), ids[i].end(), b.token_ids.begin() + b.token_offsets[i]);
}

/// A bounded queue between pipeline stages. A failure anywhere (fail) wakes every waiter and
/// makes rethrow() raise the first error in the consuming thread.
template <class T>
class Pipe {
 public:
  explicit Pipe(size_t cap) : cap_(cap) {}
  bool push(T v) {
    std::unique_lock<std::mutex> l(mu_);
    cv_.wait(l, [&] { return q_.size() < cap_ || err_ || closed_; });
    if (err_ || closed_) return false;
    q_.push_back(std::move(v));
    cv_.notify_all();
    return true;
  }
  bool pop(T& v) {
    std::unique_lock<std::mutex> l(mu_);
    cv_.wait(l, [&] { return !q_.empty() || err_ || closed_; });
    if (err_ || q_.empty()) return false;
    v = std::move(q_.front());
    q_.pop_front();
    cv_.notify_all();
    return true;
  }
  void close() {
    std::lock_guard<std::mutex> l(mu_);
    closed_ = true;
    cv_.notify_all();
  }
  void fail(std::exception_ptr e) {
    std::lock_guard<std::mutex> l(mu_);
    if (!err_) err_ = e;
    cv_.notify_all();
  }
  void rethrow() {
    std::lock_guard<std::mutex> l(mu_);
    if (err_) std::rethrow_exception(err_);
  }

 private:
  size_t cap_;
  std::deque<T> q_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::exception_ptr err_;
  bool closed_ = false;
};

/// A block in flight, with the input position reached when it was parsed (for progress).
struct Work {
  io::ShardBlock block;
  uint64_t pos = 0;
};

struct ChunkResult {
  uint64_t rows = 0, rejected = 0, bytes_in = 0, bytes_out = 0;
  bool skipped = false;
};

ChunkResult embed_chunk(const EmbedOptions& o, embed::Encoder& enc, uint64_t chunk, Progress& prog) {
  const std::string& input = o.inputs[chunk];
  const std::string final_path = join_path(o.output, io::shard_file_name(chunk));
  ChunkResult res;
  FileChecksum sum;
  {
    ScopedTimer t("checksum");
    sum = checksum_file(input);
  }
  res.bytes_in = sum.size;
  if (!o.force && io::shard_is_complete(final_path)) {
    io::ShardReader r(final_path);
    const auto& m = r.meta();
    if (m.source_checksum == sum.str() && m.encoder == enc.name() && m.encoder_params == enc.params() &&
        m.dtype == o.dtype && m.chunk_index == chunk) {
      log::debug("chunk ", chunk, " (", input, "): ", final_path, " is complete, skipping");
      res.skipped = true;
      res.rows = m.rows;
      prog.add(sum.size);
      return res;
    }
    log::warn(final_path, " exists but was made from other input or options; rebuilding it");
  }
  // A killed earlier run may have left temporaries of this chunk.
  for (auto& stale : list_files(o.output, io::shard_file_name(chunk) + ".tmp.", "")) remove_file(stale);

  io::ShardMeta meta;
  meta.encoder = enc.name();
  meta.encoder_params = enc.params();
  meta.dim = enc.dim();
  meta.dtype = o.dtype;
  meta.normalisation = "l2";
  meta.source_file = input;
  meta.source_checksum = sum.str();
  meta.chunk_index = chunk;
  meta.has_label = !o.reader.label_column.empty();
  meta.config = o.config;

  AtomicOutput out(final_path);
  std::unique_ptr<AtomicOutput> rej_out;
  std::ofstream rej;
  text::ChunkReader reader(input, o.reader);
  io::ShardWriter writer(out.temp_path(), meta, o.chunk_rows);

  // Three stages overlap: a reader thread parses rows into blocks, this thread tokenises and
  // encodes them (with OpenMP threads), a writer thread appends them to the shard (the only
  // thread that calls HDF5). Queues hold two blocks each, so memory stays bounded.
  Pipe<Work> parsed(2), encoded(2);
  uint64_t rejected = 0;
  std::thread read_thread([&] {
    ScopedTimer t("read (parallel)");
    try {
      io::ShardBlock block;
      text::Row row;
      text::BadRow bad;
      for (;;) {
        auto st = reader.next(row, bad);
        if (st == text::ChunkReader::Status::kEnd) break;
        if (st == text::ChunkReader::Status::kBad) {
          if (o.on_bad_row != "reject") {
            throw InputError(at(input, bad.line, cat(bad.reason, " (row ", bad.row,
                                                     "; use --on-bad-row reject to write bad rows to a reject file)")));
          }
          if (!rej_out) {
            make_dirs(join_path(o.output, "rejects"));
            rej_out = std::make_unique<AtomicOutput>(
                join_path(join_path(o.output, "rejects"), io::shard_file_name(chunk) + ".rejects.tsv"));
            rej.open(rej_out->temp_path());
            if (!rej) throw IoError(cat(rej_out->temp_path(), ": cannot write the reject file"));
            rej << "file\tline\trow\treason\trecord\n";
          }
          rej << tsv_escape(input) << '\t' << bad.line << '\t' << bad.row << '\t' << tsv_escape(bad.reason, 1000)
              << '\t' << tsv_escape(bad.raw) << '\n';
          ++rejected;
          continue;
        }
        if (row.row >= io::kMaxRowsPerChunk)
          throw InputError(at(input, row.line, "more than 2^40 rows in one chunk; split the file"));
        block.uid.push_back(io::make_uid(chunk, row.row));
        block.id.push_back(std::move(row.id));
        block.text.push_back(std::move(row.text));
        if (meta.has_label) block.label.push_back(std::move(row.label));
        if (block.size() >= o.block_rows) {
          if (!parsed.push(Work{std::move(block), reader.bytes_consumed()})) return;
          block = io::ShardBlock();
        }
      }
      if (block.size() > 0) parsed.push(Work{std::move(block), reader.bytes_consumed()});
      parsed.close();
    } catch (...) {
      parsed.fail(std::current_exception());
      encoded.fail(std::current_exception());
    }
  });
  uint64_t last_bytes = 0;
  std::thread write_thread([&] {
    try {
      Work w;
      while (encoded.pop(w)) {
        uint64_t pos = w.pos;
        {
          ScopedTimer t("write");
          writer.append(w.block);
        }
        res.rows += w.block.size();
        prog.add(pos > last_bytes ? pos - last_bytes : 0);
        last_bytes = std::max(last_bytes, pos);
      }
    } catch (...) {
      encoded.fail(std::current_exception());
      parsed.fail(std::current_exception());
    }
  });
  auto join_all = [&] {
    read_thread.join();
    write_thread.join();
  };
  try {
    Work w;
    while (parsed.pop(w)) {
      io::ShardBlock& block = w.block;
      {
        ScopedTimer t("tokenize");
        tokenize_block(block);
      }
      block.embedding.resize(block.size() * size_t(enc.dim()));
      {
        ScopedTimer t("encode");
        enc.encode(block.text, block.token_offsets, block.token_ids, block.embedding.data());
      }
      if (!encoded.push(std::move(w))) break;
      w = Work();
    }
    encoded.close();
  } catch (...) {
    parsed.fail(std::current_exception());
    encoded.fail(std::current_exception());
  }
  join_all();
  parsed.rethrow();
  encoded.rethrow();
  writer.close(rejected);
  res.rejected = rejected;
  if (rej_out) {
    rej.close();
    if (!rej) throw IoError(cat(rej_out->temp_path(), ": error writing the reject file"));
    rej_out->commit();
    log::warn(input, ": ", res.rejected, " bad rows written to ", rej_out->final_path());
  }
  res.bytes_out = file_size(out.temp_path());
  io::commit_shard(out);
  prog.add(reader.file_bytes() > last_bytes ? reader.file_bytes() - last_bytes : 0);
  log::debug("chunk ", chunk, ": ", res.rows, " rows -> ", final_path);
  return res;
}

}  // namespace

EmbedSummary run_embed(const mpi::Comm& comm, const EmbedOptions& o) {
  if (o.inputs.empty()) throw UsageError("trawl-embed: no input chunks (--input FILE... or --input-list FILE)");
  if (o.inputs.size() > io::kMaxChunks) throw UsageError(cat("at most ", io::kMaxChunks, " input chunks"));
  {
    std::set<std::string> seen;
    for (auto& f : o.inputs)
      if (!seen.insert(f).second) throw UsageError(cat("input chunk '", f, "' is listed twice"));
  }
  if (o.on_bad_row != "fail" && o.on_bad_row != "reject")
    throw UsageError(cat("--on-bad-row: '", o.on_bad_row, "' is not one of fail, reject"));
  if (o.block_rows == 0) throw UsageError("--block-rows must be positive");
  if (comm.root()) check_writable_dir(o.output);
  comm.barrier();

  auto split = mpi::work_split(comm, o.shard_id, o.num_shards);
  auto mine = split.items(o.inputs.size());
  uint64_t my_bytes = 0;
  for (auto c : mine) {
    if (!path_exists(o.inputs[c])) throw IoError(cat(o.inputs[c], ": input chunk does not exist"));
    my_bytes += file_size(o.inputs[c]);
  }
  auto enc = make_encoder(o);
  log::info("embedding ", o.inputs.size(), " chunks with encoder ", enc->name(), " (", enc->params(), "), dim ",
            enc->dim(), ", ", io::dtype_name(o.dtype), ", into ", o.output);
  EmbedSummary s;
  Progress prog("embed", my_bytes, "bytes");
  ScopedTimer total("embed total");
  for (auto c : mine) {
    auto r = embed_chunk(o, *enc, c, prog);
    (r.skipped ? s.chunks_skipped : s.chunks_done)++;
    s.rows += r.rows;
    s.rejected += r.rejected;
    s.bytes_in += r.bytes_in;
    s.bytes_out += r.bytes_out;
  }
  prog.finish();
  double secs = total.stop();
  comm.barrier();
  mpi::report_total(comm, "embedded rows", double(s.rows), "rows", secs);
  mpi::report_total(comm, "shard bytes written", double(s.bytes_out), "B", secs);
  uint64_t skipped = comm.sum(s.chunks_skipped), done = comm.sum(s.chunks_done), rej = comm.sum(s.rejected);
  log::info("chunks: ", done, " embedded, ", skipped, " already complete; ", rej, " rows rejected");
  mpi::report_timers(comm);
  return s;
}

}  // namespace trawl::stages
