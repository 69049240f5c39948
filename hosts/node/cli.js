#!/usr/bin/env node
// source-metabase-node: the Metabase source component under Node.js, speaking the Airbyte
// protocol with host-harness's verbs, flags, exit codes and output (docs/node.md).
import { spawnSync } from 'node:child_process';
import { accessSync, constants, realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parse, UsageError, USAGE } from './lib/args.js';
import { Protocol } from './lib/protocol.js';
import * as logger from './lib/logger.js';

/**
 * Node reads extra CA certificates only at start-up (NODE_EXTRA_CA_CERTS), and preview2-shim's
 * HTTPS agent uses Node's default trust store: with --ca-cert, the CLI runs itself again with
 * that variable set. Returns the child's exit code, or undefined when this process is the one.
 */
function withCaCert(file) {
  let path;
  try {
    accessSync(file, constants.R_OK);
    path = realpathSync(file);
  } catch (e) {
    new Protocol().traceError('config_error', `--ca-cert ${file}: cannot be read: ${e.message}`, null, null);
    logger.error(`--ca-cert ${file}: cannot be read: ${e.message} (hint: --ca-cert takes a PEM file of CA certificates)`);
    return 1;
  }
  if (process.env.NODE_EXTRA_CA_CERTS === path) return undefined;
  const child = spawnSync(process.execPath, [...process.execArgv, fileURLToPath(import.meta.url), ...process.argv.slice(2)], {
    stdio: 'inherit',
    env: { ...process.env, NODE_EXTRA_CA_CERTS: path },
  });
  return child.status ?? 1;
}

async function main() {
  let args;
  try {
    args = parse(process.argv.slice(2));
  } catch (e) {
    if (!(e instanceof UsageError)) throw e;
    process.stderr.write(`error: ${e.message}\n\n${USAGE}\n`);
    return 2;
  }
  // Help and version go to stdout, as host-harness (clap) prints them.
  if (args.help) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  if (args.version) {
    process.stdout.write('source-metabase-node 0.1.0\n');
    return 0;
  }
  logger.init(args.logLevel, args.quiet);
  if (args.caCert !== undefined) {
    const code = withCaCert(args.caCert);
    if (code !== undefined) return code;
  }
  const { run } = await import('./lib/commands.js');
  return run(args);
}

main().then(
  (code) => process.exit(code),
  (e) => {
    // Never die silently mid-protocol: a bug of this host is a TRACE ERROR too.
    new Protocol().traceError('system_error', 'internal error in the Node host', String(e?.stack ?? e), null);
    process.stderr.write(`ERROR internal error in the Node host: ${e?.stack ?? e}\n`);
    process.exit(1);
  },
);
