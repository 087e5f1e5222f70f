// The TSV conventions of trawl's text outputs (queue.tsv, top-<class>.tsv, the labels journal,
// reject files): a field holds any bytes, with backslash, tab, CR and LF written as \\, \t, \r
// and \n, so a record is always one line; fields are separated by single tabs.
#pragma once
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace trawl::tsv {

/// s with \ → \\, TAB → \t, LF → \n, CR → \r.
std::string escape(const std::string& s);
/// The inverse of escape; an unknown escape \x gives x, a trailing lone backslash stays.
std::string unescape(const std::string& s);
/// The fields of one line (no unescaping): "a\tb\t" → {"a", "b", ""}; "" → {""}.
std::vector<std::string> split(const std::string& line);
/// A decimal unsigned 64-bit integer and nothing else (no sign, space or overflow).
bool parse_u64(const std::string& s, uint64_t* out);
/// The lines of a file's content with their 1-based numbers; a trailing CR is dropped.
std::vector<std::pair<uint64_t, std::string>> numbered_lines(const std::string& data);
/// A whole file's bytes (IoError naming it when it cannot be read).
std::string read_file(const std::string& path);

}  // namespace trawl::tsv
