// The TSV conventions of trawl's text outputs (queue.tsv, top-<class>.tsv, the labels journal,
// reject files): a field holds any bytes, with backslash, tab, CR and LF written as \\, \t, \r
// and \n, so a record is always one line; fields are separated by single tabs.
#pragma once
#include <string>
#include <vector>

namespace trawl::tsv {

/// s with \ → \\, TAB → \t, LF → \n, CR → \r.
std::string escape(const std::string& s);
/// The inverse of escape; an unknown escape \x gives x, a trailing lone backslash stays.
std::string unescape(const std::string& s);
/// The fields of one line (no unescaping): "a\tb\t" → {"a", "b", ""}; "" → {""}.
std::vector<std::string> split(const std::string& line);

}  // namespace trawl::tsv
