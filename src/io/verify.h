// Reading every stored byte of a trawl HDF5 file, so that each chunk's checksum is verified
// (trawl-inspect --check; docs/CONVENTIONS.md "Integrity").
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "io/h5.h"

namespace trawl::io {

struct DatasetCheck {
  std::string name;
  uint64_t bytes = 0;         // data bytes read (as stored)
  bool checksummed = false;   // every chunk carries a Fletcher-32 checksum, verified
};

/// Reads every numeric dataset of f in blocks of about 64 MiB (every string dataset too, as
/// strings), verifying the checksums of those that carry them. InputError naming the file,
/// dataset and row range at the first mismatch; otherwise one entry per dataset, by name.
std::vector<DatasetCheck> verify_datasets(const h5::File& f);

}  // namespace trawl::io
