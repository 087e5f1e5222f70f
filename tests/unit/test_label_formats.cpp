// trawl-libs: trawl_label_formats trawl_labels trawl_io
#include <gtest/gtest.h>

#include <string>

#include "core/error.h"
#include "core/fs.h"
#include "labels/formats.h"
#include "labels/journal.h"
#include "labels/json_value.h"
#include "labels/labels.h"
#include "support/testutil.h"

using namespace trawl;
using labels::ImportOptions;
using labels::QueueItem;

static const char* kQueue =
    "# trawl-format: queue\n"
    "# trawl-format-version: 1\n"
    "# trawl-version: test\n"
    "# config: strategy = least-confidence\n"
    "uid\tid\ttext\tclass\tscore\trank\tsource\tround\n"
    "18446744073709551615\tt-1\ta \\\\ b \"q\"\\ttab\tpos\t0.5\t1\tleast-confidence\t3\n"
    "42\tt-2\tline\\nbreak\t\t0.25\t2\tleast-confidence\t3\n";

static std::vector<QueueItem> queue_in(const test::TempDir& d) {
  test::write_file(d / "queue.tsv", kQueue);
  return labels::read_queue(d / "queue.tsv");
}

// ---- JSON DOM

static std::string json_error(const std::string& text) {
  try {
    json::parse(text, "x.json");
  } catch (const InputError& e) {
    return e.what();
  }
  return "";
}

TEST(Json, ParsesStrictly) {
  auto v = json::parse(" {\"a\": [1, -2.5e3, true, null, \"\\u00e9\\ud83d\\ude00\\n\"], \"b\": {\"c\": 18446744073709551615}} ", "x");
  ASSERT_TRUE(v.is_object());
  ASSERT_EQ(v.members.size(), 2u);
  const auto& a = *v.get("a");
  ASSERT_EQ(a.items.size(), 5u);
  EXPECT_TRUE(a.items[0].is_integer());
  EXPECT_FALSE(a.items[1].is_integer());
  EXPECT_DOUBLE_EQ(a.items[1].as_double(), -2500.0);
  EXPECT_TRUE(a.items[2].b);
  EXPECT_TRUE(a.items[3].is_null());
  EXPECT_EQ(a.items[4].str, "\xc3\xa9\xf0\x9f\x98\x80\n");
  uint64_t u = 0;
  ASSERT_TRUE(v.get("b")->get("c")->as_u64(&u));
  EXPECT_EQ(u, 18446744073709551615ULL);  // exact, never through a double
  EXPECT_FALSE(json::parse("18446744073709551616", "x").as_u64(&u));
  EXPECT_FALSE(json::parse("-1", "x").as_u64(&u));
  EXPECT_FALSE(json::parse("12.0", "x").as_u64(&u));
  EXPECT_EQ(v.get("zz"), nullptr);
}

TEST(Json, ErrorsNameLineAndColumn) {
  EXPECT_NE(json_error("{\"a\": 1,\n \"a\": 2}").find("x.json:2:5: invalid JSON: duplicate key \"a\""), std::string::npos)
      << json_error("{\"a\": 1,\n \"a\": 2}");
  EXPECT_NE(json_error("[1, 2] x").find("x.json:1:8: invalid JSON: unexpected 'x' after the JSON value"), std::string::npos);
  EXPECT_NE(json_error("[1, 2").find("x.json:1:6: invalid JSON: expected ',' or ']' in an array"), std::string::npos);
  EXPECT_NE(json_error("[01]").find("leading zero"), std::string::npos);
  EXPECT_NE(json_error("\"a\tb\"").find("control character"), std::string::npos);
  EXPECT_NE(json_error("\"\\ud800\"").find("lone high surrogate"), std::string::npos);
  EXPECT_NE(json_error("{'a': 1}").find("expected a string key"), std::string::npos);
  EXPECT_NE(json_error("[tru]").find("expected 'true'"), std::string::npos);
  EXPECT_NE(json_error("[1,]").find("unexpected ']'"), std::string::npos);
  EXPECT_NE(json_error("").find("unexpected end of input"), std::string::npos);
}

TEST(Json, QuotesAndNumbers) {
  EXPECT_EQ(json::quote("a\"b\\c\n\t\x01\xc3\xa9"), "\"a\\\"b\\\\c\\n\\t\\u0001\xc3\xa9\"");
  EXPECT_EQ(json::number(0.25), "0.25");
  EXPECT_EQ(json::number(0.1), "0.1");
  EXPECT_EQ(json::number(-3), "-3");
  EXPECT_EQ(json::number(1.0 / 3), "0.3333333333333333");
}

// ---- queue and export

TEST(Queue, ReadsTrawlSelectsQueue) {
  test::TempDir d("fmt");
  auto q = queue_in(d);
  ASSERT_EQ(q.size(), 2u);
  EXPECT_EQ(q[0].uid, 18446744073709551615ULL);
  EXPECT_EQ(q[0].text, "a \\ b \"q\"\ttab");
  EXPECT_EQ(q[0].cls, "pos");
  EXPECT_EQ(q[0].rank, 1u);
  EXPECT_EQ(q[0].round, 3u);
  EXPECT_EQ(q[1].text, "line\nbreak");
  EXPECT_DOUBLE_EQ(q[1].score, 0.25);
}

static std::string queue_error(const std::string& content) {
  test::TempDir d("fmt");
  test::write_file(d / "q.tsv", content);
  try {
    labels::read_queue(d / "q.tsv");
  } catch (const InputError& e) {
    return e.what();
  }
  return "";
}

TEST(Queue, BadQueuesAreErrors) {
  const std::string h = "# trawl-format: queue\nuid\tid\ttext\tclass\tscore\trank\tsource\tround\n";
  EXPECT_NE(queue_error("uid\tlabel\n").find("q.tsv:1: not a queue"), std::string::npos);
  EXPECT_NE(queue_error("# trawl-format: scores\n").find("q.tsv:1: trawl-format 'scores'"), std::string::npos);
  EXPECT_NE(queue_error("# trawl-format: queue\n# trawl-format-version: 2\n").find("q.tsv:2: queue version '2'"), std::string::npos);
  EXPECT_NE(queue_error(h + "x1\ta\tb\t\t0.1\t1\ts\t0\n").find("q.tsv:3: uid 'x1'"), std::string::npos);
  EXPECT_NE(queue_error(h + "1\ta\tb\t\tnan?\t1\ts\t0\n").find("q.tsv:3: score 'nan?'"), std::string::npos);
  EXPECT_NE(queue_error(h + "1\ta\tb\t\t0.1\t1\ts\t0\n1\ta\tb\t\t0.1\t2\ts\t0\n").find("q.tsv:4: uid 1 is queued twice"),
            std::string::npos);
  EXPECT_NE(queue_error("# trawl-format: queue\nuid\tid\ttext\n").find("no column 'class'"), std::string::npos);
}

TEST(Export, NeutralTsvAndJsonl) {
  test::TempDir d("fmt");
  auto q = queue_in(d);
  EXPECT_EQ(labels::export_queue(q, {"tsv", {}}),
            "item_id\ttext\tclass\tal_score\trank\tsource\titeration\n"
            "18446744073709551615\ta \\\\ b \"q\"\\ttab\tpos\t0.5\t1\tleast-confidence\t3\n"
            "42\tline\\nbreak\t\t0.25\t2\tleast-confidence\t3\n");
  EXPECT_EQ(labels::export_queue(q, {"jsonl", {}}),
            "{\"item_id\":18446744073709551615,\"text\":\"a \\\\ b \\\"q\\\"\\ttab\",\"class\":\"pos\","
            "\"al_score\":0.5,\"rank\":1,\"source\":\"least-confidence\",\"iteration\":3}\n"
            "{\"item_id\":42,\"text\":\"line\\nbreak\",\"class\":\"\",\"al_score\":0.25,\"rank\":2,"
            "\"source\":\"least-confidence\",\"iteration\":3}\n");
}

TEST(Export, LabelStudioTasksAndConfig) {
  test::TempDir d("fmt");
  auto q = queue_in(d);
  const std::string out = labels::export_queue(q, {"label-studio", {"neg", "pos"}});
  auto v = json::parse(out, "ls.json");  // valid JSON
  ASSERT_TRUE(v.is_array());
  ASSERT_EQ(v.items.size(), 2u);
  const auto& t0 = v.items[0];
  EXPECT_EQ(t0.get("data")->get("text")->str, "a \\ b \"q\"\ttab");
  EXPECT_EQ(t0.get("data")->get("item_id")->str, "18446744073709551615");  // an integer literal
  EXPECT_TRUE(t0.get("data")->get("item_id")->is_integer());
  EXPECT_EQ(t0.get("data")->get("al_score")->str, "0.5");
  const auto& p = t0.get("predictions")->items.at(0);
  EXPECT_EQ(p.get("score")->str, "0.5");
  EXPECT_EQ(p.get("model_version")->str, "trawl round 3 least-confidence");
  const auto& r = p.get("result")->items.at(0);
  EXPECT_EQ(r.get("from_name")->str, "label");
  EXPECT_EQ(r.get("to_name")->str, "text");
  EXPECT_EQ(r.get("type")->str, "choices");
  EXPECT_EQ(r.get("value")->get("choices")->items.at(0).str, "pos");
  EXPECT_TRUE(v.items[1].get("predictions")->items.at(0).get("result")->items.empty());  // no queued class
  // predictions[].score is rank / queue size: Label Studio's ascending sort gives the queue order
  EXPECT_EQ(v.items.size(), 2u);
  EXPECT_EQ(v.items[1].get("predictions")->items.at(0).get("score")->str, "1");
  EXPECT_EQ(labels::label_studio_config({"neg", "a&b"}),
            "<View>\n  <Text name=\"text\" value=\"$text\"/>\n  <Choices name=\"label\" toName=\"text\" choice=\"single\">\n"
            "    <Choice value=\"neg\"/>\n    <Choice value=\"a&amp;b\"/>\n  </Choices>\n</View>\n");
}

TEST(Export, LabelboxAndProdigy) {
  test::TempDir d("fmt");
  auto q = queue_in(d);
  EXPECT_EQ(labels::export_queue(q, {"labelbox", {}}),
            "{\"row_data\":\"a \\\\ b \\\"q\\\"\\ttab\",\"global_key\":\"18446744073709551615\","
            "\"external_id\":\"t-1\",\"priority\":1}\n"
            "{\"row_data\":\"line\\nbreak\",\"global_key\":\"42\",\"external_id\":\"t-2\",\"priority\":2}\n");
  EXPECT_EQ(labels::export_queue(q, {"prodigy", {"neg", "pos"}}),
            "{\"text\":\"a \\\\ b \\\"q\\\"\\ttab\",\"meta\":{\"id\":18446744073709551615,\"score\":0.5,"
            "\"class\":\"pos\",\"source\":\"least-confidence\"},\"options\":[{\"id\":\"neg\",\"text\":\"neg\"},"
            "{\"id\":\"pos\",\"text\":\"pos\"}],\"priority\":1,\"score\":0.5}\n"
            "{\"text\":\"line\\nbreak\",\"meta\":{\"id\":42,\"score\":0.25,\"class\":\"\",\"source\":\"least-confidence\"},"
            "\"options\":[{\"id\":\"neg\",\"text\":\"neg\"},{\"id\":\"pos\",\"text\":\"pos\"}],\"priority\":2,\"score\":0.25}\n");
  // binary tasks need the queued class
  std::vector<QueueItem> one(q.begin(), q.begin() + 1);
  EXPECT_EQ(labels::export_queue(one, {"prodigy", {}}),
            "{\"text\":\"a \\\\ b \\\"q\\\"\\ttab\",\"meta\":{\"id\":18446744073709551615,\"score\":0.5,"
            "\"class\":\"pos\",\"source\":\"least-confidence\"},\"label\":\"pos\",\"priority\":1,\"score\":0.5}\n");
  try {
    labels::export_queue(q, {"prodigy", {}});
    FAIL();
  } catch (const UsageError& e) {
    EXPECT_NE(std::string(e.what()).find("queue line 7 (uid 42): a binary Prodigy task"), std::string::npos) << e.what();
  }
  EXPECT_THROW(labels::export_queue(q, {"csv", {}}), UsageError);
}

// ---- import

struct Rec {
  uint64_t uid;
  std::string cls, annotator, label, time;
  uint64_t round;
};
static std::vector<Rec> simple(const labels::ImportResult& r) {
  std::vector<Rec> v;
  for (auto& x : r.records) v.push_back({x.uid, x.cls, x.annotator, x.label, x.time, x.round});
  return v;
}
static bool operator==(const Rec& a, const Rec& b) {
  return a.uid == b.uid && a.cls == b.cls && a.annotator == b.annotator && a.label == b.label && a.time == b.time &&
         a.round == b.round;
}
static std::ostream& operator<<(std::ostream& o, const Rec& r) {
  return o << "{" << r.uid << "," << r.cls << "," << r.annotator << "," << r.label << "," << r.time << "," << r.round << "}";
}

static labels::ImportResult import_text(const test::TempDir& d, const std::string& name, const std::string& text,
                                        ImportOptions o) {
  test::write_file(d / name, text);
  if (o.now.empty()) o.now = "NOW";
  return labels::import_annotations(d / name, o);
}

TEST(Import, NeutralTsvAndJsonl) {
  test::TempDir d("fmt");
  ImportOptions o;
  o.format = "tsv";
  o.annotator = "dflt";
  auto r = import_text(d, "a.tsv",
                       "item_id\tclass\tannotator_id\tlabel\ttimestamp\tlead_time\n"
                       "7\tpos\tann1\tpos\t2026-01-01T00:00:00Z\t3.5\n"
                       "8\t\t\tneg\t\t\n",
                       o);
  EXPECT_EQ(r.items, 2u);
  EXPECT_EQ(simple(r), (std::vector<Rec>{{7, "pos", "ann1", "pos", "2026-01-01T00:00:00Z", 0}, {8, "", "dflt", "neg", "NOW", 0}}));
  EXPECT_EQ(r.records[0].source, "a.tsv");
  o.format = "jsonl";
  o.has_round = true;
  o.round = 5;
  auto j = import_text(d, "a.jsonl",
                       "{\"item_id\": 18446744073709551615, \"class\": \"pos\", \"annotator_id\": \"u\", \"label\": \"pos\"}\n\n"
                       "{\"item_id\": \"9\", \"annotator_id\": 12, \"label\": \"neg\", \"timestamp\": \"T\"}\n",
                       o);
  EXPECT_EQ(simple(j), (std::vector<Rec>{{18446744073709551615ULL, "pos", "u", "pos", "NOW", 5}, {9, "", "12", "neg", "T", 5}}));
}

TEST(Import, QueueSuppliesClassAndRound) {
  test::TempDir d("fmt");
  auto q = queue_in(d);
  ImportOptions o;
  o.format = "tsv";
  o.queue = &q;
  auto r = import_text(d, "a.tsv", "item_id\tannotator_id\tlabel\n18446744073709551615\ta\tneg\n42\ta\tpos\n", o);
  EXPECT_EQ(simple(r), (std::vector<Rec>{{18446744073709551615ULL, "pos", "a", "neg", "NOW", 3}, {42, "", "a", "pos", "NOW", 3}}));
}

TEST(Import, LabelStudioFullAndMin) {
  test::TempDir d("fmt");
  ImportOptions o;
  o.format = "label-studio";
  auto r = import_text(d, "ls.json", R"([
 {"id": 1, "data": {"text": "t", "item_id": 7, "class": "pos"},
  "annotations": [
   {"id": 10, "completed_by": 3, "was_cancelled": false, "created_at": "2026-01-01T10:00:00.5Z",
    "result": [{"from_name": "label", "to_name": "text", "type": "choices", "value": {"choices": ["pos"]}}]},
   {"id": 11, "completed_by": {"id": 4, "email": "b@x.org"}, "created_at": "2026-01-01T11:00:00Z",
    "result": [{"type": "choices", "value": {"choices": ["neg"]}}]},
   {"id": 12, "completed_by": 5, "was_cancelled": true, "result": []}
  ], "predictions": []},
 {"id": 2, "data": {"text": "u", "item_id": 8}, "annotations": []},
 {"id": 3, "data": {"text": "v", "item_id": 9}, "annotations": [{"completed_by": 3, "result": []}]}
])",
                       o);
  EXPECT_EQ(r.items, 3u);
  EXPECT_EQ(simple(r), (std::vector<Rec>{{7, "pos", "3", "pos", "2026-01-01T10:00:00.5Z", 0},
                                         {7, "pos", "b@x.org", "neg", "2026-01-01T11:00:00Z", 0}}));
  EXPECT_EQ(r.skipped.at("cancelled (skipped) annotations"), 1u);
  EXPECT_EQ(r.skipped.at("tasks without annotations"), 1u);
  EXPECT_EQ(r.skipped.at("annotations without a choice"), 1u);
  auto m = import_text(d, "min.json", R"([
 {"text": "t", "item_id": 7, "id": 1, "label": "pos", "annotator": "a@x.org", "annotation_id": 1, "created_at": "C1"},
 {"text": "t", "item_id": 7, "id": 1, "label": {"choices": ["neg", "pos"]}, "annotator": 2, "created_at": "C2"}
])",
                       o);
  EXPECT_EQ(simple(m), (std::vector<Rec>{{7, "", "a@x.org", "pos", "C1", 0}, {7, "", "2", "neg", "C2", 0}, {7, "", "2", "pos", "C2", 0}}));
}

TEST(Import, LabelboxExportV2) {
  test::TempDir d("fmt");
  ImportOptions o;
  o.format = "labelbox";
  o.classes = {"neg", "pos"};
  auto r = import_text(d, "lb.ndjson",
                       R"({"data_row": {"id": "ck1", "global_key": "7", "row_data": "t"}, "projects": {"p1": {"labels": [)"
                       R"({"label_details": {"created_by": "a@x.org", "created_at": "2026-02-01T00:00:00Z"},)"
                       R"( "annotations": {"classifications": [{"name": "label", "radio_answer": {"name": "Pos", "value": "pos"}}]}},)"
                       R"({"label_details": {"created_by": "b@x.org"}, "annotations": {"classifications": [)"
                       R"({"name": "label", "checklist_answers": [{"name": "neg", "value": "neg"}]}, {"name": "note", "text_answer": {"content": "hm"}}]}}]}}})"
                       "\n"
                       R"({"data_row": {"global_key": "8"}, "projects": {}})"
                       "\n",
                       o);
  EXPECT_EQ(simple(r), (std::vector<Rec>{{7, "", "a@x.org", "pos", "2026-02-01T00:00:00Z", 0}, {7, "", "b@x.org", "neg", "NOW", 0}}));
  EXPECT_EQ(r.skipped.at("free-text classifications"), 1u);
  EXPECT_EQ(r.skipped.at("data rows without labels"), 1u);
}

TEST(Import, ProdigyDbOut) {
  test::TempDir d("fmt");
  ImportOptions o;
  o.format = "prodigy";
  o.negative_label = "neg";
  auto r = import_text(d, "p.jsonl",
                       R"({"text": "t", "meta": {"id": 7, "class": "pos"}, "label": "pos", "answer": "accept", "_annotator_id": "ds-alice", "_timestamp": 1700000000})"
                       "\n"
                       R"({"text": "t", "meta": {"id": 7, "class": "pos"}, "label": "pos", "answer": "reject", "_session_id": "ds-bob"})"
                       "\n"
                       R"({"text": "t", "meta": {"id": 8}, "label": "pos", "answer": "ignore", "_annotator_id": "x"})"
                       "\n"
                       R"({"text": "u", "meta": {"id": 9}, "options": [{"id": "neg", "text": "neg"}, {"id": "pos", "text": "pos"}], "accept": ["neg"], "answer": "accept", "_annotator_id": "c"})"
                       "\n"
                       R"({"text": "u", "meta": {"id": 9}, "options": [{"id": "neg", "text": "neg"}], "accept": [], "answer": "reject", "_annotator_id": "d"})"
                       "\n",
                       o);
  EXPECT_EQ(simple(r), (std::vector<Rec>{{7, "pos", "ds-alice", "pos", "2023-11-14T22:13:20Z", 0},
                                         {7, "pos", "ds-bob", "neg", "NOW", 0},
                                         {9, "", "c", "neg", "NOW", 0}}));
  EXPECT_EQ(r.skipped.at("ignored"), 1u);
  EXPECT_EQ(r.skipped.at("rejected choice tasks"), 1u);
}

static std::string import_error(const std::string& format, const std::string& text, ImportOptions o = {}) {
  test::TempDir d("fmt");
  test::write_file(d / "in.txt", text);
  o.format = format;
  if (o.annotator.empty()) o.annotator = "a";
  try {
    labels::import_annotations(d / "in.txt", o);
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

TEST(Import, EveryBadInputNamesFileRecordAndValue) {
  const std::string h = "item_id\tlabel\n";
  EXPECT_NE(import_error("tsv", h + "12x\tpos\n").find("in.txt:2: item_id '12x' is not an unsigned 64-bit integer"), std::string::npos);
  EXPECT_NE(import_error("tsv", h + "-3\tpos\n").find("in.txt:2: item_id '-3'"), std::string::npos);
  EXPECT_NE(import_error("tsv", h + "18446744073709551616\tpos\n").find("'18446744073709551616'"), std::string::npos);
  EXPECT_NE(import_error("tsv", h + "1\t\n").find("in.txt:2: empty label for uid 1"), std::string::npos);
  EXPECT_NE(import_error("tsv", h + "1\tpos\tx\n").find("in.txt:2: expected 2 tab-separated fields, found 3"), std::string::npos);
  EXPECT_NE(import_error("tsv", "uid\tlabel\n1\tpos\n").find("in.txt:1: the header must name columns 'item_id' and 'label'"),
            std::string::npos);
  EXPECT_NE(import_error("tsv", "").find("in.txt: empty file"), std::string::npos);
  ImportOptions cl;
  cl.classes = {"neg", "pos"};
  EXPECT_NE(import_error("tsv", h + "1\tpos\n2\tPOS\n", cl).find("in.txt:3: label 'POS' of uid 2 is not one of --classes"),
            std::string::npos);
  std::vector<QueueItem> q(1);
  q[0].uid = 5;
  ImportOptions qo;
  qo.queue = &q;
  EXPECT_NE(import_error("tsv", h + "5\tpos\n6\tpos\n", qo).find("in.txt:3: uid 6 is not in the queue"), std::string::npos);
  ImportOptions noann;
  noann.annotator = "";
  {
    test::TempDir d("fmt");
    test::write_file(d / "in.txt", h + "5\tpos\n");
    noann.format = "tsv";
    try {
      labels::import_annotations(d / "in.txt", noann);
      FAIL();
    } catch (const InputError& e) {
      EXPECT_NE(std::string(e.what()).find("in.txt:2: uid 5 names no annotator (pass --annotator)"), std::string::npos);
    }
  }
  EXPECT_NE(import_error("jsonl", "{\"item_id\": 1.0, \"label\": \"pos\"}\n").find("in.txt:1: item_id 1.0 is not an unsigned"),
            std::string::npos);
  EXPECT_NE(import_error("jsonl", "{\"item_id\": 1, \"label\": \"pos\"}\n{\"item_id\": 2, \"label\": \"pos\"\n")
                .find("in.txt:2:30: invalid JSON: expected ',' or '}' in an object"),
            std::string::npos)
      << import_error("jsonl", "{\"item_id\": 1, \"label\": \"pos\"}\n{\"item_id\": 2, \"label\": \"pos\"\n");
  EXPECT_NE(import_error("jsonl", "[1]\n").find("in.txt:1: expected a JSON object, found an array"), std::string::npos);
  EXPECT_NE(import_error("jsonl", "{\"label\": \"pos\"}\n").find("in.txt:1: no item_id"), std::string::npos);
  EXPECT_NE(import_error("jsonl", "{\"item_id\": 1, \"label\": [\"pos\"]}\n").find("in.txt:1: label is an array"), std::string::npos);
  EXPECT_NE(import_error("label-studio", "{\"a\": 1}").find("in.txt: a Label Studio export is a JSON list of tasks"), std::string::npos);
  EXPECT_NE(import_error("label-studio", "[{\"data\": {\"item_id\": 2}}, {\"data\": {\"item_id\": 2.5}}]")
                .find("in.txt: task 2: data.item_id 2.5 is not an unsigned 64-bit integer"),
            std::string::npos);
  EXPECT_NE(import_error("label-studio", "[{\"data\": {\"item_id\": 2}, \"annotations\": [{\"result\": [{\"value\": {\"choices\": [3]}}]}]}]")
                .find("in.txt: task 1 annotation 1: a choice is 3, expected a string"),
            std::string::npos);
  EXPECT_NE(import_error("label-studio", "[{\"item_id\": 2}]").find("in.txt: task 1: no 'label' key"), std::string::npos);
  EXPECT_NE(import_error("labelbox", "{\"data_row\": {\"global_key\": \"k-7\"}}\n")
                .find("in.txt:1: data_row.global_key \"k-7\" is not an unsigned 64-bit integer"),
            std::string::npos);
  EXPECT_NE(import_error("labelbox", "{\"projects\": {}}\n").find("in.txt:1: no data_row object"), std::string::npos);
  EXPECT_NE(import_error("prodigy", "{\"meta\": {\"id\": 1}, \"label\": \"pos\", \"answer\": \"reject\"}\n")
                .find("in.txt:1: uid 1 rejected for label 'pos': pass --negative-label"),
            std::string::npos);
  EXPECT_NE(import_error("prodigy", "{\"meta\": {\"id\": 1}, \"label\": \"pos\", \"answer\": \"maybe\"}\n")
                .find("in.txt:1: answer 'maybe' for uid 1"),
            std::string::npos);
  EXPECT_NE(import_error("prodigy", "{\"text\": \"x\", \"answer\": \"accept\"}\n").find("in.txt:1: no meta object"), std::string::npos);
  EXPECT_NE(import_error("prodigy", "{\"meta\": {\"id\": 1}, \"answer\": \"accept\"}\n").find("neither options"), std::string::npos);
  EXPECT_NE(import_error("xml", "").find("--format 'xml'"), std::string::npos);
  EXPECT_NE(import_error("tsv", "", {}).find("empty file"), std::string::npos);
}

TEST(Import, AllOrNothingIntoTheJournal) {
  // a bad record late in the file: nothing is returned, so nothing reaches the journal
  test::TempDir d("fmt");
  std::string text = "item_id\tannotator_id\tlabel\n";
  for (int i = 0; i < 50; ++i) text += cat(i, "\ta\tpos\n");
  text += "oops\ta\tpos\n";
  test::write_file(d / "in.tsv", text);
  labels::append_journal(d / "j.tsv", {});
  ImportOptions o;
  o.format = "tsv";
  EXPECT_THROW(labels::append_journal(d / "j.tsv", labels::import_annotations(d / "in.tsv", o).records), InputError);
  EXPECT_FALSE(path_exists(d / "j.tsv"));  // an empty append creates nothing
}

TEST(RoundTrip, ExportAnnotateImportConsensus) {
  // every export format -> a hand-written answer in that tool's export format -> journal ->
  // consensus -> the labels TSV trawl-train reads.
  test::TempDir d("fmt");
  auto q = queue_in(d);
  ImportOptions o;
  o.queue = &q;
  o.classes = {"neg", "pos"};
  o.now = "T";
  const std::string big = "18446744073709551615";
  auto add = [&](const std::string& fmt, const std::string& name, const std::string& text) {
    test::write_file(d / name, text);
    o.format = fmt;
    labels::append_journal(d / "journal.tsv", labels::import_annotations(d / name, o).records);
  };
  add("tsv", "a.tsv", "item_id\tannotator_id\tlabel\n" + big + "\tann-tsv\tpos\n42\tann-tsv\tneg\n");
  add("label-studio", "b.json",
      "[{\"data\": {\"item_id\": " + big + "}, \"annotations\": [{\"completed_by\": 1, \"result\": [{\"value\": {\"choices\": [\"pos\"]}}]}]},"
      " {\"data\": {\"item_id\": 42}, \"annotations\": [{\"completed_by\": 1, \"result\": [{\"value\": {\"choices\": [\"pos\"]}}]}]}]");
  add("labelbox", "c.ndjson",
      "{\"data_row\": {\"global_key\": \"42\"}, \"projects\": {\"p\": {\"labels\": [{\"label_details\": {\"created_by\": \"lb\"}, "
      "\"annotations\": {\"classifications\": [{\"radio_answer\": {\"name\": \"neg\"}}]}}]}}}\n");
  add("prodigy", "d.jsonl", "{\"meta\": {\"id\": " + big + "}, \"options\": [], \"accept\": [\"neg\"], \"answer\": \"accept\", \"_annotator_id\": \"pg\"}\n");
  auto j = labels::read_journal(d / "journal.tsv");
  ASSERT_EQ(j.records.size(), 6u);
  EXPECT_EQ(j.records[0].cls, "pos");  // from the queue
  EXPECT_EQ(j.records[0].round, 3u);
  EXPECT_EQ(j.records[5].source, "d.jsonl");
  // big: pos (tsv), pos (ls), neg (prodigy) -> pos;  42: neg (tsv), pos (ls), neg (lb) -> neg
  auto res = labels::consensus(labels::effective_votes(j.records), {"plurality", 42, false});
  auto rows = labels::label_rows(res, "journal.tsv");
  labels::write_labels_tsv(d / "labels.tsv", rows);
  EXPECT_EQ(test::read_file(d / "labels.tsv"), "uid\tlabel\n42\tneg\n" + big + "\tpos\n");
  auto ls = labels::read_labels_tsv(d / "labels.tsv");
  ASSERT_EQ(ls.items.size(), 2u);
}
