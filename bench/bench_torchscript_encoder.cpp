// trawl-libs: trawl_embed_torch
// Throughput (docs/s) of the TorchScript encoder on the tiny test model (built in a temporary
// directory) for batch sizes 16/64/256 and 1/2 LibTorch threads, plus WordPiece alone.
// Texts are tweet-like: 8..30 words drawn from the test vocabulary with some capitals,
// punctuation and unknown words.
//   bench_torchscript_encoder [docs=20000] [dim=32] [max_threads=2]
// On a node shared with other busy processes, LibTorch's OpenMP threads spin-wait at every
// barrier and 2 threads can be several times slower than 1; OMP_WAIT_POLICY=PASSIVE avoids
// that. Slurm allocations with dedicated cores do not have the problem.
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "core/fs.h"
#include "core/log.h"
#include "core/rng.h"
#include "embed/encoder.h"
#include "embed_torch/test_model.h"
#include "embed_torch/torchscript_encoder.h"
#include "embed_torch/wordpiece.h"
#include "bench_util.h"

using namespace trawl;

namespace {

std::vector<std::string> make_texts(size_t n, uint64_t seed) {
  auto vocab = embed::test_vocab_tokens();
  const char* extra[] = {"Hiring!", "JOB", "lol", "#jobs", "@someone", "can't", "zqxvk", "Caf\xC3\xA9", "2024", "..."};
  Rng rng(seed);
  std::vector<std::string> out(n);
  for (auto& t : out) {
    int words = 8 + static_cast<int>(rng.below(23));
    for (int w = 0; w < words; ++w) {
      std::string word = rng.below(6) == 0 ? std::string(extra[rng.below(10)]) : vocab[5 + rng.below(vocab.size() - 5)];
      if (word.rfind("##", 0) == 0) word = word.substr(2);
      t += (w ? " " : "") + word;
    }
  }
  return out;
}

template <class F>
double best_seconds(int reps, F&& f) {
  double best = 1e30;
  for (int r = 0; r < reps; ++r) {
    auto t0 = std::chrono::steady_clock::now();
    f();
    best = std::min(best, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }
  return best;
}

}  // namespace

int main(int argc, char** argv) {
  if (trawl::bench::help(argc, argv,
      "usage: bench_torchscript_encoder [DOCS=20000] [DIM=32] [MAX_THREADS=2]\n"
      "TorchScript encoder throughput (docs/s) on the tiny test model for batch sizes 16/64/256 and\n"
      "1..MAX_THREADS LibTorch threads, plus WordPiece alone.\n"))
    return 0;
  const size_t n = argc > 1 ? std::strtoull(argv[1], nullptr, 10) : 20000;
  const int dim = argc > 2 ? std::atoi(argv[2]) : 32;
  const int max_threads = argc > 3 ? std::atoi(argv[3]) : 2;
  log::set_level(log::Level::kWarn);
  char tmpl[] = "/tmp/trawl-bench-tse-XXXXXX";
  if (!mkdtemp(tmpl)) return 1;
  const std::string dir = tmpl;
  embed::TestModelOptions mo;
  mo.dim = dim;
  auto files = embed::write_test_encoder(dir, mo);
  auto texts = make_texts(n, 42);

  auto wp = embed::WordPiece::load(files.vocab_path);
  size_t pieces = 0;
  std::vector<int64_t> ids;
  for (const auto& t : texts) {
    wp.encode(t, 128, ids);
    pieces += ids.size();
  }
  std::printf("# TorchScript encoder (tiny test model, H=%d), %zu docs, %.1f ids/doc incl. [CLS]/[SEP], "
              "max_length 128, best of 3\n",
              dim, n, double(pieces) / double(n));
  double tok = best_seconds(3, [&] {
    for (const auto& t : texts) wp.encode(t, 128, ids);
  });
  std::printf("%-28s %10.0f docs/s\n", "wordpiece only, 1 thread", double(n) / tok);

  std::printf("%-8s %-8s %12s\n", "batch", "threads", "docs/s");
  for (int threads = 1; threads <= max_threads; ++threads) {
    for (int bs : {16, 64, 256}) {
      embed::TorchScriptEncoderOptions o;
      o.model_path = files.model_path;
      o.vocab_path = files.vocab_path;
      o.batch_size = bs;
      o.threads = threads;
      auto enc = embed::make_torchscript_encoder(o);
      std::vector<float> out(n * static_cast<size_t>(enc->dim()));
      enc->encode(texts, {}, {}, out.data());  // warm up (the JIT profiles its first runs)
      double s = best_seconds(3, [&] { enc->encode(texts, {}, {}, out.data()); });
      std::printf("%-8d %-8d %12.0f\n", bs, threads, double(n) / s);
    }
  }
  remove_file(files.model_path);
  remove_file(files.vocab_path);
  ::rmdir(dir.c_str());
  return 0;
}
