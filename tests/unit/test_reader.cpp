// trawl-libs: trawl_text
// Streaming chunk readers: every format on small hand-written files, quoting and escaping
// edge cases, every kind of bad row, gzip (plain vs compressed, multi-member, truncated,
// corrupt), over-long lines, and round trips of generated files larger than the buffer.
#include <gtest/gtest.h>
#include <zlib.h>

#include <cstdio>
#include <functional>
#include <string>
#include <vector>

#include "core/error.h"
#include "core/rng.h"
#include "support/testutil.h"
#include "text/reader.h"

using namespace trawl;
using namespace trawl::text;
using trawl::test::TempDir;
using trawl::test::write_file;

namespace {

struct Item {
  bool bad = false;
  uint64_t row = 0, line = 0;
  std::string id, text, label;  // for bad rows: reason in text, raw in label
};

std::vector<Item> read_all(const std::string& path, ReaderOptions opt = ReaderOptions()) {
  ChunkReader r(path, opt);
  std::vector<Item> out;
  Row row;
  BadRow bad;
  for (;;) {
    auto st = r.next(row, bad);
    if (st == ChunkReader::Status::kEnd) break;
    Item it;
    if (st == ChunkReader::Status::kRow) {
      it.row = row.row;
      it.line = row.line;
      it.id = row.id;
      it.text = row.text;
      it.label = row.label;
    } else {
      it.bad = true;
      it.row = bad.row;
      it.line = bad.line;
      it.text = bad.reason;
      it.label = bad.raw;
    }
    out.push_back(it);
  }
  EXPECT_EQ(r.bytes_consumed(), r.file_bytes()) << path;
  return out;
}

void write_gzip(const std::string& path, const std::string& data, const char* mode = "wb") {
  gzFile f = gzopen(path.c_str(), mode);
  ASSERT_TRUE(f != nullptr);
  size_t off = 0;
  while (off < data.size()) {
    unsigned n = static_cast<unsigned>(std::min<size_t>(data.size() - off, 1 << 20));
    ASSERT_EQ(gzwrite(f, data.data() + off, n), static_cast<int>(n));
    off += n;
  }
  ASSERT_EQ(gzclose(f), Z_OK);
}

ReaderOptions with_label(const char* label = "label") {
  ReaderOptions o;
  o.label_column = label;
  return o;
}

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const std::exception& e) {
    return e.what();
  }
  return "";
}

#define EXPECT_GOOD(it, r, l, i, t)   \
  do {                                \
    EXPECT_FALSE((it).bad) << (it).text; \
    EXPECT_EQ((it).row, uint64_t(r));   \
    EXPECT_EQ((it).line, uint64_t(l));  \
    EXPECT_EQ((it).id, i);            \
    EXPECT_EQ((it).text, t);          \
  } while (0)

#define EXPECT_BAD(it, r, l, reason_part)                                        \
  do {                                                                           \
    EXPECT_TRUE((it).bad);                                                       \
    EXPECT_EQ((it).row, uint64_t(r));                                            \
    EXPECT_EQ((it).line, uint64_t(l));                                           \
    EXPECT_NE((it).text.find(reason_part), std::string::npos) << (it).text;      \
  } while (0)

}  // namespace

// ---- formats --------------------------------------------------------------------------------

TEST(Format, ParseAndName) {
  EXPECT_EQ(parse_format("auto"), Format::kAuto);
  EXPECT_EQ(parse_format("TSV"), Format::kTsv);
  EXPECT_EQ(parse_format("csv"), Format::kCsv);
  EXPECT_EQ(parse_format("jsonl"), Format::kJsonl);
  EXPECT_THROW(parse_format("xml"), UsageError);
  EXPECT_STREQ(format_name(Format::kJsonl), "jsonl");
  EXPECT_STREQ(format_name(Format::kTsv), "tsv");
}

TEST(Format, DetectByExtensionThenContent) {
  TempDir d("reader");
  EXPECT_EQ(detect_format(d / "a.tsv"), Format::kTsv);  // by name only: need not exist
  EXPECT_EQ(detect_format(d / "a.TAB.gz"), Format::kTsv);
  EXPECT_EQ(detect_format(d / "a.csv.gz"), Format::kCsv);
  EXPECT_EQ(detect_format(d / "a.ndjson"), Format::kJsonl);
  EXPECT_EQ(detect_format(d / "a.json.gz"), Format::kJsonl);
  write_file(d / "j", "  {\"id\": 1}\n");
  write_file(d / "t", "id\ttext,x\n");
  write_file(d / "c", "id,text\n");
  write_file(d / "u", "id text\n");
  write_file(d / "e", "");
  write_gzip(d / "g", "{\"id\":\"1\",\"text\":\"x\"}\n");
  EXPECT_EQ(detect_format(d / "j"), Format::kJsonl);
  EXPECT_EQ(detect_format(d / "t"), Format::kTsv);
  EXPECT_EQ(detect_format(d / "c"), Format::kCsv);
  EXPECT_EQ(detect_format(d / "g"), Format::kJsonl);
  EXPECT_THROW(detect_format(d / "u"), InputError);
  EXPECT_THROW(detect_format(d / "e"), InputError);
  EXPECT_THROW(detect_format(d / "missing"), IoError);
  // The reader sniffs too.
  ChunkReader r(d / "g", ReaderOptions());
  EXPECT_EQ(r.format(), Format::kJsonl);
}

// ---- TSV ------------------------------------------------------------------------------------

TEST(Tsv, RowsEscapesCrlfAndColumnOrder) {
  TempDir d("reader");
  std::string p = d / "a.tsv";
  write_file(p,
             "label\ttext\tid\textra\r\n"
             "pos\tI lost my job\t1\tx\r\n"
             "\tline\\none\\ttab\\\\back\\rcr \\q\t2\t\r\n"
             "\n"
             "neg\tlast, no newline\t3\tz");
  auto v = read_all(p, with_label());
  ASSERT_EQ(v.size(), 3u);
  EXPECT_GOOD(v[0], 0, 2, "1", "I lost my job");
  EXPECT_EQ(v[0].label, "pos");
  EXPECT_GOOD(v[1], 1, 3, "2", "line\none\ttab\\back\rcr \\q");
  EXPECT_EQ(v[1].label, "");
  EXPECT_GOOD(v[2], 2, 5, "3", "last, no newline");  // the blank line 4 is skipped
  EXPECT_EQ(v[2].label, "neg");
}

TEST(Tsv, WrongFieldCount) {
  TempDir d("reader");
  std::string p = d / "a.tsv";
  write_file(p, "id\ttext\n1\ta\n2\n3\tb\tc\n4\td\n");
  auto v = read_all(p);
  ASSERT_EQ(v.size(), 4u);
  EXPECT_GOOD(v[0], 0, 2, "1", "a");
  EXPECT_BAD(v[1], 1, 3, "expected 2 fields, found 1");
  EXPECT_EQ(v[1].label, "2");
  EXPECT_BAD(v[2], 2, 4, "expected 2 fields, found 3");
  EXPECT_GOOD(v[3], 3, 5, "4", "d");
}

TEST(Tsv, BomHeaderAndSpacesAroundNames) {
  TempDir d("reader");
  std::string p = d / "a.tsv";
  write_file(p, "\xEF\xBB\xBFid \t text\n1\tx\n");
  auto v = read_all(p);
  ASSERT_EQ(v.size(), 1u);
  EXPECT_GOOD(v[0], 0, 2, "1", "x");
}

// ---- CSV ------------------------------------------------------------------------------------

TEST(Csv, QuotingEmbeddedNewlinesAndLineNumbers) {
  TempDir d("reader");
  std::string p = d / "a.csv";
  write_file(p,
             "id,text,label\n"
             "1,\"hello, world\",pos\n"
             "2,\"she said \"\"hi\"\"\nand left\n\n(3 lines)\",\n"
             "3,plain,\"\"\n"
             "\n"
             "\"4\",\"\",neg\n"
             "5,last,x");
  auto v = read_all(p, with_label());
  ASSERT_EQ(v.size(), 5u);
  EXPECT_GOOD(v[0], 0, 2, "1", "hello, world");
  EXPECT_EQ(v[0].label, "pos");
  EXPECT_GOOD(v[1], 1, 3, "2", "she said \"hi\"\nand left\n\n(3 lines)");
  EXPECT_EQ(v[1].label, "");
  EXPECT_GOOD(v[2], 2, 7, "3", "plain");
  EXPECT_BAD(v[3], 3, 9, "empty text");
  EXPECT_GOOD(v[4], 4, 10, "5", "last");
  EXPECT_EQ(v[4].label, "x");
}

TEST(Csv, Crlf) {
  TempDir d("reader");
  std::string p = d / "a.csv";
  write_file(p, "id,text\r\n1,a\r\n2,\"b\r\nc\"\r\n3,\"d\"\r\n4,e\r\n");
  auto v = read_all(p);
  ASSERT_EQ(v.size(), 4u);
  EXPECT_GOOD(v[0], 0, 2, "1", "a");
  EXPECT_GOOD(v[1], 1, 3, "2", "b\r\nc");  // inside quotes the bytes are kept as they are
  EXPECT_GOOD(v[2], 2, 5, "3", "d");
  EXPECT_GOOD(v[3], 3, 6, "4", "e");
}

TEST(Csv, MalformedQuoting) {
  TempDir d("reader");
  std::string p = d / "a.csv";
  write_file(p,
             "id,text\n"
             "1,ab\"c\n"         // quote inside an unquoted field
             "2,ok\n"
             "3,\"x\"y\n"        // text after the closing quote
             "4,fine\n"
             "5,a,b\n"           // three fields
             "6,\"never closed\n"
             "7,more\n");
  auto v = read_all(p);
  ASSERT_EQ(v.size(), 7u);
  EXPECT_BAD(v[0], 0, 2, "quote inside unquoted field 2");
  EXPECT_EQ(v[0].label, "1,ab\"c");
  EXPECT_GOOD(v[1], 1, 3, "2", "ok");
  EXPECT_BAD(v[2], 2, 4, "unexpected character 'y' after the closing quote of field 2");
  EXPECT_GOOD(v[3], 3, 5, "4", "fine");
  EXPECT_BAD(v[4], 4, 6, "expected 2 fields, found 3");
  // The unterminated field runs to the end of the file: a bad row at the line it starts;
  // reading resumes at the next line.
  EXPECT_BAD(v[5], 5, 7, "unterminated quoted field 2");
  EXPECT_GOOD(v[6], 6, 8, "7", "more");
}

TEST(Csv, UnterminatedQuoteAtEof) {
  TempDir d("reader");
  std::string p = d / "a.csv";
  write_file(p, "id,text\n1,a\n2,\"open\nstill open\nend,x");
  auto v = read_all(p);
  ASSERT_EQ(v.size(), 4u);
  EXPECT_GOOD(v[0], 0, 2, "1", "a");
  EXPECT_BAD(v[1], 1, 3, "unterminated quoted field 2 (no closing quote before the end of the file)");
  EXPECT_EQ(v[1].label, "2,\"open");
  // Reading resumes at the next physical line.
  EXPECT_BAD(v[2], 2, 4, "expected 2 fields, found 1");
  EXPECT_GOOD(v[3], 3, 5, "end", "x");
}

// ---- JSONL ----------------------------------------------------------------------------------

TEST(Jsonl, ValuesEscapesAndNestedSkipping) {
  TempDir d("reader");
  std::string p = d / "a.jsonl";
  write_file(p,
             "{\"id\": \"a\", \"text\": \"caf\\u00e9 \\ud83d\\ude00 \\\"q\\\" \\\\ \\/ \\b\\f\\n\\r\\t\", \"label\": 1}\n"
             "{\"meta\": {\"text\": \"not me\", \"deep\": [1, [2, {\"}\": \"{[\"}], -3.5e+2, true, null]}, "
             "\"text\": \"real\", \"id\": 42, \"label\": null}\n"
             "\n"
             "   \n"
             "{\"id\": true, \"text\": \"raw \xC3\xA9 bytes\", \"label\": false, \"tail\": []}\r\n"
             "{\"id\":\"d\",\"text\":\"x\",\"text\":\"last wins\"}\n");
  auto v = read_all(p, with_label());
  ASSERT_EQ(v.size(), 4u);
  EXPECT_GOOD(v[0], 0, 1, "a", "caf\u00E9 \U0001F600 \"q\" \\ / \b\f\n\r\t");
  EXPECT_EQ(v[0].label, "1");
  EXPECT_GOOD(v[1], 1, 2, "42", "real");
  EXPECT_EQ(v[1].label, "");
  EXPECT_GOOD(v[2], 2, 5, "true", "raw \u00E9 bytes");
  EXPECT_EQ(v[2].label, "false");
  EXPECT_GOOD(v[3], 3, 6, "d", "last wins");
}

TEST(Jsonl, BadRows) {
  TempDir d("reader");
  std::string p = d / "a.jsonl";
  write_file(p,
             "{\"id\": \"1\", \"text\": \"ok\"}\n"
             "{\"id\": \"2\"}\n"                                // line 2: missing text
             "{\"id\": \"3\", \"text\": null}\n"                // line 3: null text
             "{\"id\": \"4\", \"text\": {\"a\": 1}}\n"          // line 4: object
             "{\"id\": \"5\", \"text\": \"x\",}\n"              // line 5: trailing comma
             "{\"id\": \"6\", \"text\": \"\\ud800 lone\"}\n"    // line 6: lone surrogate
             "[1, 2]\n"                                         // line 7: not an object
             "{\"id\": \"8\", \"text\": \"x\"} extra\n"         // line 8: trailing data
             "{\"id\": \"9\", \"text\": \"tab\tinside\"}\n"     // line 9: raw control char
             "{\"id\": \"10\", \"text\": [\"a\"]}\n"            // line 10: array
             "{\"id\": \"11\", \"text\": 01}\n"                 // line 11: bad number
             "{\"id\": \"12\", \"text\": \"\\x\"}\n"            // line 12: bad escape
             "{\"id\": \"13\", \"text\": \"unterminated}\n"     // line 13
             "{\"text\": \"no id\"}\n"                          // line 14
             "{\"id\": \"15\", \"text\": \"fine\"}\n"
             "{\"id\": \"16\", \"text\": \"\\udc00\"}\n"          // line 16: lone low surrogate
             "{\"id\": \"17\", \"text\": \"\\ud800\\u0041\"}\n");  // line 17: high + non-low
  auto v = read_all(p);
  ASSERT_EQ(v.size(), 17u);
  EXPECT_BAD(v[15], 15, 16, "lone low surrogate");
  EXPECT_BAD(v[16], 16, 17, "lone high surrogate");
  EXPECT_GOOD(v[0], 0, 1, "1", "ok");
  EXPECT_BAD(v[1], 1, 2, "missing key 'text'");
  EXPECT_BAD(v[2], 2, 3, "key 'text' is null");
  EXPECT_BAD(v[3], 3, 4, "value of 'text' is an object; expected a string, number or boolean");
  EXPECT_BAD(v[4], 4, 5, "malformed JSON at byte 24: expected a string key");
  EXPECT_BAD(v[5], 5, 6, "malformed JSON at byte 21: invalid \\u escape: lone high surrogate");
  EXPECT_BAD(v[6], 6, 7, "malformed JSON at byte 0: not a JSON object");
  EXPECT_BAD(v[7], 7, 8, "unexpected data after the end of the object");
  EXPECT_BAD(v[8], 8, 9, "control character");
  EXPECT_BAD(v[9], 9, 10, "is an array");
  EXPECT_BAD(v[10], 10, 11, "malformed JSON");
  EXPECT_BAD(v[11], 11, 12, "invalid escape");
  EXPECT_BAD(v[12], 12, 13, "unterminated string");
  EXPECT_BAD(v[13], 13, 14, "missing key 'id'");
  EXPECT_GOOD(v[14], 14, 15, "15", "fine");
  EXPECT_EQ(v[4].label, "{\"id\": \"5\", \"text\": \"x\",}");
}

TEST(Jsonl, DeepNestingIsRejectedNotCrashed) {
  TempDir d("reader");
  std::string p = d / "a.jsonl";
  std::string deep = "{\"id\":\"1\",\"text\":\"t\",\"x\":" + std::string(100000, '[') + std::string(100000, ']') + "}\n";
  write_file(p, deep + "{\"id\":\"2\",\"text\":\"t\"}\n");
  auto v = read_all(p);
  ASSERT_EQ(v.size(), 2u);
  EXPECT_BAD(v[0], 0, 1, "nesting too deep");
  EXPECT_GOOD(v[1], 1, 2, "2", "t");
}

// ---- checks shared by all formats ---------------------------------------------------------

TEST(Rows, InvalidUtf8EmptyAndDuplicates) {
  TempDir d("reader");
  std::string p = d / "a.tsv";
  write_file(p,
             "id\ttext\n"
             "a\tfine\n"
             "b\tbad \xC3\x28 byte\n"      // line 3: invalid continuation at byte 4
             "c\toverlong \xC0\xAF\n"      // line 4: overlong at byte 9
             "d\tsurrogate \xED\xA0\x80\n" // line 5: UTF-16 surrogate at byte 10
             "\xFF\tx\n"                   // line 6: invalid id
             "e\t  \t \n"                  // line 7: wrong count (3 fields)
             "f\t \xE3\x80\x80 \n"         // line 8: blank (ideographic space)
             " \tx\n"                      // line 9: empty id
             "a\tagain\n"                  // line 10: duplicate of line 2
             "g\tnul \\0 ok\n"             // line 11: backslash-zero is not an escape
             "h\tlast\n");
  auto v = read_all(p);
  ASSERT_EQ(v.size(), 11u);
  EXPECT_GOOD(v[0], 0, 2, "a", "fine");
  EXPECT_BAD(v[1], 1, 3, "invalid UTF-8 at byte 4 of column 'text'");
  EXPECT_BAD(v[2], 2, 4, "invalid UTF-8 at byte 9 of column 'text'");
  EXPECT_BAD(v[3], 3, 5, "invalid UTF-8 at byte 10 of column 'text'");
  EXPECT_BAD(v[4], 4, 6, "invalid UTF-8 at byte 0 of column 'id'");
  EXPECT_BAD(v[5], 5, 7, "expected 2 fields, found 3");
  EXPECT_BAD(v[6], 6, 8, "empty text");
  EXPECT_BAD(v[7], 7, 9, "empty id");
  EXPECT_BAD(v[8], 8, 10, "duplicate id 'a' (first seen at line 2)");
  EXPECT_GOOD(v[9], 9, 11, "g", "nul \\0 ok");
  EXPECT_GOOD(v[10], 10, 12, "h", "last");
}

TEST(Rows, NulCharacterFromJsonEscapeIsBad) {
  TempDir d("reader");
  std::string p = d / "a.jsonl";
  write_file(p, "{\"id\":\"1\",\"text\":\"a\\u0000b\"}\n");
  auto v = read_all(p);
  ASSERT_EQ(v.size(), 1u);
  EXPECT_BAD(v[0], 0, 1, "NUL character at byte 1 of column 'text'");
}

TEST(Rows, RawIsTruncatedTo200Bytes) {
  TempDir d("reader");
  std::string p = d / "a.tsv";
  write_file(p, "id\ttext\n" + std::string(500, 'x') + "\n");
  auto v = read_all(p);
  ASSERT_EQ(v.size(), 1u);
  EXPECT_TRUE(v[0].bad);
  EXPECT_EQ(v[0].label, std::string(200, 'x'));
}

TEST(Rows, MissingColumnListsColumnsFound) {
  TempDir d("reader");
  write_file(d / "a.tsv", "id\tbody\tlabel\n1\tx\ty\n");
  std::string msg = error_of([&] { ChunkReader r(d / "a.tsv", ReaderOptions()); });
  EXPECT_NE(msg.find("a.tsv"), std::string::npos) << msg;
  EXPECT_NE(msg.find("no column 'text'"), std::string::npos) << msg;
  EXPECT_NE(msg.find("columns found: 'id', 'body', 'label'"), std::string::npos) << msg;
  EXPECT_THROW(ChunkReader(d / "a.tsv", ReaderOptions()), InputError);

  write_file(d / "b.csv", "id,text\n1,x\n");
  msg = error_of([&] { ChunkReader r(d / "b.csv", with_label("gold")); });
  EXPECT_NE(msg.find("no column 'gold'"), std::string::npos) << msg;
  EXPECT_NE(msg.find("'id', 'text'"), std::string::npos) << msg;

  write_file(d / "c.tsv", "id\ttext\tid\n");
  msg = error_of([&] { ChunkReader r(d / "c.tsv", ReaderOptions()); });
  EXPECT_NE(msg.find("appears twice"), std::string::npos) << msg;

  write_file(d / "empty.csv", "");
  EXPECT_THROW(ChunkReader(d / "empty.csv", ReaderOptions()), InputError);
  write_file(d / "empty.jsonl", "");
  EXPECT_TRUE(read_all(d / "empty.jsonl").empty());
  EXPECT_THROW(ChunkReader(d / "nope.tsv", ReaderOptions()), IoError);
}

// ---- over-long lines ------------------------------------------------------------------------

TEST(LongLines, ReportedAndReadingContinues) {
  TempDir d("reader");
  ReaderOptions o;
  o.max_line_bytes = 40;
  write_file(d / "a.tsv", "id\ttext\n1\tshort\n2\t" + std::string(100, 'x') + "\n3\tafter\n4\t" +
                              std::string(41, 'y') + "\n5\t" + std::string(38, 'z') + "\n");
  auto v = read_all(d / "a.tsv", o);
  ASSERT_EQ(v.size(), 5u);
  EXPECT_GOOD(v[0], 0, 2, "1", "short");
  EXPECT_BAD(v[1], 1, 3, "line longer than max_line_bytes (40 bytes)");
  EXPECT_EQ(v[1].label.substr(0, 5), "2\txxx");
  EXPECT_GOOD(v[2], 2, 4, "3", "after");
  EXPECT_BAD(v[3], 3, 5, "longer than max_line_bytes");
  EXPECT_GOOD(v[4], 4, 6, "5", std::string(38, 'z'));  // exactly 40 bytes: allowed

  write_file(d / "a.jsonl", "{\"id\":\"1\",\"text\":\"" + std::string(100, 'x') + "\"}\n{\"id\":\"2\",\"text\":\"b\"}\n");
  v = read_all(d / "a.jsonl", o);
  ASSERT_EQ(v.size(), 2u);
  EXPECT_BAD(v[0], 0, 1, "line longer than max_line_bytes");
  EXPECT_GOOD(v[1], 1, 2, "2", "b");

  // CSV: a record (here spanning lines inside quotes) longer than the limit.
  write_file(d / "a.csv", "id,text\n1,\"" + std::string(30, 'a') + "\n" + std::string(30, 'b') +
                              "\"\n2,after\n");
  v = read_all(d / "a.csv", o);
  ASSERT_EQ(v.size(), 2u);
  EXPECT_BAD(v[0], 0, 2, "record longer than max_line_bytes (40 bytes)");
  EXPECT_GOOD(v[1], 1, 4, "2", "after");
}

TEST(LongLines, LongerThanTheBufferWithDefaultLimit) {
  TempDir d("reader");
  // 9 MiB line: more than the default limit (1 MiB) and the 4 MiB buffer.
  std::string big(9 << 20, 'q');
  std::string content = "id\ttext\n1\tbefore\n2\t" + big + "\n3\tafter\n";
  write_file(d / "a.tsv", content);
  write_gzip(d / "a.tsv.gz", content);
  for (const char* name : {"a.tsv", "a.tsv.gz"}) {
    auto v = read_all(d / name);
    ASSERT_EQ(v.size(), 3u) << name;
    EXPECT_GOOD(v[0], 0, 2, "1", "before");
    EXPECT_BAD(v[1], 1, 3, "line longer than max_line_bytes (1048576 bytes)");
    EXPECT_EQ(v[1].label.size(), 200u);
    EXPECT_GOOD(v[2], 2, 4, "3", "after");
  }
  // A long line is fine when the limit allows it (the buffer grows).
  ReaderOptions o;
  o.max_line_bytes = 16 << 20;
  auto v = read_all(d / "a.tsv", o);
  ASSERT_EQ(v.size(), 3u);
  EXPECT_GOOD(v[1], 1, 3, "2", big);
}

// ---- gzip -----------------------------------------------------------------------------------

TEST(Gzip, SameRowsAsPlainInEveryFormat) {
  TempDir d("reader");
  const std::vector<std::pair<std::string, std::string>> files = {
      {"a.tsv", "id\ttext\n1\tx\\ty\n2\n3\tz\n"},
      {"a.csv", "id,text\n1,\"a\nb\"\n2,c\"\n3,d\n"},
      {"a.jsonl", "{\"id\":\"1\",\"text\":\"\\u00e9\"}\n{\"id\":2}\n{\"id\":\"3\",\"text\":\"e\"}\n"}};
  for (const auto& f : files) {
    write_file(d / f.first, f.second);
    write_gzip(d / (f.first + ".gz"), f.second);
    auto a = read_all(d / f.first);
    auto b = read_all(d / (f.first + ".gz"));
    ASSERT_EQ(a.size(), 3u) << f.first;
    ASSERT_EQ(a.size(), b.size());
    for (size_t i = 0; i < a.size(); ++i) {
      EXPECT_EQ(a[i].bad, b[i].bad);
      EXPECT_EQ(a[i].row, b[i].row);
      EXPECT_EQ(a[i].line, b[i].line);
      EXPECT_EQ(a[i].id, b[i].id);
      EXPECT_EQ(a[i].text, b[i].text);
      EXPECT_EQ(a[i].label, b[i].label);
    }
    EXPECT_TRUE(a[1].bad) << f.first;
  }
  // Gzip is detected by content, not by name.
  write_gzip(d / "plain-name.tsv", "id\ttext\n1\tx\n");
  auto v = read_all(d / "plain-name.tsv");
  ASSERT_EQ(v.size(), 1u);
  EXPECT_GOOD(v[0], 0, 2, "1", "x");
}

TEST(Gzip, MultiMemberFile) {
  TempDir d("reader");
  write_gzip(d / "a.tsv.gz", "id\ttext\n1\tone\n2\ttw");
  write_gzip(d / "a.tsv.gz", "o\n3\tthree\n", "ab");  // appends a second member
  auto v = read_all(d / "a.tsv.gz");
  ASSERT_EQ(v.size(), 3u);
  EXPECT_GOOD(v[1], 1, 3, "2", "two");
  EXPECT_GOOD(v[2], 2, 4, "3", "three");
}

namespace {
std::string numbered_rows(int n) {
  std::string s = "id\ttext\n";
  Rng rng(3);
  for (int i = 0; i < n; ++i) {
    s += std::to_string(i) + "\t";
    for (int k = 0; k < 12; ++k) s += std::to_string(rng() % 100000) + " ";
    s += "\n";
  }
  return s;
}
}  // namespace

TEST(Gzip, TruncatedThrowsNamingFileAndLine) {
  TempDir d("reader");
  std::string content = numbered_rows(60000);
  write_gzip(d / "a.tsv.gz", content);
  std::string gz = trawl::test::read_file(d / "a.tsv.gz");
  write_file(d / "cut.tsv.gz", gz.substr(0, gz.size() / 2));
  ChunkReader r(d / "cut.tsv.gz", ReaderOptions());
  Row row;
  BadRow bad;
  uint64_t rows = 0;
  std::string msg;
  try {
    for (;;) {
      auto st = r.next(row, bad);
      ASSERT_NE(st, ChunkReader::Status::kEnd) << "a truncated file must not end quietly";
      ASSERT_EQ(st, ChunkReader::Status::kRow);
      ASSERT_EQ(row.id, std::to_string(rows));
      ++rows;
    }
  } catch (const InputError& e) {
    msg = e.what();
  }
  EXPECT_GT(rows, 1000u);
  EXPECT_LT(rows, 60000u);
  EXPECT_NE(msg.find("cut.tsv.gz"), std::string::npos) << msg;
  // Every complete line was delivered: header + rows.
  EXPECT_NE(msg.find("truncated gzip stream: unexpected end of file after line " + std::to_string(rows + 1)),
            std::string::npos)
      << msg;
  EXPECT_GT(r.bytes_consumed(), 0u);
  EXPECT_LE(r.bytes_consumed(), r.file_bytes());

  // Cut inside the header (just after the gzip header).
  write_file(d / "tiny.tsv.gz", gz.substr(0, 12));
  msg = error_of([&] { ChunkReader r2(d / "tiny.tsv.gz", ReaderOptions()); });
  EXPECT_NE(msg.find("truncated gzip stream"), std::string::npos) << msg;
  EXPECT_NE(msg.find("after line 0"), std::string::npos) << msg;
}

TEST(Gzip, CorruptDataThrows) {
  TempDir d("reader");
  std::string content = numbered_rows(20000);
  write_gzip(d / "a.tsv.gz", content);
  std::string gz = trawl::test::read_file(d / "a.tsv.gz");
  for (size_t i = gz.size() / 2; i < gz.size() / 2 + 64; ++i) gz[i] = static_cast<char>(gz[i] ^ 0x5A);
  write_file(d / "bad.tsv.gz", gz);
  std::string msg = error_of([&] { read_all(d / "bad.tsv.gz"); });
  EXPECT_NE(msg.find("bad.tsv.gz"), std::string::npos) << msg;
  EXPECT_NE(msg.find("corrupt gzip data"), std::string::npos) << msg;
  EXPECT_NE(msg.find("after line"), std::string::npos) << msg;

  // Trailing garbage after a complete stream.
  std::string ok = trawl::test::read_file(d / "a.tsv.gz");
  write_file(d / "tail.tsv.gz", ok + "garbage");
  msg = error_of([&] { read_all(d / "tail.tsv.gz"); });
  EXPECT_NE(msg.find("unexpected data after the end of the gzip stream"), std::string::npos) << msg;
}

TEST(Gzip, BytesConsumedIsCompressedPositionAndMonotonic) {
  TempDir d("reader");
  write_gzip(d / "a.tsv.gz", numbered_rows(100000));
  ChunkReader r(d / "a.tsv.gz", ReaderOptions());
  Row row;
  BadRow bad;
  uint64_t last = 0;
  int changes = 0;
  while (r.next(row, bad) != ChunkReader::Status::kEnd) {
    uint64_t b = r.bytes_consumed();
    ASSERT_GE(b, last);
    if (b != last) ++changes;
    last = b;
  }
  EXPECT_EQ(r.bytes_consumed(), r.file_bytes());
  EXPECT_LT(r.file_bytes(), 100000u * 60);  // compressed size, not decompressed
  EXPECT_GE(changes, 2);
}

// ---- round trips of generated files larger than the 4 MiB buffer ----------------------------

namespace {

struct Gen {
  std::string id, text, label;
};

std::vector<Gen> generate(int n, uint64_t seed) {
  // Texts with the characters each format must escape: tabs, newlines, CR, quotes,
  // commas, backslashes, non-ASCII and astral characters.
  const std::vector<std::string> pieces = {"job", " ", ",", "\"", "\t", "\n", "\r\n", "\\", "caf\u00E9",
                                           "\U0001F600", "'", "{", "}", "[", "x", "lost my job", "\u6771"};
  Rng rng(seed);
  std::vector<Gen> out(n);
  for (int i = 0; i < n; ++i) {
    out[i].id = "id" + std::to_string(i);
    int k = 1 + static_cast<int>(rng.below(25));
    out[i].text = "t";
    for (int j = 0; j < k; ++j) out[i].text += pieces[rng.below(pieces.size())];
    out[i].label = rng.below(3) == 0 ? "" : std::to_string(rng.below(2));
  }
  return out;
}

std::string tsv_escape(const std::string& s) {
  std::string o;
  for (char c : s) {
    if (c == '\t') o += "\\t";
    else if (c == '\n') o += "\\n";
    else if (c == '\r') o += "\\r";
    else if (c == '\\') o += "\\\\";
    else o += c;
  }
  return o;
}

std::string csv_quote(const std::string& s) {
  std::string o = "\"";
  for (char c : s) {
    if (c == '"') o += "\"\"";
    else o += c;
  }
  return o + "\"";
}

std::string json_escape(const std::string& s, bool ascii_only) {
  std::string o = "\"";
  for (size_t i = 0; i < s.size();) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    if (c == '"') o += "\\\"", ++i;
    else if (c == '\\') o += "\\\\", ++i;
    else if (c == '\n') o += "\\n", ++i;
    else if (c == '\r') o += "\\r", ++i;
    else if (c == '\t') o += "\\t", ++i;
    else if (c >= 0x80 && ascii_only) {
      // Decode and write \uXXXX (surrogate pairs above the BMP).
      uint32_t cp;
      size_t len = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : 2;
      cp = c & (len == 4 ? 0x07 : len == 3 ? 0x0F : 0x1F);
      for (size_t k = 1; k < len; ++k) cp = (cp << 6) | (static_cast<unsigned char>(s[i + k]) & 0x3F);
      i += len;
      char buf[16];
      if (cp >= 0x10000) {
        cp -= 0x10000;
        std::snprintf(buf, sizeof buf, "\\u%04X\\u%04x", 0xD800 + (cp >> 10), 0xDC00 + (cp & 0x3FF));
      } else {
        std::snprintf(buf, sizeof buf, "\\u%04x", cp);
      }
      o += buf;
    } else {
      o += s[i++];
    }
  }
  return o + "\"";
}

}  // namespace

TEST(RoundTrip, GeneratedFilesInEveryFormatPlainAndGzip) {
  TempDir d("reader");
  const int n = 120000;  // ~8 MB per file: several buffer refills
  auto rows = generate(n, 99);
  std::string tsv = "id\ttext\tlabel\n", csv = "label,id,text\r\n", jsonl;
  std::vector<uint64_t> csv_line(n);
  uint64_t line = 2;
  for (int i = 0; i < n; ++i) {
    const Gen& g = rows[i];
    tsv += g.id + "\t" + tsv_escape(g.text) + "\t" + g.label + "\n";
    csv_line[i] = line;
    std::string rec = g.label + "," + g.id + "," + csv_quote(g.text) + "\r\n";
    for (char c : rec) line += c == '\n';
    csv += rec;
    jsonl += "{\"n\": [1, {\"a\": \"}\"}], \"id\": " + json_escape(g.id, false) + ", \"text\": " +
             json_escape(g.text, i % 2 == 0) + (g.label.empty() ? "" : ", \"label\": " + g.label) + "}\n";
  }
  write_file(d / "r.tsv", tsv);
  write_gzip(d / "r.tsv.gz", tsv);
  write_file(d / "r.csv", csv);
  write_gzip(d / "r.csv.gz", csv);
  write_file(d / "r.jsonl", jsonl);
  write_gzip(d / "r.jsonl.gz", jsonl);
  for (const char* name : {"r.tsv", "r.tsv.gz", "r.csv", "r.csv.gz", "r.jsonl", "r.jsonl.gz"}) {
    auto v = read_all(d / name, with_label());
    ASSERT_EQ(v.size(), static_cast<size_t>(n)) << name;
    bool is_csv = std::string(name).find(".csv") != std::string::npos;
    bool is_tsv = std::string(name).find(".tsv") != std::string::npos;
    for (int i = 0; i < n; ++i) {
      uint64_t want_line = is_csv ? csv_line[i] : is_tsv ? i + 2 : i + 1;
      ASSERT_FALSE(v[i].bad) << name << " row " << i << ": " << v[i].text;
      ASSERT_EQ(v[i].row, static_cast<uint64_t>(i)) << name;
      ASSERT_EQ(v[i].line, want_line) << name << " row " << i;
      ASSERT_EQ(v[i].id, rows[i].id) << name;
      ASSERT_EQ(v[i].text, rows[i].text) << name << " row " << i;
      ASSERT_EQ(v[i].label, rows[i].label) << name << " row " << i;
    }
  }
}
