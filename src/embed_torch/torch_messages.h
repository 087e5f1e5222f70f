// Error text for LibTorch failures, shared by the TorchScript encoder and the TorchScript
// classifier (src/byo).
#pragma once
#include <exception>
#include <string>

namespace at {
class Tensor;
}

namespace trawl::embed {

/// The error without its C++ backtrace; for errors raised inside TorchScript only the final
/// "RuntimeError: ..." line (the traceback goes to the debug log). At most ~2,000 characters.
std::string torch_error_text(const std::exception& e);
/// "[2, 3]"
std::string tensor_shape(const at::Tensor& t);

}  // namespace trawl::embed
