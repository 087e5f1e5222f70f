// trawl-libs: trawl_io trawl_cli
// trawl-inspect FILE... [--rows N] [--check]
// Prints what a trawl HDF5 file holds: format and version, every attribute (the stored
// configuration pretty-printed), each dataset's shape, type and chunking; for shards also the
// row count, the size of the string columns (CSR UTF-8 bytes), the first N rows (strings
// decoded), and with --check every chunk checksum verified and, for shards, the deep
// validation (exit 3 on failure).
// Files of other trawl formats (vocab, index, subpool...) and foreign HDF5 files get the
// attributes and dataset listing.
#include <algorithm>
#include <cstdio>
#include <iomanip>
#include <iostream>
#include <sstream>

#include "cli/options.h"
#include "core/error.h"
#include "core/fs.h"
#include "io/h5.h"
#include "io/shard.h"
#include "io/verify.h"
#include "mpi/run.h"

using namespace trawl;
namespace po = cli::po;

namespace {

// Boost.Program_options here takes no positional arguments: plain arguments become "--files".
struct Argv {
  std::vector<std::string> s;
  std::vector<char*> p;
  void finish() {
    p.clear();
    for (auto& x : s) p.push_back(x.data());
    p.push_back(nullptr);
  }
  int argc() const { return static_cast<int>(s.size()); }
  char** argv() { return p.data(); }
};

Argv positional_to_files(int argc, char** argv, const po::options_description& own) {
  Argv out;
  out.s.push_back(argv[0]);
  std::vector<std::string> files;
  bool only_files = false;
  for (int i = 1; i < argc; ++i) {
    std::string t = argv[i];
    if (only_files || t.size() < 2 || t[0] != '-') {
      files.push_back(t);
      continue;
    }
    if (t == "--") {
      only_files = true;
      continue;
    }
    out.s.push_back(t);
    if (t.find('=') != std::string::npos) continue;
    std::string name = t.substr(t[1] == '-' ? 2 : 1);
    int values = 1;  // common options (--config, --threads...) take one value
    if (const po::option_description* d = own.find_nothrow(name, false)) {
      values = d->semantic()->max_tokens() > 1 ? 1 << 30 : static_cast<int>(d->semantic()->max_tokens());
    } else if (name == "help" || name == "h" || name == "version") {
      values = 0;
    }
    for (int k = 0; k < values && i + 1 < argc && argv[i + 1][0] != '-'; ++k) out.s.push_back(argv[++i]);
  }
  if (!files.empty()) {
    out.s.push_back("--files");
    for (auto& f : files) out.s.push_back(f);
  }
  out.finish();
  return out;
}

// Printable, at most max code points, control characters escaped.
std::string shorten(const std::string& s, size_t max) {
  std::string out;
  size_t cps = 0;
  for (size_t i = 0; i < s.size();) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    size_t len = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 1;
    if (cps == max) return out + "…";
    if (c == '\n') out += "\\n";
    else if (c == '\t') out += "\\t";
    else if (c == '\r') out += "\\r";
    else if (c < 0x20) {
      char b[8];
      std::snprintf(b, sizeof b, "\\x%02x", c);
      out += b;
    } else {
      out.append(s, i, std::min(len, s.size() - i));
    }
    i += len;
    ++cps;
  }
  return out;
}

std::string join_dims(const std::vector<uint64_t>& d) {
  std::string s = "[";
  for (size_t i = 0; i < d.size(); ++i) s += (i ? ", " : "") + std::to_string(d[i]);
  return s + "]";
}

void print_attributes(const io::h5::File& f) {
  auto names = f.attr_names();
  size_t w = 0;
  for (auto& n : names) w = std::max(w, n.size());
  std::cout << "attributes:\n";
  for (auto& n : names) {
    std::string v = f.attr_text(n);
    std::cout << "  " << std::left << std::setw(static_cast<int>(w)) << n << " =";
    if (v.find('\n') == std::string::npos) {
      std::cout << " " << v << "\n";
      continue;
    }
    // Multi-line values (the stored configuration): one indented line each.
    std::cout << "\n";
    std::istringstream in(v);
    std::string line;
    while (std::getline(in, line)) std::cout << "      " << line << "\n";
  }
}

void print_datasets(const io::h5::File& f) {
  auto names = f.datasets();
  size_t w = 0;
  for (auto& n : names) w = std::max(w, n.size());
  std::cout << "datasets:\n";
  for (auto& n : names) {
    std::cout << "  " << std::left << std::setw(static_cast<int>(w)) << n << "  ";
    try {
      auto d = io::h5::Dataset::open(f, n);
      auto ch = d.chunk_dims();
      std::cout << std::setw(18) << d.type_desc() << " " << std::setw(16) << join_dims(d.dims()) << " "
                << (ch.empty() ? "contiguous" : "chunks " + join_dims(ch));
      if (int z = d.deflate_level()) std::cout << ", deflate " << z;
      std::cout << "\n";
    } catch (const Error& e) {
      std::cout << "<" << e.what() << ">\n";
    }
  }
}

// Shards: the size of each string column (CSR UTF-8 bytes), e.g. "id 190 (4.8/row), text ...".
std::string string_column_sizes(const io::h5::File& f) {
  uint64_t rows = 0;
  if (f.has_attr("rows")) {
    try {
      rows = f.attr_u64("rows");
    } catch (const Error&) {
    }
  }
  std::string out;
  for (const char* c : {"id", "text", "label"}) {
    const std::string name = std::string(c) + "_bytes";
    if (!f.exists(name)) continue;
    try {
      uint64_t b = io::h5::Dataset::open(f, name).rows();
      char per[32] = "";
      if (rows) std::snprintf(per, sizeof per, " (%.1f/row)", static_cast<double>(b) / rows);
      out += cat(out.empty() ? "" : ", ", c, " ", b, per);
    } catch (const Error&) {
    }
  }
  return out;
}

void print_rows(const io::ShardReader& r, uint64_t nrows, const std::string& string_sizes) {
  const auto& m = r.meta();
  std::cout << "rows: " << r.rows() << " (rejected at input: " << m.rejected_rows << ")\n";
  if (!string_sizes.empty()) std::cout << "string bytes: " << string_sizes << "\n";
  uint64_t n = std::min<uint64_t>(nrows, r.rows());
  if (n == 0) return;
  io::ShardBlock b;
  r.read(0, n, b);
  const uint64_t dim = static_cast<uint64_t>(m.dim), show = std::min<uint64_t>(dim, 8);
  std::cout << "first " << n << " row" << (n == 1 ? "" : "s") << ":\n";
  for (uint64_t i = 0; i < n; ++i) {
    uint64_t u = b.uid[i];
    std::cout << "  [" << i << "] uid " << u << " (chunk " << (u >> 40) << ", row " << (u & (io::kMaxRowsPerChunk - 1))
              << ")\n";
    std::cout << "      id     '" << shorten(b.id[i], 80) << "'\n";
    if (m.has_label) std::cout << "      label  '" << shorten(b.label[i], 80) << "'\n";
    std::cout << "      text   '" << shorten(b.text[i], 80) << "'\n";
    uint64_t t0 = b.token_offsets[i], t1 = b.token_offsets[i + 1];
    std::cout << "      tokens " << (t1 - t0);
    if (t1 > t0) {
      std::cout << " [";
      for (uint64_t t = t0; t < t1 && t < t0 + 6; ++t) std::cout << (t > t0 ? ", " : "") << b.token_ids[t];
      std::cout << (t1 - t0 > 6 ? ", ...]" : "]");
    }
    std::cout << "\n      embedding [";
    for (uint64_t d = 0; d < show; ++d) {
      char buf[32];
      std::snprintf(buf, sizeof buf, "%.4f", b.embedding[i * dim + d]);
      std::cout << (d ? ", " : "") << buf;
    }
    std::cout << (show < dim ? ", ...]" : "]") << " (" << show << " of " << dim << ")\n";
  }
}

// Returns the file's exit code (0, or the error family's).
int inspect(const std::string& path, uint64_t nrows, bool check) {
  std::cout << "== " << path << "\n";
  try {
    io::h5::File f = io::h5::File::open(path);
    std::cout << "size: " << file_size(path) << " bytes\n";
    std::string format;
    if (f.has_attr("trawl-format")) {
      format = f.attr_text("trawl-format");
      std::cout << "format: " << format << ", version "
                << (f.has_attr("trawl-format-version") ? f.attr_text("trawl-format-version") : "(missing)")
                << (f.has_attr("trawl-version") ? ", written by trawl " + f.attr_text("trawl-version") : "") << "\n";
    } else {
      std::cout << "format: (none: no 'trawl-format' attribute; not a trawl file)\n";
    }
    print_attributes(f);
    print_datasets(f);
    const std::string string_sizes = format == io::kShardFormat ? string_column_sizes(f) : "";
    if (check) {
      // Every stored byte read, every chunk checksum verified, whatever the format.
      try {
        uint64_t bytes = 0, verified = 0;
        std::string unchecked;
        for (const auto& c : io::verify_datasets(f)) {
          bytes += c.bytes;
          if (c.checksummed) {
            ++verified;
          } else {
            unchecked += (unchecked.empty() ? "" : ", ") + c.name;
          }
        }
        std::cout << "checksums: " << verified << " dataset" << (verified == 1 ? "" : "s") << " verified, "
                  << bytes << " bytes read"
                  << (unchecked.empty() ? "" : "; without checksums: " + unchecked +
                                                   " (string columns, or files written before checksums)")
                  << "\n";
      } catch (const Error& e) {
        std::cout << "check: FAILED: " << e.what() << "\n";
        return e.exit_code();
      }
    }
    f.close();
    if (format != io::kShardFormat) {
      if (check) std::cout << "check: OK\n";
      return kExitOk;
    }
    io::ShardReader r(path);
    print_rows(r, nrows, string_sizes);
    if (check) {
      try {
        r.validate_deep();
        std::cout << "check: OK\n";
      } catch (const Error& e) {
        std::cout << "check: FAILED: " << e.what() << "\n";
        return e.exit_code();
      }
    }
    return kExitOk;
  } catch (const Error& e) {
    std::cout << "error: " << e.what() << "\n";
    std::cerr << "trawl-inspect: error: " << e.what() << "\n";
    return e.exit_code();
  }
}

}  // namespace

int main(int argc, char** argv) {
  return mpi::run_main(argc, argv, "trawl-inspect", [&](mpi::Comm& comm) -> int {
    cli::Cli cli("trawl-inspect", "inspect",
                 "print the format, attributes, datasets and first rows of trawl HDF5 files "
                 "(shards, indexes, subpools...). Usage: trawl-inspect FILE... [--rows N] [--check]");
    long rows = 5;
    bool check = false;
    std::vector<std::string> files;
    cli.optional().add_options()
        ("rows", po::value<long>(&rows)->default_value(5), "print the first N rows of each shard")
        ("check", po::bool_switch(&check),
         "read every stored byte of each file and verify its chunk checksums (any trawl HDF5 "
         "file), and validate shards deeply (offsets, uids, token layout, finite embeddings, UTF-8); "
         "prints OK or the error, exit 3 if a file fails")
        ("files", po::value<std::vector<std::string>>(&files)->multitoken(),
         "files to inspect (plain arguments are files too)");
    Argv a = positional_to_files(argc, argv, cli.optional());
    if (!cli.parse(a.argc(), a.argv())) return kExitOk;
    if (rows < 0) throw UsageError(cat("--rows ", rows, ": must be at least 0"));
    if (files.empty()) throw UsageError("trawl-inspect: no files given (usage: trawl-inspect FILE... [--rows N] [--check])");
    if (comm.rank() != 0) return kExitOk;
    int worst = kExitOk;
    for (size_t i = 0; i < files.size(); ++i) {
      if (i) std::cout << "\n";
      worst = std::max(worst, inspect(files[i], static_cast<uint64_t>(rows), check));
    }
    std::cout.flush();
    return worst;
  });
}
