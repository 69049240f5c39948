// A batch of the component's rows as Airbyte RECORD lines.
//
// The only module that knows the WIT batch layout (`ingest:source@0.2.0`: `columns` and
// `rows: list<list<value>>`), so a change of the batch format is a change here alone. Each value
// is written as host-harness writes it (protocol.rs `push_value`), so RECORD lines of the two
// hosts are byte-identical apart from `emitted_at`.
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

/**
 * The batch's RECORD lines (each ending in a newline), and the number of rows they hold. A row
 * that cannot be written stops it: `lines` then holds the whole lines before it, and `error`
 * says why.
 */
export function formatRecords(batch, emittedAt) {
  const prefix = `{"type":"RECORD","record":{"stream":${JSON.stringify(batch.stream)},"data":{`;
  const suffix = `},"emitted_at":${emittedAt}}}\n`;
  const keys = batch.columns.map((c, i) => (i > 0 ? ',' : '') + JSON.stringify(c) + ':');
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

/** The batch's stream, checkpoint (JSON text or undefined) and row count. */
export function batchInfo(batch) {
  return { stream: batch.stream, checkpoint: batch.checkpoint, rows: batch.rows.length };
}
