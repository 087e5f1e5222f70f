#include "embed_torch/torch_messages.h"

#include <torch/script.h>

#include "core/error.h"
#include "core/log.h"

namespace trawl::embed {

std::string torch_error_text(const std::exception& e) {
  std::string w;
  if (auto c = dynamic_cast<const c10::Error*>(&e)) w = c->what_without_backtrace();
  else w = e.what();
  while (!w.empty() && (w.back() == '\n' || w.back() == ' ')) w.pop_back();
  // Errors raised inside TorchScript code carry a two-part traceback and end with the actual
  // error ("RuntimeError: index out of range in self"): keep that line, log the rest.
  if (w.find("Traceback of TorchScript") != std::string::npos) {
    log::debug("TorchScript error: ", w);
    auto nl = w.rfind('\n');
    if (nl != std::string::npos) w = w.substr(nl + 1) + " (--log-level debug shows the TorchScript traceback)";
  }
  if (w.size() > 2000) w = w.substr(0, 2000) + " ...";
  return w;
}

std::string tensor_shape(const at::Tensor& t) {
  std::string s = "[";
  for (int64_t i = 0; i < t.dim(); ++i) s += cat(i ? ", " : "", t.size(i));
  return s + "]";
}

}  // namespace trawl::embed
