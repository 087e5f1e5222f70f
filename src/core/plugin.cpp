#include "core/plugin.h"

#include <dlfcn.h>
#include <unistd.h>

#include <climits>
#include <cstdlib>
#include <mutex>
#include <vector>

#include "core/error.h"

namespace trawl::plugin {

namespace {

std::mutex g_mutex;
void* g_handle = nullptr;

std::string exe_dir() {
  char buf[PATH_MAX];
  ssize_t n = ::readlink("/proc/self/exe", buf, sizeof buf - 1);
  if (n <= 0) return ".";
  std::string p(buf, size_t(n));
  auto slash = p.rfind('/');
  return slash == std::string::npos ? "." : p.substr(0, slash);
}

}  // namespace

void* torch_symbol(const char* symbol, const std::string& what) {
#ifndef TRAWL_WITH_TORCH
  (void)symbol;
  throw UsageError(cat(what, ": needs LibTorch, and this trawl was built without it (TRAWL_WITH_TORCH=OFF)"));
#else
  std::lock_guard<std::mutex> g(g_mutex);
  if (!g_handle) {
    std::vector<std::string> paths;
    if (const char* env = std::getenv("TRAWL_TORCH_PLUGIN"); env && *env) {
      paths.push_back(env);
    } else {
      const std::string dir = exe_dir();
      paths.push_back(dir + "/../lib/" + kTorchPlugin);
      paths.push_back(dir + "/" + kTorchPlugin);
    }
    std::string tried;
    for (auto& p : paths) {
      if (::access(p.c_str(), F_OK) != 0) {
        tried += cat(tried.empty() ? " " : "; ", p, ": no such file");
        continue;
      }
      // RTLD_NOW: a symbol the plugin needs from the binary and cannot find is an error here,
      // not a crash later. RTLD_LOCAL: its symbols stay out of the global scope.
      g_handle = ::dlopen(p.c_str(), RTLD_NOW | RTLD_LOCAL);
      if (g_handle) break;
      const char* e = ::dlerror();
      tried += cat(tried.empty() ? " " : "; ", p, ": ", e ? e : "cannot be loaded");
    }
    if (!g_handle)
      throw UsageError(cat(what, ": needs trawl's LibTorch plugin ", kTorchPlugin,
                           ", which could not be loaded (set TRAWL_TORCH_PLUGIN to its path):", tried));
  }
  ::dlerror();
  void* s = ::dlsym(g_handle, symbol);
  if (!s) {
    const char* e = ::dlerror();
    throw UsageError(cat(what, ": trawl's LibTorch plugin has no '", symbol, "' (", e ? e : "not found",
                         "); is it from another trawl build?"));
  }
  return s;
#endif
}

bool torch_loaded() {
  std::lock_guard<std::mutex> g(g_mutex);
  return g_handle != nullptr;
}

}  // namespace trawl::plugin
