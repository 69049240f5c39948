// The four commands, from inputs to protocol messages, as host-harness/src/commands.rs runs
// them: each returns 0 (did its job) or 1 (could not; the reasons are TRACE ERRORs on stdout).
import { Protocol, FAILURE_TYPE } from './protocol.js';
import { formatRecords } from './records.js';
import { streamJson } from './catalog.js';
import { readConfig, readConfiguredCatalog, readState, InputError } from './inputs.js';
import { addFromConfig } from './secrets.js';
import * as net from './net.js';
import * as logger from './logger.js';
import { takePending } from '../log.js';

/** A reason to stop, written as one TRACE ERROR. */
class Failure {
  constructor(failureType, message, internal = null, stream = null, hint = null) {
    Object.assign(this, { failureType, message, internal, stream, hint });
  }
}

const system = (message, internal) => new Failure('system_error', message, internal);

/** What to do about a component error, for the stderr line (chosen on its typed cause). */
const HINTS = {
  transport: 'is Metabase running and reachable at instance_api_url? check the scheme, host and port',
  timeout: 'a slow Metabase: raise request_timeout_s in the config (at most --request-timeout-s on the host)',
  tls: 'if the server uses a private certificate authority, pass --ca-cert FILE (PEM) or set SSL_CERT_FILE',
  denied: 'the sandbox lets the component reach only instance_api_url\'s host; --allow-host HOST[:PORT] allows another',
};

function writeFailure(out, f) {
  logger.error(f.hint ? `${f.message} (hint: ${f.hint})` : f.message);
  if (f.internal) logger.debug(f.internal);
  out.traceError(f.failureType, f.message, f.internal, f.stream);
}

/** A component error (`connector-error`) as a failure. */
function componentFailure(e) {
  const status = e.httpStatus === undefined ? 'no HTTP status' : `HTTP ${e.httpStatus}`;
  logger.debug(`component error${e.stream ? ` in stream ${e.stream}` : ''}: kind ${e.kind}, cause ${e.cause}, ${status}`);
  return new Failure(FAILURE_TYPE[e.kind], e.message, e.detail ?? null, e.stream ?? null, HINTS[e.cause] ?? null);
}

/** Calls into the component; a trap becomes a failure. Queued guest warnings are written after. */
function call(out, name, fn) {
  try {
    return { ok: fn() };
  } catch (e) {
    if (e && typeof e === 'object' && 'payload' in e) return { err: e.payload };
    const detail = e instanceof Error ? e.stack ?? e.message : String(e);
    return { trap: system(`the component failed in ${name}: ${e instanceof Error ? e.message : e}`, detail) };
  } finally {
    for (const [level, message] of takePending()) out.log(level === 'error' ? 'ERROR' : 'WARN', message);
  }
}

/** The call's value; its component error or trap thrown as a failure. */
function unwrap(result) {
  if (result.trap) throw result.trap;
  if ('err' in result) throw componentFailure(result.err);
  return result.ok;
}

/** The allow-list: --allow-host, else the authority of the config's instance_api_url. */
function allowList(args, config) {
  if (!args.allowHost.length) {
    const entry = net.entryFromInstanceUrl(config?.instance_api_url);
    return entry ? [entry] : [];
  }
  return args.allowHost.map((h) => {
    try {
      return net.parseAllowEntry(h);
    } catch (e) {
      throw new Failure('config_error', `--allow-host: ${e.message}`);
    }
  });
}

function inputs(args) {
  try {
    const config = args.command === 'spec' ? null : readConfig(args.config);
    const selection = args.catalog === undefined ? undefined : readConfiguredCatalog(args.catalog);
    const state = args.state === undefined ? undefined : readState(args.state);
    return { config, selection, state };
  } catch (e) {
    if (e instanceof InputError) throw new Failure('config_error', e.message);
    throw e;
  }
}

async function loadComponent() {
  try {
    return (await import('../gen/metabase_source.js')).source;
  } catch (e) {
    throw system(
      `cannot load the transpiled component (${e.message}); build it with ./build.sh node`,
      e instanceof Error ? e.stack : String(e),
    );
  }
}

export async function run(args, out = new Protocol()) {
  try {
    const { config, selection, state } = inputs(args);
    if (config) addFromConfig(config[1]);
    const allow = allowList(args, config?.[1]);
    logger.debug(`sandbox: allowed hosts: ${net.describe(allow)}`);
    net.configure(allow, args.requestTimeoutS);
    const source = await loadComponent();
    switch (args.command) {
      case 'spec':
        return spec(source, out);
      case 'check':
        return check(source, out, config[0]);
      case 'discover':
        return discover(source, out, config[0]);
      default:
        return read(source, out, config[0], selection, state);
    }
  } catch (e) {
    if (!(e instanceof Failure)) throw e;
    writeFailure(out, e);
    return 1;
  }
}

function spec(source, out) {
  const text = unwrap(call(out, 'spec', () => source.spec()));
  try {
    JSON.parse(text);
  } catch (e) {
    throw system(`the component's spec is not valid JSON: ${e.message}`);
  }
  out.spec(text);
  return 0;
}

function check(source, out, config) {
  const result = call(out, 'check', () => source.check(config));
  if (result.trap) throw result.trap;
  if ('err' in result) {
    // "Fix your config" answers "can we connect?"; it is not a failure of the check itself.
    if (result.err.kind !== 'config') throw componentFailure(result.err);
    if (result.err.detail) logger.info(`check: ${result.err.detail}`);
    out.connectionStatus(result.err.message);
  } else {
    out.connectionStatus(result.ok ?? undefined);
  }
  return 0;
}

function discover(source, out, config) {
  const streams = unwrap(call(out, 'discover', () => source.discover(config)));
  out.catalog(streams.map(streamJson));
  return 0;
}

/** Per-stream bookkeeping of a read (commands.rs `Progress`). */
class Progress {
  constructor(out) {
    this.out = out;
    this.started = new Set();
    this.complete = new Set();
    this.failed = new Set();
    this.unavailable = new Set();
    this.sinceState = new Map();
    this.total = 0;
  }

  start(stream) {
    if (!this.started.has(stream)) {
      this.started.add(stream);
      this.out.streamStatus(stream, 'STARTED');
    }
  }

  fail(stream, failure) {
    this.start(stream);
    if (!this.failed.has(stream)) {
      this.failed.add(stream);
      this.complete.delete(stream);
      this.out.streamStatus(stream, 'INCOMPLETE');
    }
    failure.stream = stream;
    writeFailure(this.out, failure);
  }

  markUnavailable(stream, message) {
    this.start(stream);
    logger.warn(`stream ${stream} unavailable: ${message}`);
    this.out.log('WARN', `stream \`${stream}\` is unavailable to these credentials: ${message}`);
    if (!this.unavailable.has(stream)) {
      this.unavailable.add(stream);
      this.complete.delete(stream);
      this.out.streamStatus(stream, 'INCOMPLETE');
    }
  }

  /** INCOMPLETE for every stream still open when the read stops early. */
  abandon() {
    const open = [...this.started].filter((s) => !this.complete.has(s) && !this.failed.has(s) && !this.unavailable.has(s));
    for (const s of open.sort()) this.out.streamStatus(s, 'INCOMPLETE');
  }

  /** A batch: its RECORDs, then with a checkpoint its STATE and COMPLETE, or the stream's failure. */
  batch(batch) {
    const stream = batch.stream;
    if (this.failed.has(stream)) {
      logger.debug(`read: dropping a batch of ${batch.rows} row(s) for failed stream ${stream}`);
      return;
    }
    this.start(stream);
    const { lines, written, error } = formatRecords(batch, Date.now());
    this.out.lines(lines);
    this.total += written;
    this.sinceState.set(stream, (this.sinceState.get(stream) ?? 0) + written);
    if (error) return this.fail(stream, system(error.message, error.detail));
    if (batch.checkpoint === undefined) return;
    try {
      JSON.parse(batch.checkpoint);
    } catch (e) {
      return this.fail(stream, system(`the connector sent an invalid checkpoint for stream ${stream}: ${e.message}`));
    }
    this.out.state(stream, batch.checkpoint, this.sinceState.get(stream) ?? 0);
    this.sinceState.set(stream, 0);
    this.out.streamStatus(stream, 'COMPLETE');
    this.complete.add(stream);
  }
}

// A component that keeps returning errors without ever finishing is a bug: stop it.
const MAX_STREAM_ERRORS = 10000;

function read(source, out, config, selection, state) {
  logger.info(selection ? `read: ${selection.length} stream(s): ${selection.map((s) => s.name).join(', ')}` : 'read: every stream (no --catalog)');
  const reader = unwrap(call(out, 'open', () => source.Reader.open(config, selection, state)));
  const progress = new Progress(out);
  const t0 = process.hrtime.bigint();
  let errors = 0;
  let healthy = true;
  let fatal = null;
  for (;;) {
    const next = call(out, 'next', () => reader.next());
    if (next.trap) {
      [healthy, fatal] = [false, next.trap];
      break;
    }
    if ('ok' in next) {
      if (next.ok === undefined) break;
      progress.batch(next.ok);
      continue;
    }
    const e = next.err;
    if (e.stream === undefined) {
      fatal = componentFailure(e);
      break;
    }
    if (e.kind === 'unavailable') {
      progress.markUnavailable(e.stream, e.message);
      continue;
    }
    progress.fail(e.stream, componentFailure(e));
    if (++errors >= MAX_STREAM_ERRORS) {
      fatal = system(`the component reported ${errors} stream errors without finishing; stopping`);
      break;
    }
  }
  if (healthy) {
    // Ends any session the connector opened.
    const closed = call(out, 'close', () => reader.close());
    if (closed.trap) fatal ??= closed.trap;
  }
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  logger.info(
    `read: ${progress.total} record(s) in ${seconds.toFixed(2)} s (${(progress.total / Math.max(seconds, 1e-9)).toFixed(0)}/s); ` +
      `${progress.complete.size} stream(s) complete, ${progress.failed.size} failed`,
  );
  if (fatal) {
    progress.abandon();
    throw fatal;
  }
  if (!progress.failed.size) return 0;
  logger.error(`read: stream(s) failed: ${[...progress.failed].sort().join(', ')}`);
  return 1;
}
