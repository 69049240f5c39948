//! Why a failure happened, typed, and the fix for it as the one line a
//! person reads on stderr.
//!
//! The TRACE ERROR on stdout keeps the component's or the host's message as
//! is (tools match on it); the stderr line adds what to do about it, so a
//! person at a terminal sees `ERROR <what happened> (hint: <what to do>)`.
//! The hint is chosen on the failure's [`Cause`], never on its text: the
//! component's `cause` (WIT `ingest:source@0.2.0`) for its errors, the host's
//! own [`HostCause`] for the host's.

use crate::runtime::bindings::Cause as ComponentCause;

/// Why a failure happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cause {
    /// The component said why, in its `connector-error`.
    Component(ComponentCause),
    /// The host's own failure.
    Host(HostCause),
}

/// The host's own failures, by what the user (or the developer) must look at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HostCause {
    /// `--config` names a file that cannot be read.
    ConfigUnreadable,
    /// The config file is not one JSON object.
    ConfigInvalid,
    /// The `--catalog` file cannot be read or is not a ConfiguredAirbyteCatalog.
    CatalogFile,
    /// The `--state` file cannot be read or holds no state the host knows.
    StateFile,
    /// `--streams` of `catalog` names a stream the catalog lacks, or one twice.
    StreamList,
    /// `catalog --from` cannot be read or holds no catalog.
    DiscoverOutput,
    /// `--allow-host` is not HOST[:PORT].
    AllowHost,
    /// `--ca-cert` (or `$SSL_CERT_FILE`) cannot be read or holds no CA certificate.
    CaCert,
    /// The server's TLS certificate was refused: not signed by a trusted
    /// authority, expired, or for another name.
    CertificateRefused,
    /// The `--replay` file cannot be read.
    ReplayUnreadable,
    /// The `--replay` file is not a HAR document.
    ReplayInvalid,
    /// A replay had no answer for a request the component made (the
    /// component reports it with cause `host`).
    ReplayMiss,
    /// No component where the host looked (the message names the flag).
    ComponentMissing,
    /// The component cannot be read or compiled.
    ComponentLoad,
    /// The component does not fit this host's WIT world or WASI.
    ComponentLink,
    /// The component trapped, ran out of memory or time, or could not start
    /// (the message says which limit to raise, when one applies).
    ComponentTrap,
    /// The component broke the contract: an invalid spec, row or checkpoint,
    /// or errors without end.
    Contract,
    /// stdout could not be written.
    Output,
    /// The `--record` HAR could not be written.
    Recording,
    /// A bug in the host.
    Internal,
}

/// The hint for a failure of `cause`, when one is known. Failures whose
/// message already says what to do (a config key to check, a flag to raise)
/// get none.
pub fn hint(cause: Cause) -> Option<&'static str> {
    match cause {
        Cause::Host(host) => host_hint(host),
        Cause::Component(component) => component_hint(component),
    }
}

fn host_hint(cause: HostCause) -> Option<&'static str> {
    use HostCause::*;
    Some(match cause {
        ConfigUnreadable => "pass --config with the path of your connector config; `host-harness spec` lists its keys",
        ConfigInvalid => {
            "the config is one JSON object, e.g. {\"instance_api_url\": \"https://metabase.example.com\", \"api_key\": \"mb_...\"}"
        }
        CatalogFile => {
            "write one with `host-harness catalog --config config.json > catalog.json`, or leave --catalog out to read every stream"
        }
        StateFile => STATE,
        StreamList => DISCOVER,
        ReplayUnreadable => {
            "--replay takes a HAR file: one written by --record, or saved from the browser's dev tools (Network > Save all as HAR)"
        }
        ReplayInvalid => "the HAR must be a HAR 1.2 JSON document, as --record, browser dev tools and mitmproxy write it",
        ReplayMiss => {
            "the HAR has no answer for that request: record it again with --record, or make instance_api_url name the host it was recorded from"
        }
        ComponentLoad | ComponentLink => "rebuild with ./build.sh build, or pass the right --component PATH",
        CaCert => "--ca-cert (or SSL_CERT_FILE) takes a PEM file of CA certificates, e.g. your company's root CA",
        CertificateRefused => {
            "the server's certificate is not signed by a CA this host trusts (or is expired, or names another host): \
             if your Metabase uses a private certificate authority, pass --ca-cert FILE with its PEM certificate (or set SSL_CERT_FILE)"
        }
        DiscoverOutput | AllowHost | ComponentMissing | ComponentTrap | Contract | Output | Recording | Internal => {
            return None
        }
    })
}

const STATE: &str = "--state takes the array of STATE `state` objects an earlier read printed; leave it out for a full read";
const DISCOVER: &str = "`host-harness discover --config config.json` lists the streams these credentials can read";

fn component_hint(cause: ComponentCause) -> Option<&'static str> {
    use ComponentCause::*;
    Some(match cause {
        Transport => "is Metabase running and reachable at instance_api_url? check the scheme, host and port",
        Timeout => "a slow Metabase: raise request_timeout_s in the config (at most --request-timeout-s on the host)",
        Tls => "does instance_api_url have the right scheme (http or https), and does the server's certificate name its host?",
        Denied => "the sandbox lets the component reach only instance_api_url's host; --allow-host HOST[:PORT] allows another",
        Selection => DISCOVER,
        State => STATE,
        QueryFailed => "the question fails in Metabase itself: open it there to see why, fix it, or leave it out of question_ids",
        // The message says what to do (the key to check), or there is nothing to do but wait or report it.
        Unauthorised | Forbidden | NotFound | EndpointMissing | RateLimited | ServerError | UnexpectedStatus | Redirect
        | Host | Truncated | NotApi | Protocol | Limit | Config | Internal => return None,
    })
}

/// `message`, with the hint for `cause` when there is one, on one line.
pub fn with_hint(message: &str, cause: Cause) -> String {
    match hint(cause) {
        Some(h) => format!("{message} (hint: {h})"),
        None => message.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn common_mistakes_get_their_fix() {
        let host = |c| Cause::Host(c);
        let component = |c| Cause::Component(c);
        let cases = [
            ("config file c.json: cannot be read: No such file or directory (os error 2)", host(HostCause::ConfigUnreadable), "--config"),
            ("config file c.json: is not valid JSON: key must be a string at line 1 column 2", host(HostCause::ConfigInvalid), "one JSON object"),
            ("catalog file cat.json: must be a ConfiguredAirbyteCatalog", host(HostCause::CatalogFile), "host-harness catalog"),
            ("state file s.json: item 0: has neither \"type\" nor \"stream\"", host(HostCause::StateFile), "--state"),
            ("--replay: cannot read HAR file x.har: No such file or directory (os error 2)", host(HostCause::ReplayUnreadable), "dev tools"),
            ("--replay: HAR file x.har: not a valid HAR 1.2 document", host(HostCause::ReplayInvalid), "HAR 1.2"),
            ("GET /api/dashboard failed: replay: no entry in f.har for GET /api/dashboard", host(HostCause::ReplayMiss), "record it again"),
            ("GET /api/user/current failed: connection refused (gave up after 6 attempts)", component(ComponentCause::Transport), "reachable"),
            ("GET /api/card failed: timed out waiting for the response (gave up after 6 attempts)", component(ComponentCause::Timeout), "request_timeout_s"),
            ("The host denied the request GET x/api/card: it is not on the host's allow-list.", component(ComponentCause::Denied), "--allow-host"),
            ("catalog: unknown stream `nope`; this connector has: cards", component(ComponentCause::Selection), "discover"),
            ("catalog: unknown stream `nope` in --streams; the catalog has: cards", host(HostCause::StreamList), "discover"),
            ("state.cards.updated_at: not a timestamp (\"x\")", component(ComponentCause::State), "--state"),
            ("POST /api/card/7/query/csv: the question failed in Metabase: boom", component(ComponentCause::QueryFailed), "question_ids"),
            ("cannot read the component dist/x.wasm: No such file", host(HostCause::ComponentLoad), "./build.sh build"),
            ("the component dist/x.wasm does not fit this host: import not found", host(HostCause::ComponentLink), "./build.sh build"),
            ("GET /api/user/current failed: the server's TLS certificate was not accepted", host(HostCause::CertificateRefused), "--ca-cert FILE"),
            ("--ca-cert ca.pem: holds no PEM certificate", host(HostCause::CaCert), "PEM file"),
        ];
        for (message, cause, want) in cases {
            let line = with_hint(message, cause);
            assert!(line.starts_with(message) && line.contains(want), "{cause:?}: {message} -> {line}");
            assert!(!line.contains('\n'), "one line: {line}");
        }
    }

    #[test]
    fn the_cause_decides_not_the_text() {
        // A message that reads like a connection problem, of a cause that has no hint.
        let m = "GET /api/card answered 500 (connection refused by the database; timed out).";
        assert_eq!(with_hint(m, Cause::Component(ComponentCause::ServerError)), m);
        // And the same cause gets its hint whatever the words.
        assert!(with_hint("anything", Cause::Component(ComponentCause::Transport)).contains("reachable"));
    }

    #[test]
    fn failures_that_say_what_to_do_get_no_hint() {
        for (m, cause) in [
            (
                "the component exceeded its memory limit of 256 MiB (raise it with --memory-limit-mib)",
                Cause::Host(HostCause::ComponentTrap),
            ),
            (
                "cannot find the component (tried a, b); pass --component PATH or set METABASE_SOURCE_WASM",
                Cause::Host(HostCause::ComponentMissing),
            ),
            (
                "Metabase did not accept the credentials: GET /api/user/current answered 401 (Unauthenticated). Check `api_key`.",
                Cause::Component(ComponentCause::Unauthorised),
            ),
            (
                "login: POST /api/session answered 200 with an HTML page, not JSON. Check that `instance_api_url` points at Metabase's API.",
                Cause::Component(ComponentCause::NotApi),
            ),
        ] {
            assert_eq!(with_hint(m, cause), m);
        }
    }
}
