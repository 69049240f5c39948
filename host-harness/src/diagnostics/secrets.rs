//! Redaction of secret values from everything the host prints.
//!
//! The guest is supposed never to print a credential, and the host never
//! formats one on purpose either. This module is the defence in depth behind
//! both: every string that leaves the process (protocol messages on stdout,
//! log lines on stderr, captured guest output, recorded HAR files) goes
//! through [`Secrets::scrub`], which replaces any known secret value with
//! [`REDACTED`].
//!
//! The set starts with the config's credential values and can grow while the
//! command runs (a session id the server hands out in `--record` mode), so it
//! lives behind a lock and is shared.
//!
//! Which config keys are credentials comes from the `config-keys` table the
//! guest parses with and writes its spec from, compiled in rather than read
//! from the component's `spec` at run time: scrubbing must work even when the
//! component does not load or traps, and must not trust the code it guards
//! against (the crate's doc says more; a test checks that the built
//! component's spec marks exactly these keys `airbyte_secret`).

use std::borrow::Cow;
use std::sync::{OnceLock, RwLock};

/// What a secret value is replaced with.
pub const REDACTED: &str = "REDACTED";

/// Secrets shorter than this are not scrubbed: replacing every "a" or "12" in
/// the output would destroy data without protecting anything real.
const MIN_SECRET_LEN: usize = 4;

/// A growable set of secret values.
#[derive(Default)]
pub struct Secrets {
    values: RwLock<Vec<String>>,
}

impl Secrets {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a value to scrub (ignored when shorter than 4 bytes or known).
    pub fn add(&self, value: &str) {
        if value.len() < MIN_SECRET_LEN {
            return;
        }
        let mut values = self.values.write().unwrap_or_else(|e| e.into_inner());
        if !values.iter().any(|v| v == value) {
            values.push(value.to_string());
            // Longest first, so a secret containing another is replaced whole.
            values.sort_by_key(|v| std::cmp::Reverse(v.len()));
        }
    }

    /// Adds the values of a config object's secret keys (also used on a
    /// request's JSON body, which carries the same keys). Anything but an
    /// object adds nothing: a broken config is reported as a config error
    /// elsewhere.
    pub fn add_from_config(&self, config: &serde_json::Value) {
        for key in config_keys::secret_keys() {
            if let Some(serde_json::Value::String(s)) = config.get(key) {
                self.add(s);
            }
        }
    }

    /// A matcher over the current values, for hot loops that must not take
    /// the lock per string.
    pub fn snapshot(&self) -> Scrubber {
        let values = self.values.read().unwrap_or_else(|e| e.into_inner());
        Scrubber {
            finders: values.iter().map(|v| memchr::memmem::Finder::new(v.as_bytes()).into_owned()).collect(),
        }
    }

    /// `text` with every secret value replaced by [`REDACTED`].
    pub fn scrub<'a>(&self, text: &'a str) -> Cow<'a, str> {
        let values = self.values.read().unwrap_or_else(|e| e.into_inner());
        scrub_with(&values, text)
    }

    /// Byte-level variant of [`Secrets::scrub`], for bodies that are not UTF-8.
    pub fn scrub_bytes(&self, bytes: &[u8]) -> Vec<u8> {
        let values = self.values.read().unwrap_or_else(|e| e.into_inner());
        let mut out = bytes.to_vec();
        for v in values.iter() {
            out = replace_bytes(&out, v.as_bytes(), REDACTED.as_bytes());
        }
        out
    }
}

/// Prebuilt substring searchers (SIMD `memmem`) for the record path, where
/// every string value of every row is checked.
pub struct Scrubber {
    finders: Vec<memchr::memmem::Finder<'static>>,
}

impl Scrubber {
    /// `text` with every secret replaced by [`REDACTED`]; borrowed (free)
    /// when there is nothing to replace, which is the normal case.
    pub fn scrub<'a>(&self, text: &'a str) -> Cow<'a, str> {
        let mut out = Cow::Borrowed(text);
        for f in &self.finders {
            if f.find(out.as_bytes()).is_some() {
                // A needle is whole UTF-8 (it came from a `String`), so
                // replacing it keeps the text valid.
                let needle = std::str::from_utf8(f.needle()).unwrap_or_default();
                out = Cow::Owned(out.replace(needle, REDACTED));
            }
        }
        out
    }

    /// Whether `text` holds no secret ([`Self::scrub`] would borrow it).
    pub fn is_clean(&self, text: &str) -> bool {
        self.finders.iter().all(|f| f.find(text.as_bytes()).is_none())
    }
}

/// Replaces every value of `values` found in `text` by [`REDACTED`].
pub fn scrub_with<'a>(values: &[String], text: &'a str) -> Cow<'a, str> {
    let mut out = Cow::Borrowed(text);
    for v in values {
        if out.contains(v.as_str()) {
            out = Cow::Owned(out.replace(v.as_str(), REDACTED));
        }
    }
    out
}

/// Replaces every occurrence of `needle` in `haystack` (non-overlapping, left
/// to right).
pub fn replace_bytes(haystack: &[u8], needle: &[u8], with: &[u8]) -> Vec<u8> {
    if needle.is_empty() || haystack.len() < needle.len() {
        return haystack.to_vec();
    }
    let mut out = Vec::with_capacity(haystack.len());
    let mut i = 0;
    while i < haystack.len() {
        if haystack[i..].starts_with(needle) {
            out.extend_from_slice(with);
            i += needle.len();
        } else {
            out.push(haystack[i]);
            i += 1;
        }
    }
    out
}

/// The process-wide set used by the logger, the protocol writer and the HTTP
/// layer.
pub fn global() -> &'static Secrets {
    static GLOBAL: OnceLock<Secrets> = OnceLock::new();
    GLOBAL.get_or_init(Secrets::new)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scrubs_config_values_and_ignores_short_ones() {
        let s = Secrets::new();
        s.add_from_config(&serde_json::json!({
            "password": "hunter22", "api_key": "mb_key_123", "session_token": "abc", "username": "admin"
        }));
        assert_eq!(s.scrub("login hunter22 with mb_key_123"), "login REDACTED with REDACTED");
        // "abc" is too short to scrub, "admin" is not a secret.
        assert_eq!(s.scrub("abc admin"), "abc admin");
        assert!(matches!(s.scrub("nothing here"), Cow::Borrowed(_)));
        let fast = s.snapshot();
        assert_eq!(fast.scrub("x hunter22 y"), "x REDACTED y");
        assert!(matches!(fast.scrub("nothing here"), Cow::Borrowed(_)));
    }

    #[test]
    fn every_secret_key_of_the_table_is_scrubbed_and_no_other() {
        let s = Secrets::new();
        let mut config = serde_json::Map::new();
        for key in config_keys::KEYS {
            config.insert(key.name().into(), format!("value-of-{}", key.name()).into());
        }
        s.add_from_config(&serde_json::Value::Object(config));
        for key in config_keys::KEYS {
            let value = format!("value-of-{}", key.name());
            let want = if key.secret() { REDACTED.to_string() } else { value.clone() };
            assert_eq!(s.scrub(&value), want, "{}", key.name());
        }
    }

    #[test]
    fn longer_secret_wins_over_its_prefix() {
        let s = Secrets::new();
        s.add("secret");
        s.add("secret-and-more");
        assert_eq!(s.scrub("x secret-and-more y secret"), "x REDACTED y REDACTED");
    }

    #[test]
    fn replaces_bytes() {
        assert_eq!(replace_bytes(b"a\xffpass\xffpass", b"pass", b"R"), b"a\xffR\xffR".to_vec());
        let s = Secrets::new();
        s.add("pass");
        assert_eq!(s.scrub_bytes(b"\xfe pass"), b"\xfe REDACTED".to_vec());
    }
}
