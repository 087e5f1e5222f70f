// The pool-fitted latent-semantic (LSA) encoder: sublinear TF-IDF over the pool's top token
// ids, projected on the top right singular vectors of the pool's TF-IDF matrix, found by a
// distributed randomized truncated SVD (Halko, Martinsson and Tropp 2011). trawl-fit writes
// the encoder file, trawl-embed --encoder lsa (or lsa+hash) reads it.
//
// Encoder file format "lsa-encoder" v1 (HDF5; written to a temporary name, renamed when
// complete; docs/FORMATS.md):
//   attributes on the root group: trawl-format = "lsa-encoder", trawl-format-version = 1,
//     trawl-version, dim (d), features (V), rows u64 (non-empty TF-IDF rows the SVD saw),
//     n_docs u64 (the vocab's documents, the idf's N), vocab_checksum (Vocab::checksum() of the
//     trawl-vocab file), seed u64, power_iterations, oversample, sample f64, max_features u64,
//     block_rows u64 (rows per reduction block),
//     config (the resolved configuration), checksum ("lsa:<16 hex digits>", see
//     LsaModel::content_checksum; verified on read);
//   datasets: id u32[V] (selected token ids, strictly increasing; column j of the TF-IDF
//     matrix is id[j]) · df u64[V] · idf f32[V] · basis f32[V, d] (row j: column j's loadings
//     on the d components) · singular_values f64[d] (descending) · input_file str[k] ·
//     input_checksum str[k] (the chunk list, as given, and FileChecksum::str() of each).
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "embed/encoder.h"
#include "text/reader.h"
#include "train/linear.h"

namespace trawl::mpi {
class Comm;
}

namespace trawl::embed {

struct Vocab;

constexpr const char* kLsaFormat = "lsa-encoder";
constexpr int kLsaFormatVersion = 1;

struct LsaModel {
  std::vector<uint32_t> id;              // V, strictly increasing
  std::vector<uint64_t> df;              // V
  std::vector<float> idf;                // V
  int dim = 0;
  std::vector<float> basis;              // V * dim, row-major
  std::vector<double> singular_values;   // dim, descending
  // How it was fitted (informational; the checksum covers what the vectors depend on).
  uint64_t rows = 0, n_docs = 0, seed = 0, max_features = 0, block_rows = 0;
  int power_iterations = 0, oversample = 0;
  double sample = 1.0;
  std::string vocab_checksum, config, trawl_version;
  std::vector<std::string> input_file, input_checksum;
  std::string checksum;                  // filled by write_lsa / read_lsa

  size_t features() const { return id.size(); }
  /// "lsa:<16 hex>": a hash of dim, id, idf, basis and singular_values (what the encoder's
  /// vectors depend on).
  std::string content_checksum() const;
};

/// Writes m atomically (sets m.checksum first). IoError on failure.
void write_lsa(const std::string& path, LsaModel& m);
/// Reads and validates an encoder file: IoError if it cannot be opened; InputError naming the
/// file and attribute or dataset when it is not an lsa encoder, newer, inconsistent, or its
/// content does not match the stored checksum (a changed byte).
LsaModel read_lsa(const std::string& path);
/// True when path exists and reads as a valid encoder file (never throws).
bool lsa_is_complete(const std::string& path);

/// The top max_features ids of v by document frequency (ties: smaller id first), returned in
/// increasing id order, with their df and idf (ln((1+N)/(1+df)) + 1, as bucket_idf).
/// max_features = 0 keeps every id.
void select_features(const Vocab& v, uint64_t max_features, std::vector<uint32_t>* id, std::vector<uint64_t>* df,
                     std::vector<float>* idf);

/// The featuriser the fit and the encoder share: ids -> column (ids not selected are dropped),
/// then train::linear::tfidf_rows (sublinear tf · idf, L2-normalised rows).
class LsaFeaturizer {
 public:
  LsaFeaturizer(std::vector<uint32_t> ids, std::vector<float> idf);
  size_t features() const { return ids_.size(); }
  /// Rows of n token-id lists (offsets n+1, relative to ids) into *out (cols = features()).
  void rows(const uint64_t* offsets, const uint32_t* ids, size_t n, train::linear::Csr* out) const;
  int64_t column(uint32_t id) const;  // -1 when not selected

 private:
  std::vector<uint32_t> ids_;
  std::vector<float> idf_;
  std::vector<uint32_t> slot_key_, slot_col_;  // open addressing id -> column
  uint64_t mask_ = 0;
  int shift_ = 0;
};

// ---- the randomized SVD ----------------------------------------------------------------------

/// A block of TF-IDF rows: the unit of the fixed-order reduction. (chunk, block) identifies it
/// globally, whatever rank holds it.
struct SvdBlock {
  uint64_t chunk = 0, block = 0;
  train::linear::Csr rows;
};

struct SvdOptions {
  int dim = 256;
  int oversample = 10;
  int power_iterations = 4;
  uint64_t seed = 0x6c7361;  // "lsa"
  // Rows per tile of the dense steps (at most 16 tiles: larger when V > 16 × this). Part of the
  // result's bits, not of its accuracy; tests use small tiles to spread tiny matrices.
  uint64_t dense_tile_rows = 4096;
};

struct SvdResult {
  int features = 0, dim = 0;
  std::vector<double> basis;            // features * dim, row-major; column signs: largest |entry| positive
  std::vector<double> singular_values;  // dim, descending
  int numerical_rank = 0;               // of the sketch (<= dim + oversample)
  uint64_t rows = 0;                    // rows over all ranks
  bool stopped = false;                 // after_pass asked to stop: basis and singular_values empty
  int householder_steps = 0;            // orthonormalisations that fell back from Cholesky QR
};

/// The power iteration between two passes: the input Z of pass `pass` (0-based, >= 1), float,
/// features × kp row-major (kp = svd_padded_columns(...); columns >= dim + oversample zero). A
/// fit restarted from it gives bitwise what the uninterrupted fit gives.
struct SvdState {
  int pass = 0;
  int kp = 0;
  std::vector<float> z;  // read on rank 0 only (broadcast from there)
};
/// Called on every rank after each pass but the last: (the next pass, kp, its input Z — the same
/// on every rank). Returning false stops the fit there.
using SvdAfterPass = std::function<bool(int next_pass, int kp, const std::vector<float>& z)>;

/// Collective over comm. The top dim right singular vectors of the matrix whose rows are the
/// union of every rank's blocks (features columns). column_keys[j] keys column j's row of the
/// Gaussian test matrix (the token id), so the result does not depend on the column order's
/// provenance. Each pass computes Aᵀ(A Z) in float (Z, A Z and each block's column sums: half
/// the memory traffic of double; the fit moved by < 2e-6 relative in its singular values, see
/// docs/FORMATS.md); per block, each column c's sum is rounded to fixed point (a multiple of
/// 2^-(54 - ceil(log2 df_c)), df_c the rows holding c) and the blocks are added as 64-bit
/// integers, which is exact and associative, so the result is bitwise the
/// same at any rank count, block placement or thread count (and trawl's kernels at any SIMD
/// width: element-wise over the sketch columns, multiply-adds fused only as explicit, correctly
/// rounded fma). The dense steps
/// (Cholesky QR between passes, the final small SVD) are spread over the ranks by fixed row
/// tiles of the V × k matrices, their row sums added in tile order (the same bits again).
/// on_pass(pass, passes) is called before each pass. resume (every rank; z on rank 0): start at
/// resume->pass from that state. after_pass: see SvdAfterPass (result.stopped when it stops). Throws UsageError for dim < 1, oversample < 0, power_iterations < 0,
/// dim > features, and InputError when dim exceeds the numerical rank of the matrix. Rows are
/// expected to be of norm <= 1 with entries <= 1 in magnitude (trawl-fit's unit TF-IDF rows):
/// the fixed point's 2^8 of headroom absorbs larger ones up to that factor, and a sum beyond it
/// is an InputError (never a wrong result).
SvdResult randomized_svd(const mpi::Comm& comm, const std::vector<SvdBlock>& mine,
                         const std::vector<uint32_t>& column_keys, const SvdOptions& o,
                         const std::function<void(int, int)>& on_pass = {}, const SvdState* resume = nullptr,
                         const SvdAfterPass& after_pass = {});

/// Columns of the sketch as stored (dim + oversample, at most features, rounded up to 16).
int svd_padded_columns(int dim, int oversample, uint64_t features);

/// Bytes the largest rank needs for the dense part of randomized_svd at `ranks` ranks (default
/// tiles).
uint64_t svd_dense_bytes(uint64_t features, int dim, int oversample, int ranks);

// ---- the encoders ----------------------------------------------------------------------------

/// The LSA encoder (name "lsa"): e = tfidf(x) · basis, then e / ‖e‖ (a row without selected ids
/// stays zero). params(): "dim=<d>;lsa=<checksum>". encode() tokenises texts when token_offsets
/// is empty. Rows are independent: the output does not depend on threads or blocks.
std::unique_ptr<Encoder> make_lsa_encoder(std::shared_ptr<const LsaModel> m);
std::unique_ptr<Encoder> make_lsa_encoder(const std::string& path);
/// The lsa encoder's sparse × dense product alone: out[r] = Σ_j x[r,j] · basis[j] (float, not
/// normalised) for every row of x, one thread, the encoder's kernel (bench_lsa_encoder).
void basis_product(const LsaModel& m, const train::linear::Csr& x, float* out);

/// Concatenation (name "<a>+<b>"): each part's unit rows side by side, divided by √(number of
/// non-zero parts) so the row is unit again. params(): each part's k=v prefixed "<name>.".
std::unique_ptr<Encoder> make_concat_encoder(std::vector<std::unique_ptr<Encoder>> parts);

}  // namespace trawl::embed
