#include "labels/formats.h"

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <fstream>
#include <set>
#include <sstream>

#include "core/error.h"
#include "core/fs.h"
#include "core/tsv.h"
#include "io/shard.h"
#include "labels/json_value.h"

namespace trawl::labels {

namespace {




// Lines of a text file with their numbers (CR stripped, the last line may lack its newline).

std::string xml_escape(const std::string& s) {
  std::string o;
  for (char c : s) {
    switch (c) {
      case '&': o += "&amp;"; break;
      case '<': o += "&lt;"; break;
      case '>': o += "&gt;"; break;
      case '"': o += "&quot;"; break;
      case '\'': o += "&apos;"; break;
      default: o += c;
    }
  }
  return o;
}

// Collects validated records for one import.
class Collector {
 public:
  Collector(const std::string& path, const ImportOptions& o) : path_(path), o_(o) {
    if (o.queue)
      for (auto& q : *o.queue) queue_[q.uid] = &q;
    classes_.insert(o.classes.begin(), o.classes.end());
    source_ = o.source.empty() ? basename(path) : o.source;
    now_ = o.now.empty() ? now_iso8601() : o.now;
  }
  // where: "file:line" or "file: task 3" — the prefix of every message about this record.
  uint64_t uid(const json::Value* v, const std::string& where, const char* key) const {
    if (!v) throw InputError(cat(where, ": no ", key));
    uint64_t u = 0;
    if (v->is_number() && v->as_u64(&u)) return check_uid(u, where);
    if (v->is_string() && tsv::parse_u64(v->str, &u)) return check_uid(u, where);
    throw InputError(cat(where, ": ", key, " ", v->brief(), " is not an unsigned 64-bit integer"));
  }
  uint64_t uid_text(const std::string& s, const std::string& where, const char* key) const {
    uint64_t u = 0;
    if (!tsv::parse_u64(s, &u)) throw InputError(cat(where, ": ", key, " '", s, "' is not an unsigned 64-bit integer"));
    return check_uid(u, where);
  }
  void add(uint64_t uid, std::string cls, std::string annotator, std::string label, std::string time,
           const std::string& where) {
    if (label.empty()) throw InputError(cat(where, ": empty label for uid ", uid));
    if (!classes_.empty() && !classes_.count(label))
      throw InputError(cat(where, ": label '", label, "' of uid ", uid, " is not one of --classes"));
    if (annotator.empty()) annotator = o_.annotator;
    if (annotator.empty()) throw InputError(cat(where, ": uid ", uid, " names no annotator (pass --annotator)"));
    const QueueItem* q = nullptr;
    auto it = queue_.find(uid);
    if (it != queue_.end()) q = it->second;
    if (cls.empty() && q) cls = q->cls;
    Record r;
    r.uid = uid;
    r.cls = std::move(cls);
    r.annotator = std::move(annotator);
    r.label = std::move(label);
    r.time = time.empty() ? now_ : std::move(time);
    r.round = o_.has_round ? o_.round : q ? q->round : 0;
    r.source = source_;
    res.records.push_back(std::move(r));
    res.where.push_back(where);
  }
  void skip(const std::string& why) { ++res.skipped[why]; }
  std::string pick(const std::string& name, const std::string& value) const {
    if (!classes_.empty()) {
      if (classes_.count(name)) return name;
      if (classes_.count(value)) return value;
    }
    return name.empty() ? value : name;
  }
  ImportResult res;

 private:
  uint64_t check_uid(uint64_t u, const std::string& where) const {
    if (o_.queue && !queue_.count(u)) throw InputError(cat(where, ": uid ", u, " is not in the queue"));
    return u;
  }
  std::string path_;
  const ImportOptions& o_;
  std::map<uint64_t, const QueueItem*> queue_;
  std::set<std::string> classes_;
  std::string source_, now_;
};

std::string str_of(const json::Value* v) {
  if (!v || v->is_null()) return "";
  if (v->is_string()) return v->str;
  if (v->is_number()) return v->str;
  return "";
}

// A string field: absent/null → "", a string or number → its text, anything else an error.
std::string text_field(const json::Value& obj, const char* key, const std::string& where) {
  const json::Value* v = obj.get(key);
  if (!v || v->is_null()) return "";
  if (v->is_string() || v->is_number()) return v->str;
  throw InputError(cat(where, ": ", key, " is ", v->type_name(), " (", v->brief(), "), expected a string"));
}

const json::Value& object_at(const json::Value& v, const std::string& where) {
  if (!v.is_object()) throw InputError(cat(where, ": expected a JSON object, found ", v.type_name()));
  return v;
}

void import_tsv(const std::string& path, const std::string& data, Collector& c) {
  int ci = -1, cc = -1, ca = -1, cl = -1, ct = -1;
  size_t ncols = 0;
  bool header = false;
  for (auto& [n, line] : tsv::numbered_lines(data)) {
    if (line.empty() || line[0] == '#') continue;
    auto f = tsv::split(line);
    const std::string where = cat(path, ":", n);
    if (!header) {
      for (size_t i = 0; i < f.size(); ++i) {
        if (f[i] == "item_id") ci = int(i);
        if (f[i] == "class") cc = int(i);
        if (f[i] == "annotator_id") ca = int(i);
        if (f[i] == "label") cl = int(i);
        if (f[i] == "timestamp") ct = int(i);
      }
      if (ci < 0 || cl < 0)
        throw InputError(cat(where, ": the header must name columns 'item_id' and 'label' (and optionally class, "
                                    "annotator_id, timestamp, lead_time); found '", line, "'"));
      ncols = f.size();
      header = true;
      continue;
    }
    if (f.size() != ncols) throw InputError(cat(where, ": expected ", ncols, " tab-separated fields, found ", f.size()));
    ++c.res.items;
    uint64_t u = c.uid_text(f[ci], where, "item_id");
    auto get = [&](int i) { return i < 0 ? std::string() : unescape_field(f[i]); };
    c.add(u, get(cc), get(ca), get(cl), get(ct), where);
  }
  if (!header) throw InputError(cat(path, ": empty file (expected a header naming item_id and label)"));
}

// Calls f(record, "file:line") for each non-blank line of a JSONL/NDJSON export, each parsed
// as one JSON object (an InputError naming the line otherwise) and counted as an item.
template <class F>
void for_each_object_line(const std::string& path, const std::string& data, Collector& c, F f) {
  for (auto& [n, line] : tsv::numbered_lines(data)) {
    if (line.find_first_not_of(" \t") == std::string::npos) continue;
    const std::string where = cat(path, ":", n);
    json::Value v = json::parse(line, path, n);
    object_at(v, where);
    ++c.res.items;
    f(v, where);
  }
}

void import_jsonl(const std::string& path, const std::string& data, Collector& c) {
  for_each_object_line(path, data, c, [&](const json::Value& v, const std::string& where) {
    uint64_t u = c.uid(v.get("item_id"), where, "item_id");
    c.add(u, text_field(v, "class", where), text_field(v, "annotator_id", where), text_field(v, "label", where),
          text_field(v, "timestamp", where), where);
  });
}

std::string ls_annotator(const json::Value* v) {
  if (!v) return "";
  if (v->is_object()) {
    std::string e = str_of(v->get("email"));
    return e.empty() ? str_of(v->get("id")) : e;
  }
  return str_of(v);
}

// The choices of one Label Studio result list / JSON_MIN value.
std::vector<std::string> choices_of(const json::Value& choices, const std::string& where) {
  if (!choices.is_array()) throw InputError(cat(where, ": choices is ", choices.type_name(), ", expected an array"));
  std::vector<std::string> out;
  for (auto& x : choices.items) {
    if (!x.is_string()) throw InputError(cat(where, ": a choice is ", x.brief(), ", expected a string"));
    out.push_back(x.str);
  }
  return out;
}

void import_label_studio(const std::string& path, const std::string& data, Collector& c) {
  json::Value doc = json::parse(data, path);
  if (!doc.is_array()) throw InputError(cat(path, ": a Label Studio export is a JSON list of tasks, found ", doc.type_name()));
  for (size_t t = 0; t < doc.items.size(); ++t) {
    const json::Value& task = doc.items[t];
    const std::string where = cat(path, ": task ", t + 1);
    object_at(task, where);
    ++c.res.items;
    if (task.get("annotations") || task.get("data")) {  // the full JSON export
      const json::Value* d = task.get("data");
      if (!d || !d->is_object()) throw InputError(cat(where, ": no data object"));
      uint64_t u = c.uid(d->get("item_id"), where, "data.item_id");
      std::string cls = text_field(*d, "class", where);
      const json::Value* anns = task.get("annotations");
      if (anns && !anns->is_null() && !anns->is_array())
        throw InputError(cat(where, ": annotations is ", anns->type_name(), ", expected an array"));
      if (!anns || anns->items.empty()) { c.skip("tasks without annotations"); continue; }
      for (size_t a = 0; a < anns->items.size(); ++a) {
        const json::Value& ann = anns->items[a];
        const std::string w = cat(where, " annotation ", a + 1);
        object_at(ann, w);
        const json::Value* canc = ann.get("was_cancelled");
        if (canc && canc->is_bool() && canc->b) { c.skip("cancelled (skipped) annotations"); continue; }
        const json::Value* res = ann.get("result");
        std::vector<std::string> labels;
        if (res) {
          if (!res->is_array()) throw InputError(cat(w, ": result is ", res->type_name(), ", expected an array"));
          for (auto& r : res->items) {
            object_at(r, w);
            const json::Value* val = r.get("value");
            const json::Value* ch = val && val->is_object() ? val->get("choices") : nullptr;
            if (!ch) continue;
            for (auto& l : choices_of(*ch, w)) labels.push_back(l);
          }
        }
        if (labels.empty()) { c.skip("annotations without a choice"); continue; }
        std::string who = ls_annotator(ann.get("completed_by"));
        std::string time = text_field(ann, "created_at", w);
        for (auto& l : labels) c.add(u, cls, who, l, time, w);
      }
    } else {  // JSON_MIN: one flat record per annotation
      uint64_t u = c.uid(task.get("item_id"), where, "item_id");
      const json::Value* l = task.get("label");
      if (!l) throw InputError(cat(where, ": no 'label' key (the Choices name of trawl's labelling config)"));
      std::vector<std::string> labels;
      if (l->is_string()) labels.push_back(l->str);
      else if (l->is_object() && l->get("choices")) labels = choices_of(*l->get("choices"), where);
      else throw InputError(cat(where, ": label is ", l->brief(), ", expected a string or {\"choices\": [...]}"));
      if (labels.empty()) { c.skip("annotations without a choice"); continue; }
      std::string who = ls_annotator(task.get("annotator"));
      for (auto& x : labels) c.add(u, text_field(task, "class", where), who, x, text_field(task, "created_at", where), where);
    }
  }
}

void import_labelbox(const std::string& path, const std::string& data, Collector& c) {
  for_each_object_line(path, data, c, [&](const json::Value& v, const std::string& where) {
    const json::Value* dr = v.get("data_row");
    if (!dr || !dr->is_object()) throw InputError(cat(where, ": no data_row object"));
    uint64_t u = c.uid(dr->get("global_key"), where, "data_row.global_key");
    const json::Value* projects = v.get("projects");
    bool any = false;
    if (projects) {
      object_at(*projects, where);
      for (auto& [pid, p] : projects->members) {
        object_at(p, where);
        const json::Value* labs = p.get("labels");
        if (!labs) continue;
        if (!labs->is_array()) throw InputError(cat(where, ": projects.", pid, ".labels is not an array"));
        for (size_t k = 0; k < labs->items.size(); ++k) {
          const json::Value& lab = labs->items[k];
          const std::string w = cat(where, " label ", k + 1);
          object_at(lab, w);
          any = true;
          std::string who, time;
          if (const json::Value* det = lab.get("label_details"); det && det->is_object()) {
            who = text_field(*det, "created_by", w);
            time = text_field(*det, "created_at", w);
          }
          std::vector<std::string> answers;
          const json::Value* ann = lab.get("annotations");
          const json::Value* cls = ann && ann->is_object() ? ann->get("classifications") : nullptr;
          if (cls && cls->is_array()) {
            for (auto& q : cls->items) {
              object_at(q, w);
              if (const json::Value* r = q.get("radio_answer"); r && r->is_object()) {
                answers.push_back(c.pick(text_field(*r, "name", w), text_field(*r, "value", w)));
              } else if (const json::Value* cl = q.get("checklist_answers"); cl && cl->is_array()) {
                for (auto& x : cl->items) {
                  object_at(x, w);
                  answers.push_back(c.pick(text_field(x, "name", w), text_field(x, "value", w)));
                }
              } else if (q.get("text_answer")) {
                c.skip("free-text classifications");
              }
            }
          }
          if (answers.empty()) { c.skip("labels without a radio or checklist answer"); continue; }
          for (auto& a : answers) c.add(u, "", who, a, time, w);
        }
      }
    }
    if (!any) c.skip("data rows without labels");
  });
}

void import_prodigy(const std::string& path, const std::string& data, Collector& c, const ImportOptions& o) {
  for_each_object_line(path, data, c, [&](const json::Value& v, const std::string& where) {
    const json::Value* meta = v.get("meta");
    if (!meta || !meta->is_object()) throw InputError(cat(where, ": no meta object (trawl puts the uid in meta.id)"));
    uint64_t u = c.uid(meta->get("id"), where, "meta.id");
    std::string cls = text_field(*meta, "class", where);
    std::string answer = text_field(v, "answer", where);
    if (answer != "accept" && answer != "reject" && answer != "ignore")
      throw InputError(cat(where, ": answer '", answer, "' for uid ", u, ", expected accept, reject or ignore"));
    if (answer == "ignore") { c.skip("ignored"); return; }
    std::string who = text_field(v, "_annotator_id", where);
    if (who.empty()) who = text_field(v, "_session_id", where);
    std::string time;
    if (const json::Value* ts = v.get("_timestamp"); ts && !ts->is_null()) {
      uint64_t secs = 0;
      if (ts->is_number() && ts->as_u64(&secs)) time = unix_to_iso8601(int64_t(secs));
      else if (ts->is_string()) time = ts->str;
      else throw InputError(cat(where, ": _timestamp ", ts->brief(), " is not unix seconds"));
    }
    if (const json::Value* opts = v.get("options"); opts && opts->is_array()) {  // a choice task
      if (answer == "reject") { c.skip("rejected choice tasks"); return; }
      const json::Value* acc = v.get("accept");
      if (!acc || !acc->is_array()) throw InputError(cat(where, ": an accepted choice task without an accept list"));
      if (acc->items.empty()) { c.skip("accepted choice tasks with no option"); return; }
      for (auto& x : acc->items) {
        if (!x.is_string() && !x.is_number()) throw InputError(cat(where, ": accept holds ", x.brief(), ", expected option ids"));
        c.add(u, cls, who, x.str, time, where);
      }
    } else {  // a binary task
      std::string label = text_field(v, "label", where);
      if (label.empty()) throw InputError(cat(where, ": uid ", u, ": neither options (a choice task) nor label (a binary task)"));
      if (answer == "reject") {
        if (o.negative_label.empty())
          throw InputError(cat(where, ": uid ", u, " rejected for label '", label,
                               "': pass --negative-label to record rejections (none given)"));
        label = o.negative_label;
      }
      c.add(u, cls.empty() ? text_field(v, "label", where) : cls, who, label, time, where);
    }
  });
}

}  // namespace


const std::vector<std::string>& export_formats() {
  static const std::vector<std::string> f = {"tsv", "jsonl", "label-studio", "labelbox", "prodigy"};
  return f;
}
const std::vector<std::string>& import_formats() { return export_formats(); }

std::string label_studio_config(const std::vector<std::string>& classes) {
  std::string x = "<View>\n  <Text name=\"text\" value=\"$text\"/>\n  <Choices name=\"label\" toName=\"text\" choice=\"single\">\n";
  for (auto& c : classes) x += cat("    <Choice value=\"", xml_escape(c), "\"/>\n");
  return x + "  </Choices>\n</View>\n";
}

std::string export_queue(const std::vector<QueueItem>& queue, const ExportOptions& o) {
  using json::quote;
  std::string out;
  const std::set<std::string> classes(o.classes.begin(), o.classes.end());
  if (o.format == "tsv") {
    out = "item_id\ttext\tclass\tal_score\trank\tsource\titeration\n";
    for (auto& q : queue)
      out += cat(q.uid, '\t', escape_field(q.text), '\t', escape_field(q.cls), '\t', json::number(q.score), '\t', q.rank, '\t',
                 escape_field(q.source), '\t', q.round, '\n');
  } else if (o.format == "jsonl") {
    for (auto& q : queue)
      out += cat("{\"item_id\":", q.uid, ",\"text\":", quote(q.text), ",\"class\":", quote(q.cls), ",\"al_score\":",
                 json::number(q.score), ",\"rank\":", q.rank, ",\"source\":", quote(q.source), ",\"iteration\":", q.round,
                 "}\n");
  } else if (o.format == "label-studio") {
    out = "[";
    for (size_t i = 0; i < queue.size(); ++i) {
      auto& q = queue[i];
      std::string result;
      if (!q.cls.empty() && (classes.empty() || classes.count(q.cls)))
        result = cat("{\"from_name\":\"label\",\"to_name\":\"text\",\"type\":\"choices\",\"value\":{\"choices\":[",
                     quote(q.cls), "]}}");
      out += cat(i ? ",\n" : "\n", "{\"data\":{\"text\":", quote(q.text), ",\"item_id\":", q.uid, ",\"external_id\":",
                 quote(q.id), ",\"al_score\":", json::number(q.score), ",\"class\":", quote(q.cls), ",\"rank\":", q.rank,
                 ",\"source\":", quote(q.source), ",\"iteration\":", q.round, "},\"predictions\":[{\"model_version\":",
                 quote(cat("trawl round ", q.round, " ", q.source)), ",\"score\":",
                 // Label Studio's Data Manager sorts on this: ascending = the queue's order (the
                 // strategy's own score, whose direction varies, stays in data.al_score).
                 json::number(double(q.rank) / double(queue.size())), ",\"result\":[",
                 result, "]}]}");
    }
    out += "\n]\n";
  } else if (o.format == "labelbox") {
    for (auto& q : queue)
      out += cat("{\"row_data\":", quote(q.text), ",\"global_key\":", quote(cat(q.uid)), ",\"external_id\":", quote(q.id),
                 ",\"priority\":", q.rank, "}\n");
  } else if (o.format == "prodigy") {
    for (auto& q : queue) {
      std::string task = cat("{\"text\":", quote(q.text), ",\"meta\":{\"id\":", q.uid, ",\"score\":", json::number(q.score),
                             ",\"class\":", quote(q.cls), ",\"source\":", quote(q.source), "}");
      if (!o.classes.empty()) {
        task += ",\"options\":[";
        for (size_t k = 0; k < o.classes.size(); ++k)
          task += cat(k ? "," : "", "{\"id\":", quote(o.classes[k]), ",\"text\":", quote(o.classes[k]), "}");
        task += "]";
      } else {
        if (q.cls.empty())
          throw UsageError(cat("queue line ", q.line, " (uid ", q.uid,
                               "): a binary Prodigy task needs the queued class as its label, and this row has none; "
                               "pass --classes for choice tasks"));
        task += cat(",\"label\":", quote(q.cls));
      }
      out += task + cat(",\"priority\":", q.rank, ",\"score\":", json::number(q.score), "}\n");
    }
  } else {
    throw UsageError(cat("--format '", o.format, "': expected tsv, jsonl, label-studio, labelbox or prodigy"));
  }
  return out;
}

ImportResult import_annotations(const std::string& path, const ImportOptions& o) {
  const auto& fm = import_formats();
  if (std::find(fm.begin(), fm.end(), o.format) == fm.end())
    throw UsageError(cat("--format '", o.format, "': expected tsv, jsonl, label-studio, labelbox or prodigy"));
  const std::string data = tsv::read_file(path);
  Collector c(path, o);
  if (o.format == "tsv") import_tsv(path, data, c);
  else if (o.format == "jsonl") import_jsonl(path, data, c);
  else if (o.format == "label-studio") import_label_studio(path, data, c);
  else if (o.format == "labelbox") import_labelbox(path, data, c);
  else import_prodigy(path, data, c, o);
  return std::move(c.res);
}

void check_pool(const ImportResult& r, const std::string& pool_dir) {
  std::map<uint64_t, size_t> wanted;  // uid -> its first record
  for (size_t i = 0; i < r.records.size(); ++i) wanted.emplace(r.records[i].uid, i);
  if (wanted.empty()) return;
  std::set<uint64_t> found;
  for (auto& f : io::list_shards(pool_dir)) {
    io::ShardReader sh(f);
    for (uint64_t u : sh.read_uids())
      if (wanted.count(u)) found.insert(u);
    if (found.size() == wanted.size()) return;
  }
  size_t first = r.records.size();
  for (auto& [u, i] : wanted)
    if (!found.count(u)) first = std::min(first, i);
  throw InputError(cat(r.where[first], ": uid ", r.records[first].uid, " is not in the pool ", pool_dir, " (",
                       wanted.size() - found.size(), " of the file's ", wanted.size(), " uids are not)"));
}

}  // namespace trawl::labels
