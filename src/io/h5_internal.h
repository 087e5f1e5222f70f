// Helpers shared by the HDF5 layer's sources (h5.cpp, h5_dataset.cpp); not part of its interface.
#pragma once
#include <string>

#include "io/h5.h"

namespace trawl::io::h5::detail {

/// The native-order IEEE half type (as read into uint16_t).
hid_t f16_mem_type();
/// IoError / InputError "where: what (HDF5: <outermost>: <innermost>)".
[[noreturn]] void fail_io(const std::string& where, const std::string& what);
[[noreturn]] void fail_input(const std::string& where, const std::string& what);
/// An owned id, or IoError naming where and what.
Id checked(hid_t id, const std::string& where, const std::string& what);
/// The trawl element type of an HDF5 type; kOther when it is none of them.
Type classify(hid_t t);
/// "u64", "f16", "str (vlen utf-8)", "other (compound, 24 bytes)"...
std::string describe_type(hid_t t);

}  // namespace trawl::io::h5::detail
