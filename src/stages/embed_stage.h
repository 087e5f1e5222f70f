// trawl-embed: text chunks -> shards (uid, id, text, label, tokens, embedding).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "embed/encoder.h"
#include "io/shard.h"
#include "mpi/comm.h"
#include "text/reader.h"

namespace trawl::stages {

struct EmbedOptions {
  std::vector<std::string> inputs;  // chunk paths; the position in this list is the chunk index
  std::string output;               // directory for shard-NNNNNN.h5
  text::ReaderOptions reader;
  std::string encoder = "hash";     // hash | lsa | lsa+hash | torchscript
  embed::HashEncoderOptions hash;   // also the hash part of lsa+hash
  std::string lsa_path;             // lsa, lsa+hash: the encoder file of trawl-fit
  embed::TorchScriptEncoderOptions torchscript;
  io::Dtype dtype = io::Dtype::kF32;
  std::string on_bad_row = "fail";  // fail | reject
  uint64_t block_rows = 8192;
  uint64_t chunk_rows = 4096;       // HDF5 chunking along rows
  bool force = false;               // rebuild shards that exist and validate
  int shard_id = 0, num_shards = 0;
  int threads = 1;
  std::string config;               // resolved configuration, stored in every shard
};

/// Reads the input list file (one path per line; blank lines and '#' comments skipped).
std::vector<std::string> read_input_list(const std::string& list_file);

struct EmbedSummary {
  uint64_t chunks_done = 0, chunks_skipped = 0, rows = 0, rejected = 0, bytes_in = 0, bytes_out = 0;
};

/// Collective over comm. Each rank / array task embeds its share of the chunks (chunk i goes to
/// part i % parts); existing complete shards of the same input are skipped. A failed chunk
/// leaves no shard (nor reject file) behind. Throws on the first bad chunk unless
/// on_bad_row == "reject", which writes bad rows with reasons to <output>/rejects/.
EmbedSummary run_embed(const mpi::Comm& comm, const EmbedOptions& o);

}  // namespace trawl::stages
