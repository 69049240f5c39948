// `LEVEL message` lines on stderr (stdout belongs to the Airbyte protocol), scrubbed.
import { writeSync } from 'node:fs';
import { scrub } from './secrets.js';

export const LEVELS = ['error', 'warn', 'info', 'debug', 'trace'];
let max = 2;

export function init(level, quiet) {
  max = quiet ? 0 : LEVELS.indexOf(level);
}

export function log(level, message) {
  const rank = LEVELS.indexOf(level);
  if (rank > max) return;
  const label = level.toUpperCase();
  const lines = scrub(String(message)).split(/\r?\n/);
  try {
    writeSync(2, lines.map((l) => `${label} ${l}`).join('\n') + '\n');
  } catch {
    // Nowhere to report a failed write to stderr.
  }
}

export const error = (m) => log('error', m);
export const warn = (m) => log('warn', m);
export const info = (m) => log('info', m);
export const debug = (m) => log('debug', m);
