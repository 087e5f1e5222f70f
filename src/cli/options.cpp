#include "cli/options.h"

#include <omp.h>

#include <algorithm>
#include <fstream>
#include <map>
#include <iostream>
#include <sstream>

#include "core/error.h"
#include "core/log.h"
#include "trawl/version.h"

namespace trawl::cli {

Cli::Cli(std::string program, std::string section, std::string summary)
    : program_(std::move(program)), section_(std::move(section)), summary_(std::move(summary)) {
  common_desc_.add_options()
      ("help,h", "print this help and exit")
      ("version", "print the trawl version and exit")
      ("config", po::value<std::string>(&common_.config),
       "read options from this .ini file (top level and the stage's [section]); the command line wins")
      ("shard-id", po::value<int>(&common_.shard_id)->default_value(0),
       "this task's index in an array job (0-based; sbatch: $SLURM_ARRAY_TASK_ID)")
      ("num-shards", po::value<int>(&common_.num_shards)->default_value(0),
       "number of tasks in the array job (0: not an array job)")
      ("threads", po::value<int>(&common_.threads)->default_value(1), "worker threads per process")
      ("log-level", po::value<std::string>(&common_.log_level)->default_value("info"),
       "error, warn, info, debug or trace");
}

static std::string trim(const std::string& s) {
  size_t a = s.find_first_not_of(" \t\r"), b = s.find_last_not_of(" \t\r");
  return a == std::string::npos ? "" : s.substr(a, b - a + 1);
}

void Cli::read_config_file(const std::string& path, po::options_description& all) {
  std::ifstream in(path);
  if (!in) throw UsageError(cat("--config ", path, ": cannot open the config file"));
  std::string line, section;
  long lineno = 0;
  // key -> (value, line); the stage's [section] overrides the top level.
  std::map<std::string, std::pair<std::string, long>> entries;
  std::map<std::string, bool> from_section;
  while (std::getline(in, line)) {
    ++lineno;
    std::string t = trim(line);
    if (t.empty() || t[0] == '#' || t[0] == ';') continue;
    if (t[0] == '[') {
      if (t.back() != ']') throw UsageError(at(path, lineno, cat("malformed section header '", t, "'")));
      section = trim(t.substr(1, t.size() - 2));
      continue;
    }
    if (!section.empty() && section != section_) continue;  // another stage's section
    auto eq = t.find('=');
    if (eq == std::string::npos)
      throw UsageError(at(path, lineno, cat("expected 'key = value', got '", t, "'")));
    std::string key = trim(t.substr(0, eq)), value = trim(t.substr(eq + 1));
    auto hash = value.find(" #");
    if (hash != std::string::npos) value = trim(value.substr(0, hash));
    const po::option_description* d = all.find_nothrow(key, false);
    if (!d) {
      // Top-level keys may belong to other stages (a shared trawl.ini); the stage's own section
      // must only hold its options.
      if (!section.empty())
        throw UsageError(at(path, lineno, cat("unknown option '", key, "' for ", program_)));
      continue;
    }
    if (key == "config" || key == "help") throw UsageError(at(path, lineno, cat("'", key, "' is not allowed in a config file")));
    if (from_section[key] && section.empty()) continue;
    if (entries.count(key) && from_section[key] == !section.empty())
      throw UsageError(at(path, lineno, cat("option '", key, "' is set twice (first at line ", entries[key].second, ")")));
    entries[key] = {value, lineno};
    from_section[key] = !section.empty();
  }
  po::parsed_options parsed(&all);
  for (auto& [key, vl] : entries) {
    const std::string& value = vl.first;
    const po::option_description* d = all.find_nothrow(key, false);
    po::option opt(key, {});
    if (d->semantic()->max_tokens() > 1) {
      std::istringstream vs(value);
      std::string tok;
      while (vs >> tok) opt.value.push_back(tok);
    } else if (!value.empty() || d->semantic()->min_tokens() > 0) {
      opt.value.push_back(value);
    }
    opt.original_tokens = {key, value};
    parsed.options.push_back(opt);
  }
  try {
    po::store(parsed, vm_);
  } catch (const po::error& e) {
    throw UsageError(cat("--config ", path, ": ", e.what()));
  }
}

bool Cli::parse(int argc, char** argv) {
  po::options_description all;
  all.add(required_).add(optional_).add(common_desc_);
  try {
    po::store(po::command_line_parser(argc, argv).options(all).run(), vm_);
    if (vm_.count("help")) {
      std::cout << program_ << " — " << summary_ << "\n\nUsage: " << program_
                << " [options]\n\n";
      if (!required_.options().empty()) std::cout << required_ << "\n";
      std::cout << optional_ << "\n" << common_desc_ << "\n";
      std::cout << "Defaults are also listed, with comments, in conf/" << section_ << ".ini.\n"
                << "Exit codes: 0 ok, 1 internal error, 2 usage, 3 bad input, 4 I/O.\n";
      return false;
    }
    if (vm_.count("version")) {
      std::cout << program_ << " " << TRAWL_VERSION << "\n";
      return false;
    }
    if (vm_.count("config")) read_config_file(vm_["config"].as<std::string>(), all);
    po::notify(vm_);
  } catch (const po::required_option& e) {
    throw UsageError(cat(program_, ": missing required option ", e.get_option_name(),
                         " (see ", program_, " --help)"));
  } catch (const po::error& e) {
    throw UsageError(cat(program_, ": ", e.what(), " (see ", program_, " --help)"));
  }
  if (common_.threads < 1) throw UsageError(cat("--threads ", common_.threads, ": must be at least 1"));
  apply_common(common_);
  return true;
}

static std::string value_string(const boost::any& v) {
  if (v.empty()) return "";
  if (auto p = boost::any_cast<std::string>(&v)) return *p;
  if (auto p = boost::any_cast<int>(&v)) return std::to_string(*p);
  if (auto p = boost::any_cast<unsigned>(&v)) return std::to_string(*p);
  if (auto p = boost::any_cast<long>(&v)) return std::to_string(*p);
  if (auto p = boost::any_cast<long long>(&v)) return std::to_string(*p);
  if (auto p = boost::any_cast<unsigned long>(&v)) return std::to_string(*p);
  if (auto p = boost::any_cast<unsigned long long>(&v)) return std::to_string(*p);
  if (auto p = boost::any_cast<double>(&v)) return cat(*p);
  if (auto p = boost::any_cast<float>(&v)) return cat(*p);
  if (auto p = boost::any_cast<bool>(&v)) return *p ? "true" : "false";
  if (auto p = boost::any_cast<std::vector<std::string>>(&v)) {
    std::string s;
    for (auto& x : *p) s += (s.empty() ? "" : " ") + x;
    return s;
  }
  return "?";
}

std::string Cli::resolved_config() const {
  std::ostringstream os;
  os << "# " << program_ << " " << TRAWL_VERSION << "\n";
  for (auto& [k, v] : vm_) {
    if (k == "help" || k == "version" || k == "config") continue;
    os << k << " = " << value_string(v.value()) << "\n";
  }
  return os.str();
}

void apply_common(const Common& c) {
  log::set_level(log::parse_level(c.log_level));
  omp_set_num_threads(c.threads);
}

}  // namespace trawl::cli
