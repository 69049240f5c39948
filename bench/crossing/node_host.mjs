// Bench only: what crossing the component boundary costs under jco (Node),
// per batch layout (bench/crossing/run.py runs it; docs/performance.md,
// "Third round").
//
//   node node_host.mjs --bindings DIR/crossing_guest.js --sample S.arrow --rows N [--runs R] [--check]
//
// DIR is the bench guest transpiled by jco (run.py does it as build.sh does
// for hosts/node). For each layout it reads N rows three ways, as the other
// drivers do: `produce` (the guest builds each batch and drops it), `call`
// (+ the call and jco's lift into JS values) and `host` (+ the host's work:
// every column as Arrow-layout typed arrays, with no Arrow library: validity
// bitmap, Int32Array offsets + UTF-8 bytes, BigInt64Array, Float64Array,
// Int32Array, bit-packed booleans). One JSON object per layout: least CPU
// time of the process (user + system) over R runs. `--check` prints
// per-column checksums instead (bench/crossing/README.md).
import { readFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { resolve } from 'node:path';
import { crc32 } from 'node:zlib';

const LAYOUTS = ['rows', 'typed', 'buffers', 'ipc'];
const TEXT = new Set(['string', 'json']);

function parseArgs(argv) {
  const a = { runs: 3, check: false };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i];
    if (flag === '--check') a.check = true;
    else a[flag.replace(/^--/, '')] = argv[++i];
  }
  a.rows = Number(a.rows);
  a.runs = Number(a.runs);
  return a;
}

// --- the host's work: each layout's batch as Arrow-layout columns ---------------------------

const encoder = new TextEncoder();

function bitmap(n, bit) {
  const out = new Uint8Array((n + 7) >> 3);
  for (let i = 0; i < n; i++) if (bit(i)) out[i >> 3] |= 1 << (i & 7);
  return out;
}

// (a) Rows of `{tag, val}` values, a column at a time, into typed arrays.
function rowsToColumns(batch, kinds) {
  const n = batch.rows.length;
  return kinds.map((kind, c) => {
    let nulls = 0;
    const validity = bitmap(n, (i) => (batch.rows[i][c].tag === 'null' ? (nulls++, false) : true));
    let offsets = null;
    let data;
    if (TEXT.has(kind)) {
      const parts = batch.rows.map((row) => (row[c].tag === 'null' ? new Uint8Array(0) : encoder.encode(row[c].val)));
      offsets = new Int32Array(n + 1);
      for (let i = 0; i < n; i++) offsets[i + 1] = offsets[i] + parts[i].length;
      data = new Uint8Array(offsets[n]);
      parts.forEach((p, i) => data.set(p, offsets[i]));
    } else if (kind === 'boolean') {
      data = bitmap(n, (i) => batch.rows[i][c].val === true);
    } else {
      data = kind === 'number' ? new Float64Array(n) : kind === 'date' ? new Int32Array(n) : new BigInt64Array(n);
      for (let i = 0; i < n; i++) {
        const v = batch.rows[i][c];
        if (v.tag !== 'null') data[i] = v.val;
      }
    }
    return { kind, length: n, nullCount: nulls, validity: nulls ? validity : null, offsets, data };
  });
}

// (b) Typed lists: jco already lifted them as typed arrays.
function typedToColumns(batch) {
  return batch.columns.map((c) => {
    const v = c.values;
    const [offsets, data] = v.tag === 'text' ? v.val : [null, v.val];
    return { kind: c.kind, length: batch.rows, nullCount: c.nullCount, validity: c.nullCount ? c.validity : null, offsets, data };
  });
}

// A view of `bytes` as the typed array a kind's values need (no copy when aligned).
function view(kind, bytes) {
  const Type = kind === 'number' ? Float64Array : kind === 'date' ? Int32Array
    : kind === 'integer' || kind === 'timestamp' ? BigInt64Array : null;
  if (!Type) return bytes;
  if (bytes.byteOffset % Type.BYTES_PER_ELEMENT) bytes = bytes.slice();
  return new Type(bytes.buffer, bytes.byteOffset, bytes.byteLength / Type.BYTES_PER_ELEMENT);
}

function offsetsView(bytes) {
  if (bytes.byteOffset % 4) bytes = bytes.slice();
  return new Int32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4);
}

// (c) `list<u8>` buffers: views over them.
function buffersToColumns(batch) {
  return batch.columns.map((c) => ({
    kind: c.kind, length: batch.rows, nullCount: c.nullCount, validity: c.nullCount ? c.validity : null,
    offsets: TEXT.has(c.kind) ? offsetsView(c.offsets) : null, data: view(c.kind, c.values),
  }));
}

// (d) Arrow IPC stream bytes, read with no Arrow library: the message framing
// and the few flatbuffer fields of a RecordBatch (Arrow's Message.fbs), then
// views over the body. The kinds come from the schema the first call sent;
// reading that schema's flatbuffers is left out, the host takes the kinds it
// was told (as for rows).
class IpcReader {
  constructor(kinds) { this.kinds = kinds; }

  columns(bytes) {
    const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    let pos = 0;
    let out = null;
    while (pos + 8 <= bytes.byteLength) {
      if (dv.getUint32(pos, true) !== 0xffffffff) throw new Error('IPC: no continuation marker');
      const len = dv.getInt32(pos + 4, true);
      if (len === 0) break;
      const meta = pos + 8;
      const msg = table(dv, meta + dv.getUint32(meta, true));
      const headerType = msg.u8(1);
      const bodyLength = Number(msg.i64(3));
      const body = meta + len;
      if (headerType === 3) out = this.batch(bytes, dv, msg.table(2), body);
      pos = body + bodyLength;
    }
    if (!out) throw new Error('IPC bytes held no record batch');
    return out;
  }

  batch(bytes, dv, rb, body) {
    const n = Number(rb.i64(0));
    const nodes = rb.vector(1);
    const bufs = rb.vector(2);
    let b = 0;
    const buffer = () => {
      const at = bufs + 16 * b++;
      const off = Number(dv.getBigInt64(at, true));
      const len = Number(dv.getBigInt64(at + 8, true));
      return bytes.subarray(body + off, body + off + len);
    };
    return this.kinds.map((kind, f) => {
      const nullCount = Number(dv.getBigInt64(nodes + 16 * f + 8, true));
      const validity = buffer();
      const offsets = TEXT.has(kind) ? offsetsView(buffer()) : null;
      return { kind, length: n, nullCount, validity: nullCount ? validity : null, offsets, data: view(kind, buffer()) };
    });
  }
}

// A flatbuffer table at `t`: its fields by slot.
function table(dv, t) {
  const vt = t - dv.getInt32(t, true);
  const field = (slot) => {
    const at = 4 + 2 * slot;
    return at < dv.getUint16(vt, true) ? dv.getUint16(vt + at, true) : 0;
  };
  return {
    u8: (slot) => (field(slot) ? dv.getUint8(t + field(slot)) : 0),
    i64: (slot) => (field(slot) ? dv.getBigInt64(t + field(slot), true) : 0n),
    table: (slot) => { const p = t + field(slot); return table(dv, p + dv.getUint32(p, true)); },
    // A vector's first element (its length is the 4 bytes before).
    vector: (slot) => { const p = t + field(slot); return p + dv.getUint32(p, true) + 4; },
  };
}

// --- the drivers ---------------------------------------------------------------------------

const NEXT = { rows: 'nextRows', typed: 'nextTyped', buffers: 'nextBuffers', ipc: 'nextIpc' };

function toColumns(layout, lifted, kinds, ipc) {
  if (layout === 'rows') return rowsToColumns(lifted, kinds);
  if (layout === 'typed') return typedToColumns(lifted);
  if (layout === 'buffers') return buffersToColumns(lifted);
  return ipc.columns(lifted);
}

function cpuSeconds() {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
}

function best(runs, pass) {
  let least = Infinity;
  for (let r = 0; r < runs; r++) {
    const t0 = cpuSeconds();
    pass();
    least = Math.min(least, cpuSeconds() - t0);
  }
  return least;
}

function timeLayout(g, rows, layout, kinds, runs) {
  const next = g[NEXT[layout]];
  const produce = best(runs, () => { g.reset(rows); while (g.produce(layout) > 0); });
  const call = best(runs, () => { g.reset(rows); while (next() !== undefined); });
  const host = best(runs, () => {
    g.reset(rows);
    const ipc = new IpcReader(kinds);
    for (let b = next(); b !== undefined; b = next()) toColumns(layout, b, kinds, ipc);
  });
  return { produce_s: produce, call_s: call, host_s: host };
}

// --- checksums (bench/crossing/README.md) ------------------------------------------------

const TAGS = { integer: 1, number: 2, boolean: 3, date: 4, string: 5, timestamp: 6, json: 7 };

function canonical(col) {
  const parts = [];
  const valid = (i) => !col.validity || (col.validity[i >> 3] >> (i & 7)) & 1;
  for (let i = 0; i < col.length; i++) {
    if (!valid(i)) { parts.push(Buffer.from([0])); continue; }
    const tag = TAGS[col.kind];
    if (TEXT.has(col.kind)) {
      const s = col.data.subarray(col.offsets[i], col.offsets[i + 1]);
      const head = Buffer.alloc(5);
      head[0] = tag;
      head.writeUInt32LE(s.length, 1);
      parts.push(head, Buffer.from(s));
    } else if (col.kind === 'boolean') {
      parts.push(Buffer.from([tag, (col.data[i >> 3] >> (i & 7)) & 1]));
    } else {
      const b = Buffer.alloc(col.kind === 'date' ? 5 : 9);
      b[0] = tag;
      if (col.kind === 'number') b.writeDoubleLE(col.data[i], 1);
      else if (col.kind === 'date') b.writeInt32LE(col.data[i], 1);
      else b.writeBigInt64LE(BigInt(col.data[i]), 1);
      parts.push(b);
    }
  }
  return Buffer.concat(parts);
}

function checkLayout(g, rows, layout, columns) {
  const kinds = columns.map((c) => c.kind);
  const sums = columns.map(() => [0, 0]);
  const next = g[NEXT[layout]];
  g.reset(rows);
  const ipc = new IpcReader(kinds);
  for (let b = next(); b !== undefined; b = next()) {
    toColumns(layout, b, kinds, ipc).forEach((col, i) => {
      sums[i][0] = crc32(canonical(col), sums[i][0]);
      sums[i][1] += col.length;
    });
  }
  const out = {};
  columns.forEach((c, i) => { out[c.name] = `${sums[i][0].toString(16).padStart(8, '0')}:${sums[i][1]}`; });
  return out;
}

async function main() {
  const args = parseArgs(process.argv.slice(2));
  const { crossing: g } = await import(pathToFileURL(resolve(args.bindings)).href);
  g.load(new Uint8Array(readFileSync(args.sample)));
  g.reset(1);
  const columns = g.nextBuffers().columns;
  const kinds = columns.map((c) => c.kind);
  for (const layout of (args.layouts || LAYOUTS.join(',')).split(',')) {
    const out = { host: 'node', layout, rows: args.rows };
    if (args.check) out.checksums = checkLayout(g, args.rows, layout, columns);
    else Object.assign(out, timeLayout(g, args.rows, layout, kinds, args.runs));
    console.log(JSON.stringify(out));
  }
}

main().catch((e) => { console.error(`node_host: ${e.stack || e}`); process.exit(1); });
