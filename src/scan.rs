//! Fast, strict JSON scanning over complete byte slices.
//!
//! Two jobs, both on the hot path of every list response:
//! - finding the next byte that matters inside a string, eight bytes at a
//!   time (SWAR: "SIMD within a register"; portable, no `simd128` needed),
//!   used by `json_stream` to find element boundaries;
//! - validating one element strictly (RFC 8259: the same documents
//!   serde_json accepts) while splitting its top-level members, used by
//!   `mapping`. This replaces a serde_json pass that validated every nested
//!   value with `ignore_value` after the boundary scan had already walked it:
//!   one walk now validates, splits and leaves nested values as raw text.
//!
//! Nesting depth is not limited (serde_json's validation of raw values does
//! not limit it either, and the host validates with it): the walk is a loop
//! with one bit of state per open container, not a recursion.

use std::borrow::Cow;

/// Which open containers are objects: one bit per level, the first 64 in a
/// register (wasm has no 128-bit shifts), deeper ones (never seen in practice) on the heap.
struct Kinds {
    low: u64,
    high: Vec<bool>,
}

impl Kinds {
    #[inline(always)]
    fn set(&mut self, level: usize, object: bool) {
        if level < 64 {
            let bit = 1u64 << level;
            if object {
                self.low |= bit;
            } else {
                self.low &= !bit;
            }
        } else {
            self.high.truncate(level - 64);
            self.high.push(object);
        }
    }

    #[inline(always)]
    fn object(&self, level: usize) -> bool {
        if level < 64 {
            self.low >> level & 1 == 1
        } else {
            self.high[level - 64]
        }
    }
}

const LO: u64 = 0x0101_0101_0101_0101;
const HI: u64 = 0x8080_8080_8080_8080;

/// High bit set in every byte of `w` equal to `c`. The lowest set bit is
/// exact; bits above it may be false positives (borrow propagation), so
/// callers use only `trailing_zeros`.
#[inline(always)]
fn eq_mask(w: u64, c: u8) -> u64 {
    let x = w ^ (LO * u64::from(c));
    x.wrapping_sub(LO) & !x & HI
}

#[inline(always)]
fn word(b: &[u8], i: usize) -> u64 {
    u64::from_le_bytes(b[i..i + 8].try_into().expect("8 bytes"))
}

/// The offset, from `i`, of the first `"` or `\` in `b[i..]`.
#[inline]
pub fn find_quote_or_backslash(b: &[u8], mut i: usize) -> Option<usize> {
    while i + 8 <= b.len() {
        let w = word(b, i);
        let m = eq_mask(w, b'"') | eq_mask(w, b'\\');
        if m != 0 {
            return Some(i + (m.trailing_zeros() / 8) as usize);
        }
        i += 8;
    }
    b[i..].iter().position(|&c| c == b'"' || c == b'\\').map(|k| i + k)
}

/// The first `"`, `\` or control character (below 0x20) at or after `i`.
#[inline]
fn find_string_special(b: &[u8], mut i: usize) -> Option<usize> {
    while i + 8 <= b.len() {
        let w = word(b, i);
        // Bytes below 0x20: subtracting 0x20 borrows into the high bit, and
        // `!w` keeps only bytes that were below 0x80.
        let ctl = w.wrapping_sub(LO * 0x20) & !w & HI;
        let m = eq_mask(w, b'"') | eq_mask(w, b'\\') | ctl;
        if m != 0 {
            return Some(i + (m.trailing_zeros() / 8) as usize);
        }
        i += 8;
    }
    b[i..].iter().position(|&c| c == b'"' || c == b'\\' || c < 0x20).map(|k| i + k)
}

/// Why a slice is not valid JSON, and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invalid {
    pub offset: usize,
    pub what: &'static str,
}

impl std::fmt::Display for Invalid {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} at byte {}", self.what, self.offset)
    }
}

fn bad<T>(offset: usize, what: &'static str) -> Result<T, Invalid> {
    Err(Invalid { offset, what })
}

#[inline(always)]
fn skip_ws(b: &[u8], mut i: usize) -> usize {
    while i < b.len() && matches!(b[i], b' ' | b'\t' | b'\n' | b'\r') {
        i += 1;
    }
    i
}

/// `b[i]` is `"`: the offset just past the closing quote, and whether the
/// string has escapes. Control characters and bad escapes are refused (the
/// caller has checked UTF-8 already).
#[inline]
fn string_end(b: &[u8], i: usize) -> Result<(usize, bool), Invalid> {
    let mut i = i + 1;
    let mut escaped = false;
    loop {
        let Some(k) = find_string_special(b, i) else { return bad(b.len(), "unterminated string") };
        match b[k] {
            b'"' => return Ok((k + 1, escaped)),
            b'\\' => {
                escaped = true;
                match b.get(k + 1) {
                    Some(b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't') => i = k + 2,
                    Some(b'u') => {
                        let hex = b.get(k + 2..k + 6).ok_or(Invalid { offset: b.len(), what: "unterminated string" })?;
                        if !hex.iter().all(u8::is_ascii_hexdigit) {
                            return bad(k, "bad \\u escape");
                        }
                        i = k + 6;
                    }
                    None => return bad(b.len(), "unterminated string"),
                    Some(_) => return bad(k, "bad escape"),
                }
            }
            _ => return bad(k, "control character in a string"),
        }
    }
}

#[inline]
fn digits(b: &[u8], mut i: usize) -> usize {
    while i < b.len() && b[i].is_ascii_digit() {
        i += 1;
    }
    i
}

/// A number starting at `i`: the offset just past it.
fn number_end(b: &[u8], mut i: usize) -> Result<usize, Invalid> {
    if b[i] == b'-' {
        i += 1;
    }
    match b.get(i) {
        Some(b'0') => i += 1,
        Some(b'1'..=b'9') => i = digits(b, i + 1),
        _ => return bad(i, "bad number"),
    }
    if b.get(i) == Some(&b'.') {
        let j = digits(b, i + 1);
        if j == i + 1 {
            return bad(i, "bad number");
        }
        i = j;
    }
    if matches!(b.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(b.get(i), Some(b'+' | b'-')) {
            i += 1;
        }
        let j = digits(b, i);
        if j == i {
            return bad(i, "bad number");
        }
        i = j;
    }
    Ok(i)
}

fn literal(b: &[u8], i: usize, word: &'static [u8]) -> Result<usize, Invalid> {
    if b.get(i..i + word.len()) == Some(word) {
        Ok(i + word.len())
    } else {
        bad(i, "expected a value")
    }
}

/// Validates one JSON value starting at `b[i]` (no leading white space),
/// nested `depth` levels deep already; returns the offset just past it.
pub fn value_end(b: &[u8], i: usize, depth: usize) -> Result<usize, Invalid> {
    let base = depth;
    let mut depth = depth;
    // Level `d - base` is an object or an array.
    let mut kinds = Kinds { low: 0, high: Vec::new() };
    let mut i = i;
    'value: loop {
        // A value at `i`.
        match b.get(i) {
            None => return bad(i, "unexpected end"),
            Some(b'"') => i = string_end(b, i)?.0,
            Some(&c @ (b'{' | b'[')) => {
                let object = c == b'{';
                kinds.set(depth - base, object);
                depth += 1;
                i = skip_ws(b, i + 1);
                let close = if object { b'}' } else { b']' };
                if b.get(i) == Some(&close) {
                    i += 1;
                    depth -= 1;
                } else {
                    if object {
                        i = member_name(b, i)?;
                    }
                    continue 'value;
                }
            }
            Some(b't') => i = literal(b, i, b"true")?,
            Some(b'f') => i = literal(b, i, b"false")?,
            Some(b'n') => i = literal(b, i, b"null")?,
            Some(b'-' | b'0'..=b'9') => i = number_end(b, i)?,
            Some(_) => return bad(i, "expected a value"),
        }
        // After a value: a separator, or the end of containers.
        loop {
            if depth == base {
                return Ok(i);
            }
            let object = kinds.object(depth - 1 - base);
            i = skip_ws(b, i);
            match b.get(i) {
                Some(b',') => {
                    i = skip_ws(b, i + 1);
                    if object {
                        i = member_name(b, i)?;
                    }
                    continue 'value;
                }
                Some(b'}') if object => {
                    i += 1;
                    depth -= 1;
                }
                Some(b']') if !object => {
                    i += 1;
                    depth -= 1;
                }
                None => return bad(i, "unexpected end"),
                Some(_) => return bad(i, if object { "expected `,` or `}`" } else { "expected `,` or `]`" }),
            }
        }
    }
}

/// Checks that `text` is exactly one JSON value (white space around it
/// allowed); the value's span without that white space.
pub fn one_value(text: &str) -> Result<std::ops::Range<usize>, Invalid> {
    let b = text.as_bytes();
    let start = skip_ws(b, 0);
    let end = value_end(b, start, 0)?;
    if skip_ws(b, end) != b.len() {
        return bad(end, "unexpected data after the value");
    }
    Ok(start..end)
}

/// `"name"` `:` and white space, from `b[i]`; the offset of the value.
#[inline]
fn member_name(b: &[u8], i: usize) -> Result<usize, Invalid> {
    if b.get(i) != Some(&b'"') {
        return bad(i, "expected a member name");
    }
    let (i, _) = string_end(b, i)?;
    let i = skip_ws(b, i);
    if b.get(i) != Some(&b':') {
        return bad(i, "expected `:`");
    }
    Ok(skip_ws(b, i + 1))
}

/// The top-level members of one JSON object, in order, each value left as
/// raw (validated) JSON text. Iterating to the end validates the whole
/// object; an error ends the iteration.
pub struct Members<'a> {
    text: &'a str,
    pos: usize,
    first: bool,
    done: bool,
}

/// Splits `text`, which must be one JSON object (white space around it is
/// allowed). `Err` when it does not start like an object.
pub fn members(text: &str) -> Result<Members<'_>, Invalid> {
    let b = text.as_bytes();
    let i = skip_ws(b, 0);
    if b.get(i) != Some(&b'{') {
        return bad(i, "not a JSON object");
    }
    Ok(Members { text, pos: i + 1, first: true, done: false })
}

impl<'a> Members<'a> {
    fn step(&mut self) -> Result<Option<(Cow<'a, str>, &'a str)>, Invalid> {
        let b = self.text.as_bytes();
        let mut i = skip_ws(b, self.pos);
        match b.get(i) {
            Some(b'}') => {
                let end = skip_ws(b, i + 1);
                if end != b.len() {
                    return bad(end, "unexpected data after the object");
                }
                return Ok(None);
            }
            Some(b',') if !self.first => i = skip_ws(b, i + 1),
            None => return bad(i, "unexpected end"),
            Some(_) if !self.first => return bad(i, "expected `,` or `}`"),
            Some(_) => {}
        }
        self.first = false;
        if b.get(i) != Some(&b'"') {
            return bad(i, "expected a member name");
        }
        let (key_end, escaped) = string_end(b, i)?;
        let key_text = &self.text[i..key_end];
        let key = if escaped {
            Cow::Owned(serde_json::from_str::<String>(key_text).map_err(|_| Invalid { offset: i, what: "bad member name" })?)
        } else {
            Cow::Borrowed(&self.text[i + 1..key_end - 1])
        };
        let j = skip_ws(b, key_end);
        if b.get(j) != Some(&b':') {
            return bad(j, "expected `:`");
        }
        let start = skip_ws(b, j + 1);
        let end = value_end(b, start, 1)?;
        self.pos = end;
        Ok(Some((key, &self.text[start..end])))
    }
}

impl<'a> Iterator for Members<'a> {
    type Item = Result<(Cow<'a, str>, &'a str), Invalid>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let r = self.step().transpose();
        if !matches!(r, Some(Ok(_))) {
            self.done = true;
        }
        r
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn valid(s: &str) -> bool {
        one_value(s).is_ok()
    }

    #[test]
    fn swar_finds_the_first_special_byte_at_every_offset() {
        for len in 0..40 {
            for at in 0..len {
                for c in [b'"', b'\\'] {
                    let mut v = vec![b'a'; len];
                    v[at] = c;
                    if at + 3 < len {
                        v[at + 3] = b'"'; // a later one must not win
                    }
                    assert_eq!(find_quote_or_backslash(&v, 0), Some(at), "{len} {at}");
                    assert_eq!(find_string_special(&v, 0), Some(at));
                }
                for c in [0u8, 0x1f, b'\n'] {
                    let mut v = vec![0xe9u8; len]; // high bytes are not special
                    v[at] = c;
                    assert_eq!(find_string_special(&v, 0), Some(at));
                    assert_eq!(find_quote_or_backslash(&v, 0), None);
                }
            }
            assert_eq!(find_string_special(&vec![b' '; len], 0), None);
            assert_eq!(find_string_special(&vec![0x7f; len], 0), None);
        }
    }

    #[test]
    fn accepts_what_serde_json_accepts() {
        let cases = [
            "0", "-0", "1.5", "-1.5e3", "1E+2", "1e-2", "123456789012345678901234567890", "1e999",
            "true", "false", "null", "\"\"", "\"a\\\"b\\\\c\\/d\\b\\f\\n\\r\\t\\u00e9\\uD83D\"", "\"é 日本 🦀\"",
            "[]", "{}", "[1,[2,[3,{}]]]", " { \"a\" : [ 1 , { \"b\" : null } ] , \"c\" : \"}\" } ",
            "01", "1.", ".5", "-", "1e", "1e+", "+1", "tru", "nul", "True", "[1,]", "[,1]", "{\"a\":1,}",
            "{\"a\" 1}", "{a:1}", "{\"a\":1 \"b\":2}", "[1 2]", "\"\\x\"", "\"\\u12G4\"", "\"a\nb\"", "\"\t\"",
            "[", "{\"a\":", "\"abc", "[1]]", "{}}", "", "  ", "[1]x", "\"\\u00", "-01", "1.e5", "0x10", "NaN",
        ];
        for s in cases {
            let want = serde_json::from_str::<&serde_json::value::RawValue>(s).is_ok();
            assert_eq!(valid(s), want, "{s:?}");
        }
        assert_eq!(one_value(" [1, 2]\n"), Ok(1..7));
    }

    #[test]
    fn any_depth_like_serde_raw_values() {
        for n in [1, 63, 64, 65, 66, 127, 128, 129, 300, 5000] {
            let arrays = format!("{}{}", "[".repeat(n), "]".repeat(n));
            assert!(valid(&arrays), "{n}");
            let mixed = format!("{}1{}", "{\"a\":[".repeat(n), "]}".repeat(n));
            assert!(valid(&mixed), "{n}");
            assert!(!valid(&format!("{}1{}", "{\"a\":[".repeat(n), "}]".repeat(n))), "{n}");
            assert!(!valid(&arrays[..arrays.len() - 1]));
            let member = format!("{{\"a\":{mixed}}}");
            assert_eq!(members(&member).unwrap().count(), 1);
        }
    }

    #[test]
    fn members_in_order_with_raw_values() {
        let text = r#" {"id":1, "n\u00e9":{"x":[1,"]"]}, "s":"a\"b" ,"e":[] } "#;
        let got: Vec<(String, String)> =
            members(text).unwrap().map(|m| m.map(|(k, v)| (k.into_owned(), v.to_string()))).collect::<Result<_, _>>().unwrap();
        assert_eq!(
            got,
            [
                ("id".into(), "1".into()),
                ("né".into(), r#"{"x":[1,"]"]}"#.into()),
                ("s".into(), r#""a\"b""#.into()),
                ("e".into(), "[]".into())
            ]
        );
        assert_eq!(members("{}").unwrap().count(), 0);
        for bad in [r#"{"a":1"#, r#"{"a":1,}"#, r#"{"a":1}x"#, r#"{"a"}"#, r#"{"a":01}"#, r#"{"a":[1,]}"#, "{,}", r#"{"\q":1}"#] {
            assert!(members(bad).unwrap().any(|m| m.is_err()), "{bad}");
        }
        assert!(members("[1]").is_err());
        assert!(members(" 1").is_err());
    }
}
