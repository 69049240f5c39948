// The command line of host-harness (docs/cli.md): the same verbs and flags, flags before or after
// the verb. A bad command line is a UsageError (exit 2, nothing on stdout).

export class UsageError extends Error {}

export const USAGE = `Usage: source-metabase-node [FLAGS] <spec|check|discover|read> [--config config.json]
       [--catalog configured_catalog.json] [--state state.json]

Runs the Metabase source component under Node.js (jco + preview2-shim) and speaks the Airbyte
protocol on stdout, as host-harness does.

Flags:
  --config FILE             connector config (check, discover, read)
  --catalog FILE            ConfiguredAirbyteCatalog (read; default: every stream, full refresh)
  --state FILE              state from an earlier read (read)
  --allow-host HOST[:PORT]  allow requests to HOST[:PORT] (repeatable; default: instance_api_url's authority)
  --ca-cert FILE            also trust the CA certificates in this PEM file (default: $SSL_CERT_FILE)
  --request-timeout-s S     upper bound of every HTTP timeout (default 60)
  --memory-limit-mib MIB, --call-timeout-s S, --cache-dir DIR, --no-cache
                            accepted for host-harness compatibility; not enforced here (see docs/node.md)
  --quiet                   show only errors on stderr
  --log-level LEVEL         error, warn, info (default), debug or trace

Exit codes: 0 the command did its job (a check that reports FAILED included); 1 it could not (a
TRACE ERROR on stdout says why); 2 bad command line.`;

const VALUE_FLAGS = {
  '--config': 'config',
  '--catalog': 'catalog',
  '--state': 'state',
  '--ca-cert': 'caCert',
  '--request-timeout-s': 'requestTimeoutS',
  '--memory-limit-mib': 'memoryLimitMib',
  '--call-timeout-s': 'callTimeoutS',
  '--cache-dir': 'cacheDir',
  '--log-level': 'logLevel',
  '--allow-host': 'allowHost',
};
const SWITCHES = { '--quiet': 'quiet', '--no-cache': 'noCache' };
// host-harness flags this host cannot honour: refused, rather than silently ignored.
const UNSUPPORTED = {
  '--replay': 'HAR replay is host-harness only; serve the HAR on loopback (tests/python/har_server.py) instead',
  '--record': 'HAR recording is host-harness only',
  '--max-concurrent-requests': 'preview2-shim sends every request at once; there is no cap to set',
  '--component': 'the component is transpiled at build time (./build.sh node); rebuild to change it',
};
const COMMANDS = ['spec', 'check', 'discover', 'read'];
const LEVELS = ['error', 'warn', 'info', 'debug', 'trace'];

function positiveInt(flag, text, max = Number.MAX_SAFE_INTEGER) {
  if (!/^\d+$/.test(text) || Number(text) < 1 || Number(text) > max) {
    throw new UsageError(`invalid value '${text}' for '${flag}': expected a whole number from 1 to ${max}`);
  }
  return Number(text);
}

export function parse(argv, env = process.env) {
  const a = { allowHost: [], quiet: false, noCache: false, logLevel: 'info', requestTimeoutS: '60', help: false };
  for (let i = 0; i < argv.length; i++) {
    let arg = argv[i];
    let inline;
    if (arg.startsWith('--') && arg.includes('=')) [arg, inline] = [arg.slice(0, arg.indexOf('=')), arg.slice(arg.indexOf('=') + 1)];
    if (arg === '--help' || arg === '-h' || arg === 'help') {
      a.help = true;
    } else if (arg === '--version' || arg === '-V') {
      a.version = true;
    } else if (arg in SWITCHES) {
      a[SWITCHES[arg]] = true;
    } else if (arg in VALUE_FLAGS) {
      const value = inline ?? argv[++i];
      if (value === undefined) throw new UsageError(`a value is required for '${arg} <VALUE>' but none was supplied`);
      const key = VALUE_FLAGS[arg];
      if (key === 'allowHost') a.allowHost.push(value);
      else a[key] = value;
    } else if (arg in UNSUPPORTED) {
      throw new UsageError(`${arg} is not supported by the Node host: ${UNSUPPORTED[arg]}`);
    } else if (!arg.startsWith('-') && a.command === undefined) {
      if (!COMMANDS.includes(arg)) throw new UsageError(`unrecognized subcommand '${arg}' (expected one of ${COMMANDS.join(', ')})`);
      a.command = arg;
    } else {
      throw new UsageError(`unexpected argument '${argv[i]}'`);
    }
  }
  if (a.help || a.version) return a;
  if (a.command === undefined) throw new UsageError('a command is required: spec, check, discover or read');
  if (a.command !== 'spec' && a.config === undefined) {
    throw new UsageError(`the following required arguments were not provided: --config <config.json>`);
  }
  for (const [flag, key] of [['--catalog', 'catalog'], ['--state', 'state']]) {
    if (a[key] !== undefined && a.command !== 'read') throw new UsageError(`unexpected argument '${flag}' for ${a.command}`);
  }
  if (a.command === 'spec' && a.config !== undefined) throw new UsageError(`unexpected argument '--config' for spec`);
  if (!LEVELS.includes(a.logLevel)) {
    throw new UsageError(`invalid value '${a.logLevel}' for '--log-level <LEVEL>': expected one of ${LEVELS.join(', ')}`);
  }
  a.requestTimeoutS = positiveInt('--request-timeout-s', a.requestTimeoutS);
  if (a.memoryLimitMib !== undefined) positiveInt('--memory-limit-mib', a.memoryLimitMib, 65536);
  if (a.callTimeoutS !== undefined) positiveInt('--call-timeout-s', a.callTimeoutS);
  if (a.caCert === undefined && env.SSL_CERT_FILE) a.caCert = env.SSL_CERT_FILE;
  return a;
}
