// The component's `ingest:source/log` import (`jco transpile --map ingest:source/log=../log.js`).
// Guest logs go to stderr under --log-level; warnings and errors are also queued and written as
// Airbyte LOG messages on stdout between guest calls, as host-harness does.
import { log as hostLog } from './lib/logger.js';

/** Queued guest warnings and errors: [level, message] pairs. */
const pending = [];
// A guest that logs warnings in a tight loop must not grow host memory without limit.
const MAX_PENDING = 10000;

/** `log: func(level, message)`: jco calls the interface's one function by its name. */
export function log(level, message) {
  hostLog(level, message);
  if ((level === 'error' || level === 'warn') && pending.length < MAX_PENDING) pending.push([level, message]);
}

/** The queued warnings, emptied. */
export function takePending() {
  return pending.splice(0, pending.length);
}
