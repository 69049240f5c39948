// The component's only way out, `wasi:http/outgoing-handler`, wrapped (`jco transpile --map
// wasi:http/outgoing-handler=...#outgoingHandler`) to apply host-harness's network rules before
// preview2-shim sends a request: the allow-list (the config's instance_api_url authority, or
// --allow-host), request timeouts clamped to --request-timeout-s, and credentials the component
// sends learnt as secrets to scrub.
import { outgoingHandler as shim, types as shimTypes } from '@bytecodealliance/preview2-shim/http';
import { addSecret, CREDENTIAL_HEADERS } from './secrets.js';
import * as logger from './logger.js';

const rules = { allow: [], requestTimeoutNs: 60n * 1_000_000_000n };

/** Sets the allow-list (`{host, port}` entries, port null for the scheme's default) and the timeout cap. */
export function configure(allow, requestTimeoutS) {
  rules.allow = allow;
  rules.requestTimeoutNs = BigInt(requestTimeoutS) * 1_000_000_000n;
}

/** Parses `HOST[:PORT]`, `[IPv6][:PORT]` or a URL (whose port defaults by scheme). */
export function parseAllowEntry(spec) {
  const s = spec.trim();
  if (!s) throw new Error('an empty host');
  if (s.includes('://')) {
    let u;
    try {
      u = new URL(s);
    } catch {
      throw new Error(`${JSON.stringify(s)} is not a valid URL`);
    }
    return { host: u.hostname.toLowerCase(), port: Number(u.port) || defaultPort(u.protocol) };
  }
  const m = /^(\[[^\]]*\]|[^:]*)(?::(.*))?$/.exec(s.split(':').length > 2 && !s.startsWith('[') ? `[${s}]` : s);
  const [host, port] = [m[1], m[2]];
  if (!host || /[/?#@ ]/.test(host)) throw new Error(`${JSON.stringify(s)} is not HOST[:PORT]`);
  if (port !== undefined && !/^\d{1,5}$/.test(port)) throw new Error(`${JSON.stringify(s)}: ${JSON.stringify(port)} is not a port number`);
  return { host: host.toLowerCase(), port: port === undefined ? null : Number(port) };
}

/** The authority of the config's instance_api_url (a missing scheme means https). */
export function entryFromInstanceUrl(url) {
  if (typeof url !== 'string' || !url.trim()) return null;
  for (const candidate of [url.trim(), `https://${url.trim()}`]) {
    try {
      const u = new URL(candidate);
      if (u.hostname) return { host: u.hostname.toLowerCase(), port: Number(u.port) || defaultPort(u.protocol) };
    } catch {
      // Try with a scheme.
    }
  }
  return null;
}

const defaultPort = (protocol) => (protocol === 'http:' ? 80 : 443);

export function describe(allow) {
  return allow.length ? allow.map((e) => (e.port === null ? e.host : `${e.host}:${e.port}`)).join(', ') : 'nothing';
}

function allows(scheme, authority) {
  const fallback = scheme === 'http' ? 80 : 443;
  const m = /^(\[[^\]]*\]|[^:]*)(?::(\d+))?$/.exec(authority ?? '');
  if (!m || !m[1]) return false;
  const host = m[1].toLowerCase();
  const port = m[2] === undefined ? fallback : Number(m[2]);
  return rules.allow.some((e) => e.host === host && (e.port ?? fallback) === port);
}

function schemeName(scheme) {
  if (!scheme || scheme.tag === 'HTTPS') return 'https';
  return scheme.tag === 'HTTP' ? 'http' : String(scheme.val).toLowerCase();
}

function learnSecrets(request) {
  const decoder = new TextDecoder();
  for (const name of CREDENTIAL_HEADERS) {
    for (const value of request.headers().get(name)) addSecret(decoder.decode(value).trim());
  }
}

/** Each of the component's timeouts clamped to the cap (and the cap where it set none). */
function clampOptions(options) {
  const o = options ?? new shimTypes.RequestOptions();
  const cap = rules.requestTimeoutNs;
  const clamp = (get, set) => {
    const d = get.call(o);
    set.call(o, d === undefined || d > cap ? cap : d);
  };
  clamp(o.connectTimeout, o.setConnectTimeout);
  clamp(o.firstByteTimeout, o.setFirstByteTimeout);
  clamp(o.betweenBytesTimeout, o.setBetweenBytesTimeout);
  return o;
}

// Node's certificate verification failures as preview2-shim reports them: an `internal-error`
// with the error's text (the shim drops Node's error code), told apart here so the component
// gets WASI's typed `TLS-certificate-error`, as under host-harness.
const CERTIFICATE_REFUSALS = [
  /unable to verify the first certificate/,
  /self[- ]signed certificate/,
  /unable to get (local )?issuer certificate/,
  /certificate has expired/,
  /certificate is not yet valid/,
  /does not match certificate's altnames/,
];

/** The response future, whose refused-certificate error is typed. */
function typedCertificateErrors(future) {
  const get = future.get.bind(future);
  future.get = () => {
    const result = get();
    const code = result?.tag === 'ok' && result.val.tag === 'err' ? result.val.val : undefined;
    if (code?.tag === 'internal-error' && CERTIFICATE_REFUSALS.some((re) => re.test(code.val ?? ''))) {
      logger.warn(`tls: the server's certificate was refused: ${code.val}`);
      result.val.val = { tag: 'TLS-certificate-error' };
    }
    return result;
  };
  return future;
}

export const outgoingHandler = {
  handle(request, options) {
    learnSecrets(request);
    const scheme = schemeName(request.scheme());
    const authority = request.authority();
    const path = (request.pathWithQuery() ?? '/').split('?')[0];
    const method = request.method();
    const name = (method.val ?? method.tag).toUpperCase();
    if (!allows(scheme, authority)) {
      logger.warn(`sandbox: denied ${name} ${scheme}://${authority ?? ''}${path} (allowed: ${describe(rules.allow)})`);
      throw { tag: 'HTTP-request-denied' };
    }
    logger.debug(`http: ${name} ${scheme}://${authority}${request.pathWithQuery() ?? ''}`);
    return typedCertificateErrors(shim.handle(request, clampOptions(options)));
  },
};

/**
 * `wasi:http/types`, with `http-error-code` always answering an error code. preview2-shim hands a
 * body that broke off (Node's `Error: aborted`) to the component as the stream error's payload,
 * which is no `error-code` and trapped the component; it is a response that ended early, which
 * the component reports (and retries) as under host-harness.
 */
export const types = {
  ...shimTypes,
  httpErrorCode(err) {
    const code = shimTypes.httpErrorCode(err);
    if (code && typeof code === 'object' && typeof code.tag === 'string') return code;
    logger.debug(`http: the response body broke off: ${code}`);
    return { tag: 'HTTP-response-incomplete' };
  },
};
