// trawl-libs: trawl_io trawl_cli
// trawl-gen-vectors: synthetic clustered unit vectors written directly as pool shards (no text
// stage), for retrieval and scoring benchmarks at 10^5..10^7 items. Item i of shard s is
// centre[c] + sigma * noise, normalised, with c and the noise drawn from generators keyed by
// (seed, uid) — the same pool whatever the ranks or array tasks that write it. Items of the
// first --positive-clusters clusters are labelled "pos", the rest "neg".
#include <cmath>
#include <vector>

#include "cli/options.h"
#include "core/error.h"
#include "core/fs.h"
#include "core/log.h"
#include "core/progress.h"
#include "core/rng.h"
#include "io/shard.h"
#include "mpi/run.h"

using namespace trawl;
namespace po = cli::po;

int main(int argc, char** argv) {
  return mpi::run_main(argc, argv, "trawl-gen-vectors", [&](mpi::Comm& comm) {
    std::string out, dtype = "f32";
    uint64_t shards = 4, rows = 100000, seed = 1;
    int dim = 256, clusters = 1000, positive = 10;
    double sigma = 0.6;
    cli::Cli c("trawl-gen-vectors", "gen-vectors",
               "write synthetic clustered unit vectors as pool shards (uid, id, empty text, label, embedding)");
    c.required().add_options()("output,o", po::value<std::string>(&out)->required(), "pool directory");
    c.optional().add_options()
        ("shards", po::value<uint64_t>(&shards)->default_value(4), "number of shards")
        ("rows", po::value<uint64_t>(&rows)->default_value(100000), "rows per shard")
        ("dim", po::value<int>(&dim)->default_value(256), "dimension")
        ("clusters", po::value<int>(&clusters)->default_value(1000), "number of clusters")
        ("positive-clusters", po::value<int>(&positive)->default_value(10), "clusters labelled pos")
        ("sigma", po::value<double>(&sigma)->default_value(0.6), "noise scale relative to a unit centre")
        ("dtype", po::value<std::string>(&dtype)->default_value("f32"), "f32 or f16")
        ("seed", po::value<uint64_t>(&seed)->default_value(1), "generator seed");
    if (!c.parse(argc, argv)) return 0;
    if (dim < 1 || clusters < 1) throw UsageError("--dim and --clusters must be positive");
    make_dirs(out);
    std::vector<float> centre(size_t(clusters) * dim);
    for (int k = 0; k < clusters; ++k) {
      Rng r(key(seed, 0xc0ffee, uint64_t(k)));
      double n = 0;
      for (int j = 0; j < dim; ++j) n += std::pow(centre[size_t(k) * dim + j] = float(r.normal()), 2);
      for (int j = 0; j < dim; ++j) centre[size_t(k) * dim + j] /= float(std::sqrt(n));
    }
    const double s = sigma / std::sqrt(double(dim));
    auto mine = mpi::work_split(comm, c.common().shard_id, c.common().num_shards).items(shards);
    Progress prog("gen-vectors", mine.size() * rows, "rows");
    for (auto sh : mine) {
      io::ShardMeta m;
      m.encoder = "synthetic";
      m.encoder_params = cat("clusters=", clusters, ";sigma=", sigma, ";seed=", seed, ";dim=", dim);
      m.dim = dim;
      m.dtype = io::parse_dtype(dtype);
      m.source_file = "(generated)";
      m.source_checksum = "none";
      m.chunk_index = sh;
      m.has_label = true;
      m.config = c.resolved_config();
      std::string path = join_path(out, io::shard_file_name(sh));
      AtomicOutput ao(path);
      {
        io::ShardWriter w(ao.temp_path(), m, 8192);
        io::ShardBlock b;
        for (uint64_t i0 = 0; i0 < rows; i0 += 65536) {
          uint64_t i1 = std::min(rows, i0 + 65536);
          b.clear();
          b.embedding.resize((i1 - i0) * size_t(dim));
          for (uint64_t i = i0; i < i1; ++i) {
            uint64_t uid = io::make_uid(sh, i);
            Rng r(key(seed, uid));
            int k = int(r.below(uint64_t(clusters)));
            float* v = b.embedding.data() + (i - i0) * size_t(dim);
            double n = 0;
            for (int j = 0; j < dim; ++j) {
              v[j] = centre[size_t(k) * dim + j] + float(s * r.normal());
              n += double(v[j]) * v[j];
            }
            float inv = float(1.0 / std::sqrt(n));
            for (int j = 0; j < dim; ++j) v[j] *= inv;
            b.uid.push_back(uid);
            b.id.push_back(cat("v", uid));
            b.text.push_back("");
            b.label.push_back(k < positive ? "pos" : "neg");
            b.token_offsets.push_back(0);
          }
          w.append(b);
          prog.add(i1 - i0);
        }
        w.close(0);
      }
      io::commit_shard(ao);
    }
    prog.finish();
    comm.barrier();
    log::info("wrote ", shards, " shards of ", rows, " rows (dim ", dim, ", ", clusters, " clusters) to ", out);
    return 0;
  });
}
