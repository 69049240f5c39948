// Records a HAR with a real browser, as a user would with dev tools: headless Chromium driven by
// playwright-core opens a Metabase origin and fetches API URLs with the API key header.
//
//   node tests/browser/record_har.mjs --har OUT.har --origin http://127.0.0.1:PORT \
//        --api-key KEY --urls URLS.json [--chromium /usr/bin/chromium] [--profile DIR]
//
// URLS.json is a JSON array of absolute URLs (same origin), fetched in order, each body read to its
// end so the HAR holds it. The page itself is the origin's /api/health (public), so the HAR also
// holds entries the connector never asks for. Prints one JSON line: {"fetched": N, "statuses": [...]}.
// Needs playwright-core (./build.sh test installs it into tests/browser/node_modules).
import { chromium } from 'playwright-core';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

function args() {
  const out = { chromium: '/usr/bin/chromium' };
  const argv = process.argv.slice(2);
  for (let i = 0; i < argv.length; i += 2) {
    const key = argv[i].replace(/^--/, '');
    if (argv[i + 1] === undefined) throw new Error(`missing value for ${argv[i]}`);
    out[key.replace(/-([a-z])/g, (_, c) => c.toUpperCase())] = argv[i + 1];
  }
  for (const k of ['har', 'origin', 'apiKey', 'urls']) {
    if (!out[k]) throw new Error(`--${k.replace(/[A-Z]/g, (c) => '-' + c.toLowerCase())} is required`);
  }
  return out;
}

const a = args();
const urls = JSON.parse(readFileSync(a.urls, 'utf8'));
// A fresh profile every time: no cache, no cookies, no state from an earlier run.
const profile = a.profile ?? mkdtempSync(join(tmpdir(), 'metabase-har-profile-'));
const context = await chromium.launchPersistentContext(profile, {
  executablePath: a.chromium,
  headless: true,
  args: [
    '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync',
    // Loopback only: no name resolves, so nothing but the 127.0.0.1 origin can be reached.
    '--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1',
  ],
  recordHar: { path: a.har, content: 'embed', mode: 'full' },
  timeout: 60_000,
});
try {
  const page = context.pages()[0] ?? (await context.newPage());
  await page.goto(`${a.origin}/api/health`, { timeout: 30_000 });
  const statuses = await page.evaluate(async ({ urls, key }) => {
    const out = [];
    for (const url of urls) {
      const r = await fetch(url, { headers: { 'X-API-Key': key, Accept: 'application/json' } });
      await r.text(); // the whole body, so the HAR holds it
      out.push(r.status);
    }
    return out;
  }, { urls, key: a.apiKey });
  console.log(JSON.stringify({ fetched: statuses.length, statuses }));
} finally {
  await context.close(); // writes the HAR
  if (!a.profile) rmSync(profile, { recursive: true, force: true });
}
