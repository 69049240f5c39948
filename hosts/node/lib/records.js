// A batch of the component's rows as Airbyte RECORD lines.
//
// The only module that knows the WIT batch layout, so a change of the batch format is a change
// here alone. Two layouts are read, told apart by the batch itself:
// - `ingest:source@0.3.0`: `rows` is a count and `columns` are Arrow-layout columns (a kind, a
//   validity bitmap, offsets and values as little-endian bytes);
// - `ingest:source@0.2.0`: `columns` are names and `rows: list<list<value>>`.
// Each value is written as host-harness writes it (protocol.rs `push_value`), so RECORD lines of
// the two hosts are byte-identical apart from `emitted_at`.
import { F64, stringify, oneLine, trimJson } from './json.js';
import { formatDate, formatTimestamp } from './timefmt.js';
import { scrub } from './secrets.js';

/** A row the host could not turn into a RECORD (the component broke the contract). */
export class RowError extends Error {
  constructor(message, detail) {
    super(message);
    this.detail = detail;
  }
}

/** One WIT `value` (`{tag, val}`) as JSON text. Throws a string on invalid nested JSON. */
function valueJson(value) {
  switch (value.tag) {
    case 'null':
      return 'null';
    case 'string':
      return JSON.stringify(scrub(value.val));
    case 'integer':
      return value.val.toString();
    case 'number':
      return stringify(new F64(value.val));
    case 'boolean':
      return value.val ? 'true' : 'false';
    case 'timestamp':
      return `"${formatTimestamp(value.val)}"`;
    case 'date':
      return `"${formatDate(value.val)}"`;
    case 'array':
    case 'object': {
      // The component is untrusted: its JSON text is checked before it is embedded in a line.
      const text = scrub(value.val);
      JSON.parse(text);
      return oneLine(trimJson(text));
    }
    default:
      throw `unknown value type ${value.tag}`;
  }
}

/** Whether the batch is the columnar layout (0.3.0): its `rows` is a count. */
const columnar = (batch) => typeof batch.rows === 'number';

/** Rows in the batch. */
export function rowCount(batch) {
  return columnar(batch) ? batch.rows : batch.rows.length;
}

/**
 * The batch's RECORD lines (each ending in a newline), and the number of rows they hold. A row
 * that cannot be written stops it: `lines` then holds the whole lines before it, and `error`
 * says why.
 */
export function formatRecords(batch, emittedAt) {
  return columnar(batch) ? formatColumns(batch, emittedAt) : formatRows(batch, emittedAt);
}

const linePrefix = (batch) => `{"type":"RECORD","record":{"stream":${JSON.stringify(batch.stream)},"data":{`;
const lineSuffix = (emittedAt) => `},"emitted_at":${emittedAt}}}\n`;
const jsonKeys = (names) => names.map((c, i) => (i > 0 ? ',' : '') + JSON.stringify(c) + ':');

/** 0.2.0: rows of `value` variants. */
function formatRows(batch, emittedAt) {
  const [prefix, suffix] = [linePrefix(batch), lineSuffix(emittedAt)];
  const keys = jsonKeys(batch.columns);
  let lines = '';
  for (let r = 0; r < batch.rows.length; r++) {
    const row = batch.rows[r];
    if (row.length !== keys.length) {
      const error = new RowError(
        `the connector sent a row of ${row.length} values for ${keys.length} columns in stream ${batch.stream}`,
        `row ${r} of a batch of ${batch.rows.length} rows`,
      );
      return { lines, written: r, error };
    }
    let line = prefix;
    for (let i = 0; i < keys.length; i++) {
      try {
        line += keys[i] + valueJson(row[i]);
      } catch (e) {
        const error = new RowError(
          `the connector sent invalid JSON in column ${batch.columns[i]} of stream ${batch.stream}`,
          `row ${r}: ${e instanceof Error ? e.message : e}`,
        );
        return { lines, written: r, error };
      }
    }
    lines += line + suffix;
  }
  return { lines, written: batch.rows.length, error: null };
}

/** 0.3.0: Arrow-layout columns; each is checked before any row is written. */
function formatColumns(batch, emittedAt) {
  const rows = batch.rows;
  const readers = [];
  for (const c of batch.columns) {
    try {
      readers.push(columnReader(c, rows));
    } catch (e) {
      const message = `the connector sent a malformed column ${c.name} in stream ${batch.stream}`;
      return { lines: '', written: 0, error: new RowError(message, `${e.message} (a batch of ${rows} rows)`) };
    }
  }
  const [prefix, suffix] = [linePrefix(batch), lineSuffix(emittedAt)];
  const keys = jsonKeys(batch.columns.map((c) => c.name));
  let lines = '';
  for (let r = 0; r < rows; r++) {
    let line = prefix;
    for (let i = 0; i < keys.length; i++) {
      try {
        line += keys[i] + readers[i](r);
      } catch (e) {
        const error = new RowError(
          `the connector sent invalid JSON in column ${batch.columns[i].name} of stream ${batch.stream}`,
          `row ${r}: ${e instanceof Error ? e.message : e}`,
        );
        return { lines, written: r, error };
      }
    }
    lines += line + suffix;
  }
  return { lines, written: rows, error: null };
}

const utf8 = new TextDecoder('utf-8', { fatal: true });
// Bytes per value of the fixed-width kinds.
const WIDTH = { integer: 8, number: 8, timestamp: 8, date: 4 };

/** A function from a row index to the cell's JSON text; throws on a column whose buffers do not fit. */
function columnReader(c, rows) {
  const bytes = (b) => (b instanceof Uint8Array ? b : Uint8Array.from(b));
  const [validity, offsets, values] = [bytes(c.validity), bytes(c.offsets), bytes(c.values)];
  const bitmapBytes = Math.ceil(rows / 8);
  if (c.nullCount > 0 && validity.length !== bitmapBytes) throw new Error(`${validity.length} bytes of validity for ${rows} rows`);
  const valid = validity.length ? (r) => (validity[r >> 3] >> (r & 7)) & 1 : () => 1;
  const view = new DataView(values.buffer, values.byteOffset, values.byteLength);
  let cell;
  if (c.kind === 'string' || c.kind === 'json') {
    if (offsets.length !== (rows + 1) * 4) throw new Error(`${offsets.length} bytes of offsets for ${rows} rows`);
    const at = new DataView(offsets.buffer, offsets.byteOffset, offsets.byteLength);
    let last = 0;
    for (let k = 0; k <= rows; k++) {
      const o = at.getInt32(k * 4, true);
      if ((k === 0 && o !== 0) || o < last || o > values.length) throw new Error(`offset ${k} (${o}) out of order or out of the text`);
      last = o;
    }
    const text = (r) => utf8.decode(values.subarray(at.getInt32(r * 4, true), at.getInt32(r * 4 + 4, true)));
    cell = c.kind === 'string' ? (r) => JSON.stringify(scrub(text(r))) : (r) => jsonCell(text(r));
  } else if (c.kind === 'boolean') {
    if (values.length !== bitmapBytes) throw new Error(`${values.length} bytes of booleans for ${rows} rows`);
    cell = (r) => ((values[r >> 3] >> (r & 7)) & 1 ? 'true' : 'false');
  } else if (c.kind in WIDTH) {
    if (values.length !== rows * WIDTH[c.kind]) throw new Error(`${values.length} bytes of ${c.kind} values for ${rows} rows`);
    cell = {
      integer: (r) => view.getBigInt64(r * 8, true).toString(),
      number: (r) => stringify(new F64(view.getFloat64(r * 8, true))),
      timestamp: (r) => `"${formatTimestamp(view.getBigInt64(r * 8, true))}"`,
      date: (r) => `"${formatDate(view.getInt32(r * 4, true))}"`,
    }[c.kind];
  } else {
    throw new Error(`unknown column kind ${c.kind}`);
  }
  return (r) => (valid(r) ? cell(r) : 'null');
}

/** A `json` cell: a JSON string is written as a string value is (decoded, scrubbed, escaped). */
function jsonCell(text) {
  if (text.startsWith('"')) return JSON.stringify(scrub(JSON.parse(text)));
  const scrubbed = scrub(text);
  JSON.parse(scrubbed);
  return oneLine(trimJson(scrubbed));
}
