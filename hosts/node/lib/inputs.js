// The user's input files (config, configured catalog, state), read as host-harness reads them
// (host-harness/src/airbyte/catalog.rs): a problem is an InputError naming the file.
import { readFileSync } from 'node:fs';

export class InputError extends Error {}

function readJson(path, what) {
  let text;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new InputError(`${what} file ${path}: cannot be read: ${e.message}`);
  }
  try {
    return [text, JSON.parse(text)];
  } catch (e) {
    throw new InputError(`${what} file ${path}: is not valid JSON: ${e.message}`);
  }
}

const isObject = (v) => v !== null && typeof v === 'object' && !Array.isArray(v);
const kindName = (v) => (v === null ? 'null' : Array.isArray(v) ? 'an array' : `a ${typeof v}`);

/** The config: its text (passed to the component unchanged) and its parsed value. */
export function readConfig(path) {
  const [text, value] = readJson(path, 'config');
  if (!isObject(value)) throw new InputError(`config file ${path}: must hold a JSON object`);
  return [text, value];
}

/** A ConfiguredAirbyteCatalog as the component's stream selection, in order. */
export function readConfiguredCatalog(path) {
  const [, value] = readJson(path, 'catalog');
  const streams = value?.streams;
  if (!Array.isArray(streams)) {
    throw new InputError(`catalog file ${path}: must be a ConfiguredAirbyteCatalog: an object with a "streams" array`);
  }
  const out = [];
  streams.forEach((s, i) => {
    const name = s?.stream?.name;
    if (typeof name !== 'string') throw new InputError(`catalog file ${path}: streams[${i}] has no stream.name`);
    const mode = s.sync_mode ?? 'full_refresh';
    if (mode !== 'full_refresh' && mode !== 'incremental') {
      throw new InputError(
        `catalog file ${path}: streams[${i}] (${name}) has sync_mode ${JSON.stringify(mode)}; expected "full_refresh" or "incremental"`,
      );
    }
    if (out.some((o) => o.name === name)) throw new InputError(`catalog file ${path}: stream ${name} is listed twice`);
    out.push({ name, syncMode: mode === 'incremental' ? 'incremental' : 'full-refresh' });
  });
  return out;
}

/** A state file as the component's state (JSON text of `{stream: state}`), or undefined. */
export function readState(path) {
  const [, value] = readJson(path, 'state');
  try {
    const state = parseState(value);
    return state === undefined ? undefined : JSON.stringify(state);
  } catch (e) {
    throw new InputError(`state file ${path}: ${e.message}`);
  }
}

function parseState(value) {
  if (value === null) return undefined;
  if (isObject(value) && looksLikeStateMessage(value)) return parseState([value]);
  if (isObject(value)) return value;
  if (Array.isArray(value)) {
    const out = {};
    value.forEach((item, i) => {
      try {
        addStateItem(out, item);
      } catch (e) {
        throw new Error(`item ${i}: ${e.message}`);
      }
    });
    return Object.keys(out).length ? out : undefined;
  }
  throw new Error(`must be an array of Airbyte state objects or a JSON object, not ${kindName(value)}`);
}

function looksLikeStateMessage(map) {
  return (
    ['STREAM', 'GLOBAL', 'LEGACY', 'STATE'].includes(map.type) &&
    ['stream', 'global', 'data', 'state'].some((k) => k in map)
  );
}

function addStateItem(out, item) {
  if (!isObject(item)) throw new Error(`must be an object, not ${kindName(item)}`);
  if (item.type === 'STATE') {
    if (!('state' in item)) throw new Error('a STATE message without "state"');
    return addStateItem(out, item.state);
  }
  if (item.type === 'STREAM' || (item.type === undefined && 'stream' in item)) return addStreamState(out, item.stream);
  if (item.type === 'GLOBAL') {
    const states = item.global?.stream_states;
    if (!Array.isArray(states)) throw new Error('a GLOBAL state without global.stream_states');
    for (const s of states) addStreamState(out, s);
    return;
  }
  if (item.type === 'LEGACY') {
    if (!isObject(item.data)) throw new Error('a LEGACY state without a "data" object');
    Object.assign(out, item.data);
    return;
  }
  if (item.type !== undefined) throw new Error(`unknown state type ${JSON.stringify(item.type)}; expected STREAM`);
  throw new Error('has neither "type" nor "stream"; expected {"type":"STREAM","stream":{...}}');
}

function addStreamState(out, stream) {
  const name = stream?.stream_descriptor?.name;
  if (typeof name !== 'string') throw new Error('a STREAM state without stream.stream_descriptor.name');
  const state = stream.stream_state ?? null;
  if (state !== null) out[name] = state;
}
