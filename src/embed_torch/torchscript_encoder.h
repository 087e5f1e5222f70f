// The bring-your-own TorchScript sentence encoder: make_torchscript_encoder() is declared in
// embed/encoder.h; this header adds LibTorch thread helpers that need no torch headers.
//
// Model contract: forward(input_ids int64 [B,L], attention_mask int64 [B,L]) (a required
// third parameter receives token_type_ids = 0; further parameters with defaults keep them),
// or forward(features: Dict[str, Tensor]) receiving {input_ids, attention_mask,
// token_type_ids = 0} as traced sentence-transformers models do; forward returns
//   * [B,L,H] token states  -> mean-pooled over the attention mask, or
//   * [B,H] sentence vectors -> used as they are, or
//   * a tuple or list whose first element is one of those (Hugging Face exports return
//     (last_hidden_state, pooler_output)), or
//   * a dict: "sentence_embedding" is used if present, else "token_embeddings", else
//     "last_hidden_state", else the first entry (sentence-transformers exports).
// Every vector is then L2-normalised. Texts are WordPiece-tokenised ([CLS] ... [SEP], at most
// max_length ids), sorted by length within each encode() call and run in batches of
// batch_size padded with [PAD] to the batch's longest text; outputs keep the input order.
#pragma once

namespace trawl::embed {

/// at::set_num_threads(n) (intra-op threads, n >= 1). make_torchscript_encoder calls it with
/// TorchScriptEncoderOptions::threads when that is positive.
void set_torch_threads(int n);
int torch_threads();
/// Sets LibTorch's inter-op pool to one thread, once per process (LibTorch allows it only
/// before any inter-op work); later calls and a pool that has already started are no-ops.
void limit_torch_interop_threads();

}  // namespace trawl::embed
