#include "retrieve/topk.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "core/error.h"
#include "mpi/comm.h"

namespace trawl::retrieve {

static_assert(sizeof(Neighbour) == 16, "Neighbour is the packed MPI entry");

// ---------------------------------------------------------------------------------------------
// TopK

TopK::TopK(int k) : k_(k) {
  TRAWL_ASSERT_MSG(k >= 0, "TopK with K = ", k);
  heap_.reserve(static_cast<size_t>(k));
}

bool TopK::push(const Neighbour& n) {
  if (k_ == 0) return false;
  if (heap_.size() < static_cast<size_t>(k_)) {
    heap_.push_back(n);
    std::push_heap(heap_.begin(), heap_.end());
    return true;
  }
  if (!(n < heap_.front())) return false;
  std::pop_heap(heap_.begin(), heap_.end());
  heap_.back() = n;
  std::push_heap(heap_.begin(), heap_.end());
  return true;
}

std::vector<Neighbour> TopK::sorted() const {
  std::vector<Neighbour> v = heap_;
  std::sort(v.begin(), v.end());
  return v;
}

size_t AnchorLists::total() const {
  size_t n = 0;
  for (const auto& l : lists) n += l.size();
  return n;
}

// ---------------------------------------------------------------------------------------------
// Merging

namespace {

// Top K of the union of sorted a and b into out (cleared first); a uid in both lists is kept
// once, at its smaller entry. Each input is assumed free of duplicate uids.
void merge_into(const Neighbour* a, size_t na, const Neighbour* b, size_t nb, int K,
                std::vector<Neighbour>& out, std::vector<uint64_t>& ua, std::vector<uint64_t>& dups) {
  out.clear();
  const size_t cap = static_cast<size_t>(K);
  // uids present in both lists (rare: only when the same item reached two partial results).
  dups.clear();
  if (na > 0 && nb > 0) {
    ua.resize(na);
    for (size_t i = 0; i < na; ++i) ua[i] = a[i].uid;
    std::sort(ua.begin(), ua.end());
    for (size_t j = 0; j < nb; ++j)
      if (std::binary_search(ua.begin(), ua.end(), b[j].uid)) dups.push_back(b[j].uid);
    std::sort(dups.begin(), dups.end());
  }
  std::vector<char> seen(dups.size(), 0);  // empty (no allocation) in the common case
  size_t i = 0, j = 0;
  while (out.size() < cap && (i < na || j < nb)) {
    const Neighbour* n;
    if (j >= nb || (i < na && !(b[j] < a[i]))) n = &a[i++];
    else n = &b[j++];
    if (!dups.empty()) {
      auto it = std::lower_bound(dups.begin(), dups.end(), n->uid);
      if (it != dups.end() && *it == n->uid) {
        char& s = seen[static_cast<size_t>(it - dups.begin())];
        if (s) continue;
        s = 1;
      }
    }
    out.push_back(*n);
  }
}

}  // namespace

std::vector<Neighbour> merge_sorted(const std::vector<Neighbour>& a, const std::vector<Neighbour>& b,
                                    int K) {
  std::vector<Neighbour> out;
  std::vector<uint64_t> ua, dups;
  out.reserve(std::min(a.size() + b.size(), static_cast<size_t>(std::max(K, 0))));
  merge_into(a.data(), a.size(), b.data(), b.size(), K, out, ua, dups);
  return out;
}

AnchorLists merge_lists(const AnchorLists& a, const AnchorLists& b) {
  if (a.K != b.K)
    throw InputError(cat("merging top-k lists: K differs (", a.K, " vs ", b.K,
                         "); expected partial results of the same search"));
  if (a.n_anchors() != b.n_anchors())
    throw InputError(cat("merging top-k lists: anchor count differs (", a.n_anchors(), " vs ",
                         b.n_anchors(), "); expected partial results of the same search"));
  AnchorLists out(a.K, a.n_anchors());
  std::vector<uint64_t> ua, dups;
  for (size_t q = 0; q < a.n_anchors(); ++q) {
    const auto& x = a.lists[q];
    const auto& y = b.lists[q];
    merge_into(x.data(), x.size(), y.data(), y.size(), a.K, out.lists[q], ua, dups);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Validation, bytes, table

void validate(const AnchorLists& l, const char* what) {
  if (l.K < 0) throw InputError(cat(what, ": K = ", l.K, ", expected >= 0"));
  std::vector<uint64_t> uids;
  for (size_t q = 0; q < l.lists.size(); ++q) {
    const auto& v = l.lists[q];
    if (v.size() > static_cast<size_t>(l.K))
      throw InputError(cat(what, ": anchor ", q, " has ", v.size(), " neighbours, expected at most K = ", l.K));
    for (size_t i = 0; i < v.size(); ++i) {
      if (std::isnan(v[i].dist))
        throw InputError(cat(what, ": anchor ", q, " entry ", i, ": distance is NaN"));
      if (v[i].uid == kNoUid)
        throw InputError(cat(what, ": anchor ", q, " entry ", i, ": reserved uid ", kNoUid));
      if (i > 0 && !(v[i - 1] < v[i]))
        throw InputError(cat(what, ": anchor ", q, " entry ", i, " (dist ", v[i].dist, ", uid ", v[i].uid,
                             ") is not after entry ", i - 1, " (dist ", v[i - 1].dist, ", uid ", v[i - 1].uid,
                             "); expected ascending (dist, uid)"));
    }
    uids.resize(v.size());
    for (size_t i = 0; i < v.size(); ++i) uids[i] = v[i].uid;
    std::sort(uids.begin(), uids.end());
    auto dup = std::adjacent_find(uids.begin(), uids.end());
    if (dup != uids.end())
      throw InputError(cat(what, ": anchor ", q, ": uid ", *dup, " appears twice; expected distinct uids"));
  }
}

namespace {
constexpr char kMagic[8] = {'T', 'R', 'W', 'L', 'T', 'O', 'P', 'K'};
template <class T> void put(std::vector<char>& b, const T& v) {
  const char* p = reinterpret_cast<const char*>(&v);
  b.insert(b.end(), p, p + sizeof(T));
}
struct Reader {
  const char* p;
  size_t n, off = 0;
  const char* what;
  template <class T> T get(const char* field) {
    if (n - off < sizeof(T))
      throw InputError(cat(what, ": truncated at byte ", off, " reading ", field, " (", n, " bytes in all)"));
    T v;
    std::memcpy(&v, p + off, sizeof(T));
    off += sizeof(T);
    return v;
  }
};
}  // namespace

std::vector<char> serialize(const AnchorLists& l) {
  std::vector<char> b;
  b.reserve(32 + 4 * l.n_anchors() + 12 * l.total());
  b.insert(b.end(), kMagic, kMagic + 8);
  put<uint32_t>(b, kTopKBytesVersion);
  put<int32_t>(b, l.K);
  put<uint64_t>(b, l.n_anchors());
  for (const auto& v : l.lists) {
    put<uint32_t>(b, static_cast<uint32_t>(v.size()));
    for (const auto& e : v) {
      put<float>(b, e.dist);
      put<uint64_t>(b, e.uid);
    }
  }
  return b;
}

AnchorLists deserialize(const char* data, size_t n, const char* what) {
  if (n < 8 || std::memcmp(data, kMagic, 8) != 0)
    throw InputError(cat(what, ": not trawl top-k data (magic 'TRWLTOPK' missing)"));
  Reader r{data, n, 8, what};
  auto version = r.get<uint32_t>("version");
  if (version == 0 || version > kTopKBytesVersion)
    throw InputError(cat(what, ": top-k format version ", version, ", this trawl reads up to ",
                         kTopKBytesVersion));
  auto K = r.get<int32_t>("K");
  if (K < 0) throw InputError(cat(what, ": K = ", K, ", expected >= 0"));
  auto na = r.get<uint64_t>("anchor count");
  if (na > (n - r.off) / 4)
    throw InputError(cat(what, ": anchor count ", na, " does not fit in ", n - r.off, " remaining bytes"));
  AnchorLists l(K, static_cast<size_t>(na));
  for (uint64_t q = 0; q < na; ++q) {
    auto c = r.get<uint32_t>("list length");
    if (c > static_cast<uint32_t>(K))
      throw InputError(cat(what, ": anchor ", q, " has ", c, " neighbours, expected at most K = ", K));
    if (static_cast<uint64_t>(c) * 12 > n - r.off)
      throw InputError(cat(what, ": truncated in the list of anchor ", q));
    auto& v = l.lists[q];
    v.resize(c);
    for (auto& e : v) {
      e.dist = r.get<float>("dist");
      e.uid = r.get<uint64_t>("uid");
    }
  }
  if (r.off != n) throw InputError(cat(what, ": ", n - r.off, " trailing bytes after the last list"));
  validate(l, what);
  return l;
}

FlatLists flatten(const AnchorLists& l) {
  FlatLists f;
  size_t t = l.total();
  f.anchor.reserve(t);
  f.dist.reserve(t);
  f.uid.reserve(t);
  for (size_t q = 0; q < l.lists.size(); ++q)
    for (const auto& e : l.lists[q]) {
      f.anchor.push_back(static_cast<uint32_t>(q));
      f.dist.push_back(e.dist);
      f.uid.push_back(e.uid);
    }
  return f;
}

AnchorLists unflatten(int K, size_t n_anchors, const FlatLists& f, const char* what) {
  if (f.anchor.size() != f.uid.size() || f.dist.size() != f.uid.size())
    throw InputError(cat(what, ": columns differ in length (anchor ", f.anchor.size(), ", dist ",
                         f.dist.size(), ", uid ", f.uid.size(), ")"));
  if (K < 0) throw InputError(cat(what, ": K = ", K, ", expected >= 0"));
  AnchorLists l(K, n_anchors);
  for (size_t i = 0; i < f.size(); ++i) {
    uint32_t a = f.anchor[i];
    if (a >= n_anchors)
      throw InputError(cat(what, ": row ", i, ": anchor ", a, " out of range (", n_anchors, " anchors)"));
    if (i > 0 && a < f.anchor[i - 1])
      throw InputError(cat(what, ": row ", i, ": anchor ", a, " after anchor ", f.anchor[i - 1],
                           "; expected rows grouped by ascending anchor"));
    if (l.lists[a].size() == static_cast<size_t>(K))
      throw InputError(cat(what, ": row ", i, ": anchor ", a, " has more than K = ", K, " neighbours"));
    l.lists[a].push_back(Neighbour{f.dist[i], f.uid[i]});
  }
  validate(l, what);
  return l;
}

// ---------------------------------------------------------------------------------------------
// MPI reduction

namespace {

// One datatype element = one anchor's K packed entries, so MPI never splits a list.
void merge_op(void* in, void* inout, int* len, MPI_Datatype* dt) {
  int bytes = 0;
  MPI_Type_size(*dt, &bytes);
  const int K = bytes / static_cast<int>(sizeof(Neighbour));
  thread_local std::vector<Neighbour> out;
  thread_local std::vector<uint64_t> ua, dups;
  auto* a = static_cast<const Neighbour*>(in);
  auto* b = static_cast<Neighbour*>(inout);
  for (int q = 0; q < *len; ++q, a += K, b += K) {
    size_t na = 0, nb = 0;
    while (na < static_cast<size_t>(K) && a[na].uid != kNoUid) ++na;
    while (nb < static_cast<size_t>(K) && b[nb].uid != kNoUid) ++nb;
    merge_into(a, na, b, nb, K, out, ua, dups);
    std::copy(out.begin(), out.end(), b);
    std::fill(b + out.size(), b + K, kSentinel);
  }
}

}  // namespace

void reduce_topk(const mpi::Comm& comm, AnchorLists& l) {
  if (comm.size() == 1) return;
  const long long K = l.K, na = static_cast<long long>(l.n_anchors());
  const long long kmin = comm.min(K), kmax = comm.max(K);
  const long long amin = comm.min(na), amax = comm.max(na);
  if (kmin != kmax || amin != amax)
    throw UsageError(cat("reduce_topk: ranks disagree on K (", kmin, "..", kmax, ") or on the anchor count (",
                         amin, "..", amax, "); every rank must search the same anchors with the same K"));
  if (K == 0 || na == 0) return;
  const size_t k = static_cast<size_t>(K);
  if (k * sizeof(Neighbour) > (1u << 30))
    throw UsageError(cat("reduce_topk: K = ", K, " neighbours per anchor is more than 1 GiB per anchor list"));
  std::vector<Neighbour> buf(k * static_cast<size_t>(na));
  std::memset(static_cast<void*>(buf.data()), 0, buf.size() * sizeof(Neighbour));  // defined padding bytes
  for (size_t q = 0; q < l.lists.size(); ++q) {
    const auto& v = l.lists[q];
    TRAWL_ASSERT_MSG(v.size() <= k, "anchor ", q, " holds ", v.size(), " > K = ", K);
    TRAWL_ASSERT_MSG(std::is_sorted(v.begin(), v.end()), "anchor ", q, ": list not sorted");
    Neighbour* row = buf.data() + q * k;
    std::copy(v.begin(), v.end(), row);
    std::fill(row + v.size(), row + k, kSentinel);
  }
  MPI_Datatype dt;
  MPI_Op op;
  TRAWL_MPI_CHECK(MPI_Type_contiguous(static_cast<int>(k * sizeof(Neighbour)), MPI_BYTE, &dt));
  TRAWL_MPI_CHECK(MPI_Type_commit(&dt));
  TRAWL_MPI_CHECK(MPI_Op_create(&merge_op, /*commute=*/1, &op));
  // At most 1 GiB per call: no 2^31 limit on anchors x K (issue "Reliability at cluster scale").
  const size_t batch = std::max<size_t>(1, (size_t(1) << 30) / (k * sizeof(Neighbour)));
  for (size_t a0 = 0; a0 < size_t(na); a0 += batch) {
    const size_t n = std::min(batch, size_t(na) - a0);
    TRAWL_MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, buf.data() + a0 * k, static_cast<int>(n), dt, op, comm.raw()));
  }
  MPI_Op_free(&op);
  MPI_Type_free(&dt);
  for (size_t q = 0; q < l.lists.size(); ++q) {
    const Neighbour* row = buf.data() + q * k;
    size_t n = 0;
    while (n < k && row[n].uid != kNoUid) ++n;
    l.lists[q].assign(row, row + n);
  }
}

}  // namespace trawl::retrieve
