//! The fix for a failure, as the one line a person reads on stderr.
//!
//! The TRACE ERROR on stdout keeps the component's or the host's message as
//! is (tools match on it); the stderr line adds what to do about it, so a
//! person at a terminal sees `ERROR <what happened> (hint: <what to do>)`.

/// A hint for a failure message, when one is known. Messages that already
/// say what to do (a config key to check, a flag to raise) get none.
pub fn hint(message: &str) -> Option<&'static str> {
    let m = message.to_ascii_lowercase();
    let has = |s: &str| m.contains(s);
    if has("hint:") || has("raise it with") || has("--call-timeout-s") || has("pass --component") {
        return None;
    }
    Some(if has("config file") && has("cannot be read") {
        "pass --config with the path of your connector config; `host-harness spec` lists its keys"
    } else if has("config file") && has("not valid json") || has("config file") && has("must hold a json object") {
        "the config is one JSON object, e.g. {\"instance_api_url\": \"https://metabase.example.com\", \"api_key\": \"mb_...\"}"
    } else if has("catalog file") {
        "write one with `host-harness catalog --config config.json > catalog.json`, or leave --catalog out to read every stream"
    } else if has("state file") {
        "--state takes the array of STATE `state` objects an earlier read printed; leave it out for a full read"
    } else if has("--replay") && has("cannot read") {
        "--replay takes a HAR file: one written by --record, or saved from the browser's dev tools (Network > Save all as HAR)"
    } else if has("--replay") || has("har file") {
        "the HAR must be a HAR 1.2 JSON document, as --record, browser dev tools and mitmproxy write it"
    } else if has("replay: no entry") {
        "the HAR has no answer for that request: record it again with --record, or make instance_api_url name the host it was recorded from"
    } else if has("connection refused") || has("dns") || has("could not connect") || has("connect error") {
        "is Metabase running and reachable at instance_api_url? check the scheme, host and port"
    } else if has("allow-list") || has("denied by the host") {
        "the sandbox lets the component reach only instance_api_url's host; --allow-host HOST[:PORT] allows another"
    } else if has("unknown stream") {
        "`host-harness discover --config config.json` lists the streams these credentials can read"
    } else if has("cannot read the component") || has("cannot load the component") || has("does not fit this host") {
        "rebuild with ./build.sh build, or pass the right --component PATH"
    } else if has("timed out") || has("timeout") {
        "a slow Metabase: raise request_timeout_s in the config (at most --request-timeout-s on the host)"
    } else {
        return None;
    })
}

/// `message`, with its hint when there is one, on one line.
pub fn with_hint(message: &str) -> String {
    match hint(message) {
        Some(h) => format!("{message} (hint: {h})"),
        None => message.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn common_mistakes_get_their_fix() {
        let cases = [
            ("config file c.json: cannot be read: No such file or directory (os error 2)", "--config"),
            ("config file c.json: is not valid JSON: key must be a string at line 1 column 2", "one JSON object"),
            ("catalog file cat.json: must be a ConfiguredAirbyteCatalog", "host-harness catalog"),
            ("state file s.json: item 0: has neither \"type\" nor \"stream\"", "--state"),
            ("--replay: cannot read HAR file x.har: No such file or directory (os error 2)", "dev tools"),
            ("GET /api/dashboard failed: replay: no entry in f.har for GET /api/dashboard", "record it again"),
            ("GET /api/user/current failed: connection refused (gave up after 6 attempts)", "reachable"),
            ("catalog: unknown stream `nope`; this connector has: cards", "discover"),
            ("cannot read the component dist/x.wasm: No such file", "./build.sh build"),
        ];
        for (message, want) in cases {
            let line = with_hint(message);
            assert!(line.starts_with(message) && line.contains(want), "{message} -> {line}");
            assert!(!line.contains('\n'), "one line: {line}");
        }
    }

    #[test]
    fn messages_that_say_what_to_do_get_no_hint() {
        for m in [
            "the component exceeded its memory limit of 256 MiB (raise it with --memory-limit-mib)",
            "cannot find the component (tried a, b); pass --component PATH or set METABASE_SOURCE_WASM",
            "Metabase did not accept the credentials: GET /api/user/current answered 401 (Unauthenticated). Check `api_key`.",
        ] {
            assert_eq!(with_hint(m), m);
        }
    }
}
