// One option vocabulary for every binary (Boost.Program_options): --help, --config FILE
// (commented .ini defaults in conf/, the command line wins), --shard-id/--num-shards,
// --threads, --log-level. The resolved configuration is written into every output file.
#pragma once
#include <boost/program_options.hpp>
#include <string>
#include <vector>

namespace trawl::cli {

namespace po = boost::program_options;

struct Common {
  std::string config;
  int shard_id = 0;
  int num_shards = 0;  // 0: not an array job
  int threads = 1;
  std::string log_level = "info";
};

class Cli {
 public:
  /// program: e.g. "trawl-embed"; section: the config-file section read besides the
  /// top level (e.g. "embed"); summary: one paragraph for --help.
  Cli(std::string program, std::string section, std::string summary);

  po::options_description& required() { return required_; }
  po::options_description& optional() { return optional_; }

  /// Parses argv then the config file. Returns false when --help/--version was printed (exit
  /// 0). Throws UsageError naming the option (or the config file and line) and the value.
  bool parse(int argc, char** argv);

  const po::variables_map& vm() const { return vm_; }
  const Common& common() const { return common_; }
  bool given(const std::string& name) const { return vm_.count(name) && !vm_[name].defaulted(); }

  /// "key = value" lines of every option with a value, sorted; stored in outputs.
  std::string resolved_config() const;
  const std::string& program() const { return program_; }

 private:
  void read_config_file(const std::string& path, po::options_description& all);
  std::string program_, section_, summary_;
  po::options_description required_{"Required"}, optional_{"Options"}, common_desc_{"Common"};
  po::variables_map vm_;
  Common common_;
};

/// Applies --threads (OpenMP and, where linked, LibTorch) and --log-level.
void apply_common(const Common& c);

}  // namespace trawl::cli
