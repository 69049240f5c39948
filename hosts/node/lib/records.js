// A batch of the component's rows as Airbyte RECORD lines.
//
// The only module that knows the WIT batch layout (`ingest:source@0.3.0`: `rows` is a count and
// `columns` are Arrow-layout columns: a kind, a validity bitmap, offsets and values as
// little-endian bytes), so a change of the batch format is a change here alone. Columns are
// checked as host-harness checks them (the `arrow-columns` crate's `View::new`, same messages)
// and each value is written as host-harness writes it (protocol.rs `push_value`), so the RECORD
// lines and errors of the two hosts are byte-identical apart from `emitted_at`.
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

/**
 * The batch's RECORD lines (each ending in a newline), and the number of rows they hold. Every
 * column is checked before any row is written; a row that cannot be written stops it: `lines`
 * then holds the whole lines before it, and `error` says why.
 */
export function formatRecords(batch, emittedAt) {
  const rows = batch.rows;
  const readers = [];
  for (const c of batch.columns) {
    try {
      readers.push(columnReader(c, rows));
    } catch (e) {
      if (!(e instanceof LayoutError)) throw e;
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

const linePrefix = (batch) => `{"type":"RECORD","record":{"stream":${JSON.stringify(batch.stream)},"data":{`;
const lineSuffix = (emittedAt) => `},"emitted_at":${emittedAt}}}\n`;
const jsonKeys = (names) => names.map((c, i) => (i > 0 ? ',' : '') + JSON.stringify(c) + ':');

/** A column whose buffers do not fit its kind and the batch's rows. */
class LayoutError extends Error {}

const utf8 = new TextDecoder('utf-8', { fatal: true });
// Bytes per value of the fixed-width kinds.
const WIDTH = { integer: 8, number: 8, timestamp: 8, date: 4 };
const TEXT = new Set(['string', 'json']);
// The kinds as host-harness names them in its messages (Rust's Debug of `arrow_columns::Kind`).
const KIND_NAME = { string: 'String', integer: 'Integer', number: 'Number', boolean: 'Boolean', timestamp: 'Timestamp', date: 'Date', json: 'Json' };

const bit = (bits, i) => (bits[i >> 3] >> (i & 7)) & 1;
const bytes = (b) => (b instanceof Uint8Array ? b : Uint8Array.from(b));

/**
 * A function from a row index to the cell's JSON text. Throws a LayoutError when the column's
 * buffers do not fit, checked in host-harness's order and with its words: the validity bitmap
 * and null count, UTF-8 and offsets of text, the values' size, offsets where none belong.
 */
function columnReader(c, rows) {
  const [validity, offsets, values] = [bytes(c.validity), bytes(c.offsets), bytes(c.values)];
  const kind = KIND_NAME[c.kind];
  if (kind === undefined) throw new LayoutError(`unknown column kind ${c.kind}`);
  const valid = validityOf(c.nullCount, validity, rows);
  const bitmapBytes = Math.ceil(rows / 8);
  let cell;
  let want;
  if (TEXT.has(c.kind)) {
    cell = textCells(c.kind, offsets, values, rows);
    want = values.length;
  } else {
    want = c.kind === 'boolean' ? bitmapBytes : rows * WIDTH[c.kind];
    cell = fixedCells(c.kind, values);
  }
  if (values.length !== want) throw new LayoutError(`${values.length} bytes of values for ${rows} rows of kind ${kind}`);
  if (!TEXT.has(c.kind) && offsets.length > 0) throw new LayoutError(`offsets in a column of kind ${kind}`);
  return valid ? (r) => (bit(valid, r) ? cell(r) : 'null') : cell;
}

/** The bitmap to read, or null when every row has a value; throws when it does not fit. */
function validityOf(nullCount, validity, rows) {
  if (nullCount === 0 && validity.length === 0) return null;
  const bitmapBytes = Math.ceil(rows / 8);
  if (validity.length !== bitmapBytes) throw new LayoutError(`a validity bitmap of ${validity.length} bytes for ${rows} rows`);
  let nulls = 0;
  for (let r = 0; r < rows; r++) nulls += 1 - bit(validity, r);
  if (nulls !== nullCount) throw new LayoutError(`a null count of ${nullCount} where the bitmap has ${nulls}`);
  return validity;
}

/** Cells of a fixed-width or boolean column (sizes already checked by the caller). */
function fixedCells(kind, values) {
  const view = new DataView(values.buffer, values.byteOffset, values.byteLength);
  return {
    boolean: (r) => (bit(values, r) ? 'true' : 'false'),
    integer: (r) => view.getBigInt64(r * 8, true).toString(),
    number: (r) => stringify(new F64(view.getFloat64(r * 8, true))),
    timestamp: (r) => `"${formatTimestamp(view.getBigInt64(r * 8, true))}"`,
    date: (r) => `"${formatDate(view.getInt32(r * 4, true))}"`,
  }[kind];
}

/** Cells of a `string` or `json` column, after checking its text is UTF-8 and its offsets fit. */
function textCells(kind, offsets, values, rows) {
  const bad = firstInvalidUtf8(values);
  if (bad !== -1) throw new LayoutError(`text that is not UTF-8 (at byte ${bad})`);
  if (offsets.length !== (rows + 1) * 4) throw new LayoutError(`${offsets.length} bytes of offsets for ${rows} rows`);
  const at = new DataView(offsets.buffer, offsets.byteOffset, offsets.byteLength);
  let last = 0;
  for (let k = 0; k <= rows; k++) {
    const o = at.getInt32(k * 4, true);
    // Inside a character: on a continuation byte (10xxxxxx) of the valid text.
    const inside = o >= 0 && o < values.length && (values[o] & 0xc0) === 0x80;
    if (o < last || (k === 0 && o !== 0) || inside || o > values.length) {
      throw new LayoutError(`offset ${k} (${o}) out of order, out of the text or inside a character`);
    }
    last = o;
  }
  const text = (r) => utf8.decode(values.subarray(at.getInt32(r * 4, true), at.getInt32(r * 4 + 4, true)));
  return kind === 'string' ? (r) => JSON.stringify(scrub(text(r))) : (r) => jsonCell(text(r));
}

/**
 * -1 when `b` is UTF-8, else where its valid prefix ends (Rust's `Utf8Error::valid_up_to`, which
 * host-harness names): the strict definition, no overlongs, surrogates or code points past U+10FFFF.
 */
function firstInvalidUtf8(b) {
  let i = 0;
  while (i < b.length) {
    const lead = b[i];
    if (lead < 0x80) {
      i += 1;
      continue;
    }
    // The sequence's length and the range its second byte must fall in.
    let [n, lo, hi] = [0, 0x80, 0xbf];
    if (lead >= 0xc2 && lead <= 0xdf) n = 2;
    else if (lead >= 0xe0 && lead <= 0xef) [n, lo, hi] = [3, lead === 0xe0 ? 0xa0 : 0x80, lead === 0xed ? 0x9f : 0xbf];
    else if (lead >= 0xf0 && lead <= 0xf4) [n, lo, hi] = [4, lead === 0xf0 ? 0x90 : 0x80, lead === 0xf4 ? 0x8f : 0xbf];
    else return i;
    if (i + 1 >= b.length || b[i + 1] < lo || b[i + 1] > hi) return i;
    for (let k = 2; k < n; k++) if (i + k >= b.length || (b[i + k] & 0xc0) !== 0x80) return i;
    i += n;
  }
  return -1;
}

/** A `json` cell: a JSON string is written as a string value is (decoded, scrubbed, escaped). */
function jsonCell(text) {
  if (text.startsWith('"')) return JSON.stringify(scrub(JSON.parse(text)));
  const scrubbed = scrub(text);
  JSON.parse(scrubbed);
  return oneLine(trimJson(scrubbed));
}
