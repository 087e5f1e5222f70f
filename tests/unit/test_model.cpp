// trawl-libs: trawl_model
// The model file and inference (src/train/model.h) without training: weights are drawn here,
// written, loaded and checked against hand computations and an independent numpy/h5py
// implementation; foreign, newer, truncated and inconsistent files are rejected.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>

#include "core/error.h"
#include "core/rng.h"
#include "io/h5.h"
#include "support/testutil.h"
#include "train/model.h"

using namespace trawl;
using namespace trawl::train;

namespace {

ModelHeader header(const std::string& kind, int C, int d, int H) {
  ModelHeader h;
  h.kind = kind;
  h.input = kind == "embbag" ? "tokens" : "embedding";
  for (int c = 0; c < C; ++c) h.classes.push_back(std::string(1, char('a' + c)));
  h.input_dim = d;
  h.hidden = kind == "logreg" ? 0 : H;
  h.encoder = "hash";
  h.encoder_params = "dim=8;ngrams=2";
  h.config = "model = " + kind + "\n";
  h.training_summary = "examples=0";
  h.seed = 7;
  h.round = 3;
  h.fingerprint = "fp";
  return h;
}

std::vector<Param> random_params(const ModelHeader& h, uint64_t seed, float scale = 0.5f) {
  auto ps = param_layout(h);
  Rng r(seed);
  for (auto& p : ps) {
    uint64_t n = 1;
    for (auto s : p.shape) n *= s;
    p.values.resize(n);
    for (auto& v : p.values) v = float(r.normal()) * scale;
  }
  return ps;
}

std::vector<float> random_x(size_t n, int d, uint64_t seed) {
  Rng r(seed);
  std::vector<float> x(n * size_t(d));
  for (auto& v : x) v = float(r.normal());
  return x;
}

std::string bytes_of(const std::string& path) { return test::read_file(path); }

template <class F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const InputError& e) {
    return e.what();
  }
  return "(no InputError)";
}

bool have_h5py() { return test::run("/usr/bin/python3 -c 'import h5py, numpy'") == 0; }

template <class T>
void write_raw(const std::string& path, const std::vector<T>& v) {
  std::ofstream f(path, std::ios::binary);
  f.write(reinterpret_cast<const char*>(v.data()), std::streamsize(v.size() * sizeof(T)));
  ASSERT_TRUE(bool(f)) << path;
}
std::vector<float> read_raw_f32(const std::string& path) {
  std::string s = test::read_file(path);
  std::vector<float> v(s.size() / 4);
  std::memcpy(v.data(), s.data(), v.size() * 4);
  return v;
}

}  // namespace

TEST(ModelFile, LayoutShapes) {
  auto l = param_layout(header("mlp", 3, 5, 7));
  ASSERT_EQ(l.size(), 4u);
  EXPECT_EQ(l[0].name, "hidden.weight");
  EXPECT_EQ(l[0].shape, (std::vector<uint64_t>{7, 5}));
  EXPECT_EQ(l[3].name, "output.bias");
  EXPECT_EQ(l[3].shape, (std::vector<uint64_t>{3}));
  auto e = param_layout(header("embbag", 2, 64, 4));
  EXPECT_EQ(e[0].name, "bag.weight");
  EXPECT_EQ(e[0].shape, (std::vector<uint64_t>{64, 4}));
  auto bad = header("logreg", 2, 4, 0);
  bad.input = "tokens";
  EXPECT_THROW(param_layout(bad), InputError);
  bad = header("forest", 2, 4, 0);
  EXPECT_THROW(param_layout(bad), InputError);
}

TEST(ModelInference, LogregHandChecked) {
  // Two classes, d = 2: logits = W x + b.
  auto h = header("logreg", 2, 2, 0);
  auto ps = param_layout(h);
  ps[0].values = {1, 0, -1, 2};  // class a: x0; class b: -x0 + 2 x1
  ps[1].values = {0.5f, -0.5f};
  auto m = make_model(h, ps);
  std::vector<float> x = {1, 1, 0, 0, 3, -1};
  std::vector<float> p(6), f(6);
  m->predict(x.data(), 3, p.data(), f.data());
  // row 0: logits (1.5, 0.5); row 1: (0.5, -0.5); row 2: (3.5, -5.5)
  double l[3][2] = {{1.5, 0.5}, {0.5, -0.5}, {3.5, -5.5}};
  for (int i = 0; i < 3; ++i) {
    double e0 = std::exp(l[i][0]), e1 = std::exp(l[i][1]);
    EXPECT_NEAR(p[2 * i], e0 / (e0 + e1), 1e-6);
    EXPECT_NEAR(p[2 * i + 1], e1 / (e0 + e1), 1e-6);
  }
  EXPECT_EQ(f, x);  // logreg features are the input
  EXPECT_EQ(m->feature_dim(), 2);
  EXPECT_EQ(m->num_classes(), 2);
}

TEST(ModelInference, LogregBitIdenticalToTheDocumentedSumOrder) {
  // The logreg kernel's contract (model.cpp, logreg_rows): lane l of a dot product sums
  // x[k] w[k] over k = l (mod 8) in increasing k, then ((s0+s4)+(s1+s5))+((s2+s6)+(s3+s7)). The
  // kernel interleaves rows and classes in tiles; every class count (tiles of 4 and the 1-3
  // left), odd row counts (the single-row tail) and dims with a tail of 1-7 must still give
  // exactly this reference's bits, softmax included.
  for (int C : {1, 2, 3, 4, 5, 7, 9})
    for (int d : {1, 7, 8, 13, 64, 100}) {
      SCOPED_TRACE(testing::Message() << "C=" << C << " d=" << d);
      auto h = header("logreg", C, d, 0);
      auto ps = random_params(h, uint64_t(C * 1000 + d));
      auto m = make_model(h, ps);
      const size_t n = 11;
      auto x = random_x(n, d, uint64_t(d));
      std::vector<float> p(n * size_t(C));
      m->predict(x.data(), n, p.data(), nullptr);
      for (size_t i = 0; i < n; ++i) {
        std::vector<float> z(static_cast<size_t>(C));
        for (int c = 0; c < C; ++c) {
          float a[8] = {0, 0, 0, 0, 0, 0, 0, 0};
          for (int k = 0; k < d; ++k) {
            volatile float prod = x[i * size_t(d) + size_t(k)] * ps[0].values[size_t(c) * size_t(d) + size_t(k)];
            a[k % 8] += prod;
          }
          z[size_t(c)] = (((a[0] + a[4]) + (a[1] + a[5])) + ((a[2] + a[6]) + (a[3] + a[7]))) + ps[1].values[size_t(c)];
        }
        float mx = z[0];
        for (float v : z) mx = std::max(mx, v);
        float sum = 0;
        for (auto& v : z) sum += (v = std::exp(v - mx));
        const float inv = 1.0f / sum;
        for (int c = 0; c < C; ++c) ASSERT_EQ(p[i * size_t(C) + size_t(c)], z[size_t(c)] * inv) << "row " << i << " class " << c;
      }
    }
}

TEST(ModelInference, EmbbagHandChecked) {
  // 4 buckets, H = 2, one class pair; ids folded mod 4; empty row = zero features.
  auto h = header("embbag", 2, 4, 2);
  auto ps = param_layout(h);
  ps[0].values = {1, 0, 0, 1, 2, 2, -1, 3};  // rows for buckets 0..3
  ps[1].values = {1, 0, 0, 1};                // logits = features
  ps[2].values = {0, 0};
  auto m = make_model(h, ps);
  std::vector<uint64_t> off = {0, 2, 2, 5};
  std::vector<uint32_t> ids = {4, 1, /* empty */ 2, 7, 4000000003u};
  std::vector<float> p(6), f(6);
  m->predict_tokens(off.data(), ids.data(), 3, p.data(), f.data());
  // row 0: buckets 0,1 -> mean (0.5, 0.5); row 1: (0,0); row 2: buckets 2,3,3 -> ((2-1-1)/3, (2+3+3)/3)
  EXPECT_FLOAT_EQ(f[0], 0.5f);
  EXPECT_FLOAT_EQ(f[1], 0.5f);
  EXPECT_EQ(f[2], 0.0f);
  EXPECT_EQ(f[3], 0.0f);
  EXPECT_NEAR(f[4], 0.0f, 1e-7);
  EXPECT_NEAR(f[5], 8.0f / 3, 1e-6);
  EXPECT_FLOAT_EQ(p[0], 0.5f);
  EXPECT_FLOAT_EQ(p[2], 0.5f);
  EXPECT_NEAR(p[5], 1 / (1 + std::exp(-8.0 / 3)), 1e-6);
  std::vector<float> x(4);
  EXPECT_THROW(m->predict(x.data(), 1, p.data()), UsageError);
  auto lr = make_model(header("logreg", 2, 2, 0), random_params(header("logreg", 2, 2, 0), 1));
  EXPECT_THROW(lr->predict_tokens(off.data(), ids.data(), 1, p.data()), UsageError);
}

TEST(ModelFile, RoundTripHeaderAndPredictions) {
  test::TempDir dir("model");
  for (std::string kind : {"logreg", "mlp", "embbag"}) {
    SCOPED_TRACE(kind);
    auto h = header(kind, 3, kind == "embbag" ? 50 : 6, 5);
    auto ps = random_params(h, 11);
    std::string path = dir / (kind + ".h5");
    write_model(path, h, ps);
    EXPECT_TRUE(model_is_complete(path));
    auto hh = read_model_header(path);
    EXPECT_EQ(hh.kind, h.kind);
    EXPECT_EQ(hh.input, h.input);
    EXPECT_EQ(hh.classes, h.classes);
    EXPECT_EQ(hh.input_dim, h.input_dim);
    EXPECT_EQ(hh.hidden, h.hidden);
    EXPECT_EQ(hh.encoder, h.encoder);
    EXPECT_EQ(hh.encoder_params, h.encoder_params);
    EXPECT_EQ(hh.config, h.config);
    EXPECT_EQ(hh.training_summary, h.training_summary);
    EXPECT_EQ(hh.seed, 7u);
    EXPECT_EQ(hh.round, 3u);
    EXPECT_EQ(hh.fingerprint, "fp");
    EXPECT_EQ(hh.format_version, kModelFormatVersionClassic);
    EXPECT_FALSE(hh.trawl_version.empty());
    ModelHeader h2;
    auto ps2 = read_model_params(path, &h2);
    ASSERT_EQ(ps2.size(), ps.size());
    for (size_t i = 0; i < ps.size(); ++i) EXPECT_EQ(ps2[i].values, ps[i].values) << ps[i].name;

    auto mem = make_model(h, ps);
    auto file = Model::load(path);
    EXPECT_EQ(file->feature_dim(), kind == "logreg" ? 6 : 5);
    const size_t n = 700;  // more than one inference block
    std::vector<float> p1(n * 3), p2(n * 3), f1(n * size_t(file->feature_dim())), f2(f1.size());
    if (kind == "embbag") {
      Rng r(5);
      std::vector<uint64_t> off{0};
      std::vector<uint32_t> ids;
      for (size_t i = 0; i < n; ++i) {
        size_t len = r.below(6);
        for (size_t k = 0; k < len; ++k) ids.push_back(uint32_t(r()));
        off.push_back(ids.size());
      }
      mem->predict_tokens(off.data(), ids.data(), n, p1.data(), f1.data());
      file->predict_tokens(off.data(), ids.data(), n, p2.data(), f2.data());
    } else {
      auto x = random_x(n, 6, 9);
      mem->predict(x.data(), n, p1.data(), f1.data());
      file->predict(x.data(), n, p2.data(), f2.data());
    }
    EXPECT_EQ(p1, p2);
    EXPECT_EQ(f1, f2);
    for (size_t i = 0; i < n; ++i) EXPECT_NEAR(p1[3 * i] + p1[3 * i + 1] + p1[3 * i + 2], 1.0, 1e-5);
  }
}

TEST(ModelFile, SameModelSameBytes) {
  // No timestamps in the file: the same header and weights give identical bytes, even written
  // more than a second apart (HDF5 records object times with one-second resolution by default).
  test::TempDir dir("model");
  auto h = header("mlp", 2, 4, 3);
  auto ps = random_params(h, 3);
  write_model(dir / "a.h5", h, ps);
  ASSERT_EQ(test::run("sleep 1.2"), 0);
  write_model(dir / "b.h5", h, ps);
  EXPECT_TRUE(bytes_of(dir / "a.h5") == bytes_of(dir / "b.h5"));
  ps[1].values[0] += 1e-3f;
  write_model(dir / "c.h5", h, ps);
  EXPECT_FALSE(bytes_of(dir / "a.h5") == bytes_of(dir / "c.h5"));
}

TEST(ModelInference, RowsIndependentOfThreadsAndOfTheOtherRows) {
  // A row's outputs are bit-identical whatever the thread count and whatever other rows share
  // the call (alone, in a block, at any offset): scores do not depend on how callers split work.
  for (std::string kind : {"logreg", "mlp", "embbag"}) {
    SCOPED_TRACE(kind);
    auto h = header(kind, 4, kind == "embbag" ? 300 : 32, 16);
    auto ps = random_params(h, 21);
    auto m1 = make_model(h, ps, 1), m2 = make_model(h, ps, 2);
    const int F = m1->feature_dim();
    const size_t n = 1000;
    auto x = random_x(n, 32, 4);
    Rng r(6);
    std::vector<uint64_t> off{0};
    std::vector<uint32_t> ids;
    for (size_t i = 0; i < n; ++i) {
      size_t len = r.below(12);
      for (size_t k = 0; k < len; ++k) ids.push_back(uint32_t(r()));
      off.push_back(ids.size());
    }
    auto run = [&](const Model& m, size_t b, size_t e, float* p, float* f) {
      if (kind == "embbag") {
        std::vector<uint64_t> o2(off.begin() + long(b), off.begin() + long(e) + 1);
        for (auto& v : o2) v -= off[b];
        m.predict_tokens(o2.data(), ids.data() + off[b], e - b, p, f);
      } else {
        m.predict(x.data() + b * 32, e - b, p, f);
      }
    };
    std::vector<float> a(n * 4), bb(n * 4), fa(n * size_t(F)), fb(n * size_t(F));
    run(*m1, 0, n, a.data(), fa.data());
    run(*m2, 0, n, bb.data(), fb.data());
    EXPECT_TRUE(a == bb);
    EXPECT_TRUE(fa == fb);
    for (size_t i : {size_t(0), size_t(255), size_t(256), size_t(777), n - 1}) {
      std::vector<float> one(4), fone(static_cast<size_t>(F));
      run(*m1, i, i + 1, one.data(), fone.data());
      for (int c = 0; c < 4; ++c) EXPECT_EQ(one[size_t(c)], a[i * 4 + size_t(c)]) << "row " << i;
      for (int k = 0; k < F; ++k) EXPECT_EQ(fone[size_t(k)], fa[i * size_t(F) + size_t(k)]) << "row " << i;
    }
    std::vector<float> mid(400 * 4);
    run(*m2, 300, 700, mid.data(), nullptr);
    EXPECT_TRUE(std::equal(mid.begin(), mid.end(), a.begin() + 300 * 4));
  }
}

TEST(ModelFile, NumpyReference) {
  if (!have_h5py()) FAIL() << "reference cannot run (tools/install-deps.sh installs it): " << "/usr/bin/python3 with h5py and numpy is not available";
  test::TempDir dir("model");
  const char* script = R"PY(
import sys, h5py, numpy as np
path, kind, xin, out = sys.argv[1:5]
f = h5py.File(path, "r")
assert f.attrs["trawl-format"] == "model" and int(f.attrs["trawl-format-version"]) == 2
assert f.attrs["kind"] == kind
classes = [c.decode() if isinstance(c, bytes) else c for c in f["classes"][()]]
C = len(classes); assert int(f.attrs["num-classes"]) == C
g = lambda n: np.asarray(f[n][()], dtype=np.float64)
if kind == "embbag":
    off = np.fromfile(xin + ".off", dtype=np.uint64); ids = np.fromfile(xin + ".ids", dtype=np.uint32)
    bag = g("bag.weight"); B = int(f.attrs["input-dim"]); assert bag.shape[0] == B
    feats = np.zeros((len(off) - 1, bag.shape[1]))
    for i in range(len(off) - 1):
        t = ids[off[i]:off[i + 1]].astype(np.int64) % B
        if len(t): feats[i] = bag[t].mean(axis=0)
    logits = feats @ g("output.weight").T + g("output.bias")
else:
    d = int(f.attrs["input-dim"])
    x = np.fromfile(xin, dtype=np.float32).astype(np.float64).reshape(-1, d)
    if kind == "logreg":
        feats = x; logits = x @ g("linear.weight").T + g("linear.bias")
    else:
        feats = np.maximum(x @ g("hidden.weight").T + g("hidden.bias"), 0)
        logits = feats @ g("output.weight").T + g("output.bias")
z = logits - logits.max(axis=1, keepdims=True)
p = np.exp(z); p /= p.sum(axis=1, keepdims=True)
np.concatenate([p.ravel(), feats.ravel()]).astype(np.float32).tofile(out)
)PY";
  test::write_file(dir / "ref.py", script);
  for (std::string kind : {"logreg", "mlp", "embbag"}) {
    SCOPED_TRACE(kind);
    auto h = header(kind, 3, kind == "embbag" ? 97 : 8, 6);
    auto ps = random_params(h, 33);
    std::string path = dir / (kind + ".h5");
    write_model(path, h, ps);
    auto m = Model::load(path);
    const size_t n = 40;
    std::vector<float> p(n * 3), f(n * size_t(m->feature_dim()));
    std::string xin = dir / (kind + ".in");
    if (kind == "embbag") {
      Rng r(8);
      std::vector<uint64_t> off{0};
      std::vector<uint32_t> ids;
      for (size_t i = 0; i < n; ++i) {
        size_t len = r.below(9);
        for (size_t k = 0; k < len; ++k) ids.push_back(uint32_t(r()));
        off.push_back(ids.size());
      }
      write_raw(xin + ".off", off);
      write_raw(xin + ".ids", ids);
      m->predict_tokens(off.data(), ids.data(), n, p.data(), f.data());
    } else {
      auto x = random_x(n, 8, 12);
      write_raw(xin, x);
      m->predict(x.data(), n, p.data(), f.data());
    }
    std::string out;
    ASSERT_EQ(test::run("/usr/bin/python3 " + (dir / "ref.py") + " " + path + " " + kind + " " + xin + " " +
                            (dir / (kind + ".out")), &out), 0) << out;
    auto ref = read_raw_f32(dir / (kind + ".out"));
    ASSERT_EQ(ref.size(), p.size() + f.size());
    for (size_t i = 0; i < p.size(); ++i) ASSERT_NEAR(p[i], ref[i], 2e-6) << "prob " << i;
    for (size_t i = 0; i < f.size(); ++i) ASSERT_NEAR(f[i], ref[p.size() + i], 2e-5) << "feature " << i;
  }
}

TEST(ModelFile, RejectsForeignNewerTruncatedAndInconsistentFiles) {
  test::TempDir dir("model");
  auto h = header("mlp", 2, 16, 64);
  std::string good = dir / "good.h5";
  write_model(good, h, random_params(h, 1));

  // Not HDF5.
  test::write_file(dir / "text.h5", "uid\tlabel\n1\ta\n");
  EXPECT_NE(error_of([&] { Model::load(dir / "text.h5"); }).find(dir / "text.h5"), std::string::npos);

  // Another trawl format.
  {
    auto f = io::h5::File::create(dir / "scores.h5");
    io::h5::set_format(f, "scores", 1);
    f.close();
  }
  std::string e = error_of([&] { Model::load(dir / "scores.h5"); });
  EXPECT_NE(e.find(dir / "scores.h5"), std::string::npos) << e;
  EXPECT_NE(e.find("scores"), std::string::npos) << e;

  // A newer version.
  std::string newer = dir / "newer.h5";
  test::write_file(newer, bytes_of(good));
  {
    auto f = io::h5::File::open(newer, io::h5::File::kReadWrite);
    f.set_attr("trawl-format-version", kModelFormatVersion + 1);
    f.close();
  }
  e = error_of([&] { Model::load(newer); });
  EXPECT_NE(e.find(newer), std::string::npos) << e;
  EXPECT_NE(e.find("newer"), std::string::npos) << e;
  EXPECT_FALSE(model_is_complete(newer));

  // Truncated at several points.
  std::string all = bytes_of(good);
  for (double frac : {0.1, 0.5, 0.9, 0.99}) {
    std::string t = dir / "trunc.h5";
    test::write_file(t, all.substr(0, size_t(double(all.size()) * frac)));
    e = error_of([&] { Model::load(t); });
    EXPECT_NE(e.find(t), std::string::npos) << frac << ": " << e;
    EXPECT_FALSE(model_is_complete(t));
  }

  // A parameter of the wrong shape, a missing parameter, a non-finite weight.
  auto rewrite = [&](const std::string& name, auto&& edit) {
    std::string p = dir / name;
    test::write_file(p, all);
    auto f = io::h5::File::open(p, io::h5::File::kReadWrite);
    edit(f);
    f.close();
    return p;
  };
  std::string p = rewrite("shape.h5", [](io::h5::File& f) { f.set_attr("hidden", 32); });
  e = error_of([&] { Model::load(p); });
  EXPECT_NE(e.find("hidden.weight"), std::string::npos) << e;
  p = rewrite("missing.h5", [](io::h5::File& f) { H5Ldelete(f.id(), "output.bias", H5P_DEFAULT); });
  e = error_of([&] { Model::load(p); });
  EXPECT_NE(e.find("output.bias"), std::string::npos) << e;
  p = rewrite("nan.h5", [](io::h5::File& f) {
    auto d = io::h5::Dataset::open(f, "output.bias");
    float v = std::nanf("");
    d.write(1, 1, &v);
  });
  e = error_of([&] { Model::load(p); });
  EXPECT_NE(e.find("output.bias"), std::string::npos) << e;
  p = rewrite("classes.h5", [](io::h5::File& f) { f.set_attr("num-classes", 3); });
  e = error_of([&] { Model::load(p); });
  EXPECT_NE(e.find("num-classes"), std::string::npos) << e;

  // Writing a model whose parameters do not fit its header is refused.
  auto ps = random_params(h, 1);
  ps[0].shape = {63, 16};
  EXPECT_THROW(write_model(dir / "bad.h5", h, ps), UsageError);
  EXPECT_FALSE(test::run("test -e " + (dir / "bad.h5")) == 0);
}

TEST(ModelFile, CheckCompatible) {
  auto h = header("logreg", 2, 8, 0);
  EXPECT_NO_THROW(check_compatible(h, "hash", "dim=8;ngrams=2", 8, "pool/shard-000000.h5"));
  try {
    check_compatible(h, "torchscript", "model=minilm", 8, "pool/shard-000000.h5");
    FAIL() << "no error";
  } catch (const InputError& e) {
    std::string m = e.what();
    EXPECT_NE(m.find("pool/shard-000000.h5"), std::string::npos) << m;
    EXPECT_NE(m.find("torchscript"), std::string::npos) << m;
    EXPECT_NE(m.find("hash"), std::string::npos) << m;
  }
  EXPECT_THROW(check_compatible(h, "hash", "dim=16;ngrams=2", 8, "x"), InputError);
  try {
    check_compatible(h, "hash", "dim=8;ngrams=2", 16, "x.h5");
    FAIL() << "no error";
  } catch (const InputError& e) {
    std::string m = e.what();
    EXPECT_NE(m.find("16"), std::string::npos) << m;
    EXPECT_NE(m.find("8"), std::string::npos) << m;
  }
}
