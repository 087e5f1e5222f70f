// trawl-fit: the pool-fitted LSA encoder — reads the pool's chunks, builds the sublinear
// TF-IDF rows of the vocab's top ids, runs the distributed randomized SVD (embed/lsa.h) and
// writes the encoder file, checkpointing after each power-iteration pass.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "embed/lsa.h"
#include "mpi/comm.h"
#include "text/reader.h"

namespace trawl::stages {

struct FitOptions {
  std::vector<std::string> inputs;
  text::ReaderOptions reader;
  std::string vocab_path, output;
  uint64_t max_features = 65536;
  double sample = 1.0;           // keyed uniform sample of rows: keep when U(seed, uid) < sample
  embed::SvdOptions svd;
  uint64_t block_rows = 262144;  // rows per reduction block (part of the result's identity)
  double memory_limit_gb = 0;    // per rank; 0 = MemAvailable / ranks on the node
  bool force = false;
  /// After each power-iteration pass rank 0 writes the next pass's input to
  /// checkpoint_path(output) (atomically, checksummed, keyed by the inputs and parameters); a
  /// rerun after a kill resumes from it and writes the same encoder. Removed on success.
  bool checkpoint = true;
  /// Tests: stop (FitStats::stopped, no output) once this many passes are done and checkpointed
  /// (0: never). trawl-fit takes it from the environment, TRAWL_FIT_STOP_AFTER_PASS.
  int stop_after_pass = 0;
  std::string config;
  /// Benchmarks and checks: on one rank, also write the TF-IDF matrix the SVD sees (rows in
  /// block order) to this directory as offsets.u64, index.u32, value.f32 and meta.txt
  /// "rows cols dim power_iterations oversample" (tests/support/lsa_ref.py reads it).
  std::string dump_matrix;
};

struct FitStats {
  uint64_t rows = 0, empty_rows = 0, bad_rows = 0, sampled_out = 0, nnz = 0;
  bool skipped = false;
  int resumed_from_pass = 0;  // passes a checkpoint spared (0: fitted from the start)
  bool stopped = false;       // stop_after_pass reached: checkpoint written, no output
  std::string checksum;
};

/// Collective over comm: reads and featurises this rank's chunks (chunk i on part i % ranks),
/// runs randomized_svd and writes the encoder file from rank 0. Skips when the output exists,
/// validates and was fitted from the same inputs, vocab and parameters (unless force). Resumes
/// from checkpoint_path(output) when it matches the inputs and parameters (unless force).
FitStats run_fit(const mpi::Comm& comm, const FitOptions& o);

/// "<output>.checkpoint": the fit's checkpoint file (HDF5, format "lsa-fit-checkpoint" v1; see
/// docs/FORMATS.md).
std::string checkpoint_path(const std::string& output);

}  // namespace trawl::stages
