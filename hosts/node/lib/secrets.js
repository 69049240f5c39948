// Redaction of credentials from everything the host prints, as host-harness does it: the
// config's secret values from the start, and credentials the component sends (a session id it
// obtained by logging in) as the outgoing-request guard sees them.

export const REDACTED = 'REDACTED';
/** The config keys that hold credentials (`airbyte_secret` in the spec). */
export const SECRET_KEYS = ['api_key', 'session_token', 'password'];
/** Request headers that carry credentials. */
export const CREDENTIAL_HEADERS = ['x-api-key', 'x-metabase-session', 'cookie', 'authorization'];
// Shorter values are not scrubbed: replacing every "a" would destroy data and protect nothing.
const MIN_SECRET_LEN = 4;

const values = [];

export function addSecret(value) {
  if (typeof value !== 'string' || Buffer.byteLength(value) < MIN_SECRET_LEN || values.includes(value)) return;
  values.push(value);
  // Longest first, so a secret containing another is replaced whole.
  values.sort((a, b) => b.length - a.length);
}

export function addFromConfig(config) {
  if (config === null || typeof config !== 'object') return;
  for (const key of SECRET_KEYS) addSecret(config[key]);
}

export function scrub(text) {
  let out = text;
  for (const v of values) {
    if (out.includes(v)) out = out.split(v).join(REDACTED);
  }
  return out;
}
