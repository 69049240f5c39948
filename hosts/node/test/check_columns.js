// Test helper for tests/it/hosts_node.rs: reads a JSON list of one-column batches (buffers as
// arrays of bytes) from the file named by its argument and writes, one a line, `ok` when the
// Node host formats the batch, else the detail of its error (lib/records.js), so the test can
// compare them with host-harness's checks of the same buffers.
import { readFileSync } from 'node:fs';
import { formatRecords } from '../lib/records.js';

const out = [];
for (const batch of JSON.parse(readFileSync(process.argv[2], 'utf8'))) {
  for (const c of batch.columns) for (const b of ['validity', 'offsets', 'values']) c[b] = Uint8Array.from(c[b]);
  const { error } = formatRecords(batch, 0);
  out.push(error ? error.detail : 'ok');
}
process.stdout.write(out.join('\n') + '\n');
