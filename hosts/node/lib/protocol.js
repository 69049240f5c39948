// The Airbyte protocol on stdout: one JSON message per line, the same bytes host-harness writes
// (see json.js). Every message passes through the secret scrubber.
import { writeSync } from 'node:fs';
import { F64, stringify, oneLine, trimJson } from './json.js';
import { scrub } from './secrets.js';

const DOCUMENTATION_URL = 'https://www.metabase.com/docs/latest/api';

/** Airbyte's failure_type of a component's failure kind (`unavailable` is the user's to fix). */
export const FAILURE_TYPE = {
  config: 'config_error',
  transient: 'transient_error',
  system: 'system_error',
  unavailable: 'config_error',
};

/** Writes all of `text` to a file descriptor, waiting while a non-blocking pipe is full. */
export function writeAll(fd, text) {
  let buf = Buffer.from(text);
  while (buf.length > 0) {
    try {
      const n = writeSync(fd, buf);
      buf = buf.subarray(n);
    } catch (e) {
      if (e.code !== 'EAGAIN') throw e;
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 5);
    }
  }
}

const now = () => new F64(Date.now());

export class Protocol {
  constructor(fd = 1) {
    this.fd = fd;
  }

  raw(text) {
    writeAll(this.fd, scrub(text) + '\n');
  }

  message(value) {
    this.raw(stringify(value));
  }

  /** RECORD lines already formatted (and scrubbed) by records.js. */
  lines(text) {
    if (text) writeAll(this.fd, text);
  }

  /** `spec`: the component's JSON text, already checked to be valid JSON. */
  spec(spec) {
    const head = `{"type":"SPEC","spec":{"documentationUrl":"${DOCUMENTATION_URL}","connectionSpecification":`;
    this.raw(head + oneLine(trimJson(spec)) + '}}');
  }

  connectionStatus(failure) {
    const status = failure === undefined ? { status: 'SUCCEEDED' } : { status: 'FAILED', message: failure };
    this.message({ type: 'CONNECTION_STATUS', connectionStatus: status });
  }

  catalog(streams) {
    this.message({ type: 'CATALOG', catalog: { streams } });
  }

  traceError(failureType, message, internal, stream) {
    const error = { message, internal_message: internal ?? null, failure_type: failureType };
    if (stream !== undefined && stream !== null) error.stream_descriptor = { name: stream };
    this.message({ type: 'TRACE', trace: { type: 'ERROR', emitted_at: now(), error } });
  }

  streamStatus(stream, status) {
    const streamStatus = { stream_descriptor: { name: stream }, status };
    this.message({ type: 'TRACE', trace: { type: 'STREAM_STATUS', emitted_at: now(), stream_status: streamStatus } });
  }

  log(level, message) {
    this.message({ type: 'LOG', log: { level, message } });
  }

  /** A per-stream STATE with the checkpoint (valid JSON text) embedded as-is. */
  state(stream, checkpoint, recordCount) {
    this.raw(
      `{"type":"STATE","state":{"type":"STREAM","stream":{"stream_descriptor":{"name":${JSON.stringify(stream)}},` +
        `"stream_state":${oneLine(trimJson(checkpoint))}},"sourceStats":{"recordCount":${recordCount}.0}}}`,
    );
  }
}
