// JSON text exactly as host-harness writes it (serde_json without `preserve_order`), so the two
// hosts' output can be compared byte for byte: object keys sorted, and floats in the shortest
// round-trip form serde_json writes (its `zmij` crate: `1.0`, `1e+16`, `1.5e-7`), which differs
// from JavaScript's own placement of the same digits (`1`, `10000000000000000`, `1.5e-7`).

/** A number that host-harness writes as an f64 (always with a fraction or an exponent). */
export class F64 {
  constructor(value) {
    this.value = value;
  }
}

/**
 * `x` as serde_json formats a finite f64: the shortest digits that round-trip (the same digits
 * as JavaScript's), in plain notation for decimal exponents -5 to 15 (`0.00001`,
 * `1000000000000000.0`, always with a fraction), else as `d.ddde+N` / `de-N` (sign always
 * written, no leading zeros in the exponent).
 */
export function formatF64(x) {
  if (x === 0) return Object.is(x, -0) ? '-0.0' : '0.0';
  const sign = x < 0 ? '-' : '';
  const [mantissa, exp] = Math.abs(x).toExponential().split('e');
  const digits = mantissa.replace('.', '');
  const n = digits.length;
  // The decimal point sits after `kk` digits.
  const kk = Number(exp) + 1;
  let body;
  if (kk >= n && kk <= 16) {
    body = digits + '0'.repeat(kk - n) + '.0';
  } else if (kk > 0 && kk <= 16) {
    body = digits.slice(0, kk) + '.' + digits.slice(kk);
  } else if (kk > -5 && kk <= 0) {
    body = '0.' + '0'.repeat(-kk) + digits;
  } else {
    body = (n === 1 ? digits : digits[0] + '.' + digits.slice(1)) + exponent(kk - 1);
  }
  return sign + body;
}

/** `e+21`, `e-7`: serde_json writes the exponent's sign either way. */
const exponent = (e) => (e < 0 ? `e${e}` : `e+${e}`);

/** A JSON value as serde_json's `to_string` of a `Value` writes it (keys sorted). */
export function stringify(value) {
  if (value === null || value === undefined) return 'null';
  if (value instanceof F64) return Number.isFinite(value.value) ? formatF64(value.value) : 'null';
  switch (typeof value) {
    case 'string':
      return JSON.stringify(value);
    case 'boolean':
      return value ? 'true' : 'false';
    case 'bigint':
      return value.toString();
    case 'number':
      return Number.isInteger(value) ? String(value) : formatF64(value);
    default:
      break;
  }
  if (Array.isArray(value)) return '[' + value.map(stringify).join(',') + ']';
  const keys = Object.keys(value)
    .filter((k) => value[k] !== undefined)
    .sort(byUtf8);
  return '{' + keys.map((k) => JSON.stringify(k) + ':' + stringify(value[k])).join(',') + '}';
}

/** serde_json's map order: by the keys' UTF-8 bytes. */
function byUtf8(a, b) {
  return Buffer.compare(Buffer.from(a), Buffer.from(b));
}

/** Valid JSON text on one line: raw line breaks in valid JSON are insignificant whitespace. */
export function oneLine(text) {
  return /[\r\n]/.test(text) ? text.replace(/[\r\n]/g, ' ') : text;
}

/** JSON text without the insignificant whitespace around the value. */
export function trimJson(text) {
  return text.replace(/^[ \t\r\n]+|[ \t\r\n]+$/g, '');
}
