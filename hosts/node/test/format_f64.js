// Test helper for tests/it/hosts_node.rs: reads f64 bit patterns (16 hex digits, one a line) from
// the file named by its argument and writes each number as the Node host writes it in a RECORD line (lib/json.js), one a
// line, so the test can compare them with serde_json's text of the same bits.
import { readFileSync } from 'node:fs';
import { F64, stringify } from '../lib/json.js';

const bits = new DataView(new ArrayBuffer(8));
const out = [];
for (const line of readFileSync(process.argv[2], 'utf8').split('\n')) {
  if (line === '') continue;
  bits.setBigUint64(0, BigInt(`0x${line}`));
  out.push(stringify(new F64(bits.getFloat64(0))));
}
process.stdout.write(out.join('\n') + '\n');
