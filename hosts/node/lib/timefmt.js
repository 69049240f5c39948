// The component's instants (UTC microseconds) and dates (days since 1970-01-01) as the RFC 3339
// text host-harness writes: `2024-06-19T11:57:35.859990Z`, `2024-02-29`; years outside 0000-9999
// as a sign and at least six digits, as the project's `civil-time` crate writes them.

const MICROS_PER_DAY = 86_400_000_000n;

/** (year, month, day) of a day count since 1970-01-01 (proleptic Gregorian). */
function civilFromDays(days) {
  const z = days + 719468;
  const era = Math.floor(z / 146097);
  const doe = z - era * 146097;
  const yoe = Math.floor((doe - Math.floor(doe / 1460) + Math.floor(doe / 36524) - Math.floor(doe / 146096)) / 365);
  const doy = doe - (365 * yoe + Math.floor(yoe / 4) - Math.floor(yoe / 100));
  const mp = Math.floor((5 * doy + 2) / 153);
  const day = doy - Math.floor((153 * mp + 2) / 5) + 1;
  const month = mp < 10 ? mp + 3 : mp - 9;
  return [yoe + era * 400 + (month <= 2 ? 1 : 0), month, day];
}

const pad = (n, width) => String(n).padStart(width, '0');

function year(y) {
  if (y >= 0 && y <= 9999) return pad(y, 4);
  return (y < 0 ? '-' : '+') + pad(Math.abs(y), 6);
}

export function formatDate(days) {
  const [y, m, d] = civilFromDays(days);
  return `${year(y)}-${pad(m, 2)}-${pad(d, 2)}`;
}

/** `micros`: a BigInt (WIT s64). */
export function formatTimestamp(micros) {
  let days = micros / MICROS_PER_DAY;
  let inDay = micros % MICROS_PER_DAY;
  if (inDay < 0n) {
    inDay += MICROS_PER_DAY;
    days -= 1n;
  }
  const secs = Number(inDay / 1_000_000n);
  const frac = Number(inDay % 1_000_000n);
  const time = `${pad(Math.floor(secs / 3600), 2)}:${pad(Math.floor(secs / 60) % 60, 2)}:${pad(secs % 60, 2)}`;
  return `${formatDate(Number(days))}T${time}.${pad(frac, 6)}Z`;
}
