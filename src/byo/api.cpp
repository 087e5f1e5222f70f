// The torch-free front ends of byo/classifier.h's fine-tuning (contract there): the LibTorch
// implementation registered in this process, or trawl's LibTorch plugin's (core/plugin.h).
#include <iomanip>
#include <sstream>

#include "byo/classifier.h"
#include "core/plugin.h"

namespace trawl::byo {

namespace {
FineTuneFn g_finetune = nullptr;
PredictWithFn g_predict_with = nullptr;
}  // namespace

void set_torch_finetune(FineTuneFn finetune, PredictWithFn predict_with) {
  g_finetune = finetune;
  g_predict_with = predict_with;
}

std::string FineTuneResult::summary(const std::vector<std::string>& classes) const {
  std::ostringstream s;
  uint64_t n = 0;
  for (auto c : counts) n += c;
  s << "examples=" << n << " (";
  for (size_t c = 0; c < classes.size(); ++c) s << (c ? " " : "") << classes[c] << "=" << counts[c];
  s << ") steps=" << steps << " trained_tensors=" << trained_tensors << " trained_values=" << trained_values
    << std::setprecision(6) << " final_loss=" << final_loss << " train_accuracy=" << train_accuracy;
  if (minority >= 0) s << " minority_f1[" << classes[size_t(minority)] << "]=" << minority_f1;
  return s.str();
}

FineTuneResult finetune(const std::string& init, const std::vector<std::string>& texts, const std::vector<int>& y,
                        const std::vector<std::string>& classes, const FineTuneOptions& o, const std::string& what) {
  if (g_finetune) return g_finetune(init, texts, y, classes, o, what);
  using Fn = void (*)(const std::string*, const std::vector<std::string>*, const std::vector<int>*,
                      const std::vector<std::string>*, const FineTuneOptions*, const std::string*, FineTuneResult*);
  auto f = reinterpret_cast<Fn>(plugin::torch_symbol("trawl_torch_finetune", "--model torchscript"));
  FineTuneResult r;
  f(&init, &texts, &y, &classes, &o, &what, &r);
  return r;
}

std::vector<float> predict_with(const std::string& module_bytes, const train::ModelHeader& h,
                                const std::vector<std::string>& vocab, const std::vector<std::string>& texts,
                                int threads) {
  if (g_predict_with) return g_predict_with(module_bytes, h, vocab, texts, threads);
  using Fn = void (*)(const std::string*, const train::ModelHeader*, const std::vector<std::string>*,
                      const std::vector<std::string>*, int, std::vector<float>*);
  auto f = reinterpret_cast<Fn>(plugin::torch_symbol("trawl_torch_predict_with", "--model torchscript"));
  std::vector<float> out;
  f(&module_bytes, &h, &vocab, &texts, threads, &out);
  return out;
}

}  // namespace trawl::byo
