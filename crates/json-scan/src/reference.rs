//! The walk as it was before the loops were peeled for the component (see
//! the crate's doc): kept, for the tests only, as the reference the walk
//! must agree with byte for byte, its errors (offset and words) included.

use crate::{find_string_special, Invalid, Kinds, Member};

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
///
/// Inlined into the walk for the common case (the first special byte is
/// the closing quote): a call per string, with its result returned through
/// memory, cost more than the search itself in wasm.
#[inline(always)]
fn string_end(b: &[u8], i: usize) -> Result<(usize, bool), Invalid> {
    match find_string_special(b, i + 1) {
        Some(k) if b[k] == b'"' => Ok((k + 1, false)),
        _ => string_end_slow(b, i),
    }
}

/// [`string_end`] of a string with escapes, or not valid, or cut short.
#[inline(never)]
#[cold]
fn string_end_slow(b: &[u8], i: usize) -> Result<(usize, bool), Invalid> {
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
#[inline(always)]
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
            return bad(j, "bad number");
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

#[inline(always)]
fn literal(b: &[u8], i: usize, word: &'static [u8]) -> Result<usize, Invalid> {
    match b.get(i..i + word.len()) {
        Some(w) if w == word => Ok(i + word.len()),
        None if word.starts_with(&b[i..]) => bad(b.len(), "unexpected end"),
        _ => bad(i, "expected a value"),
    }
}

/// Validates one JSON value starting at `b[i]` (no leading white space),
/// nested `depth` levels deep already; returns the offset just past it.
#[inline]
pub(crate) fn value_end(b: &[u8], i: usize, depth: usize) -> Result<usize, Invalid> {
    walk(b, i, depth)
}

/// [`value_end`], inlined into [`element`]'s loop over members.
#[inline(always)]
fn walk(b: &[u8], i: usize, depth: usize) -> Result<usize, Invalid> {
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
            // Two compares, not a `match` (measured: a jump table was slower in wasm).
            let Some(&c) = b.get(i) else { return bad(i, "unexpected end") };
            if c == b',' {
                i = skip_ws(b, i + 1);
                if object {
                    i = member_name(b, i)?;
                }
                continue 'value;
            }
            if c != if object { b'}' } else { b']' } {
                return bad(i, if object { "expected `,` or `}`" } else { "expected `,` or `]`" });
            }
            i += 1;
            depth -= 1;
        }
    }
}

/// `"name"` `:` and white space, from `b[i]`; the offset of the value.
#[inline(always)]
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

/// Validates one JSON value at the start of `b` (no leading white space)
/// and returns the offset just past it; when it is an object, `members`
/// gets its top-level members, in order (cleared first). One walk does both.
#[inline]
pub(crate) fn element(b: &[u8], members: &mut Vec<Member>) -> Result<usize, Invalid> {
    members.clear();
    if b.first() != Some(&b'{') {
        return value_end(b, 0, 0);
    }
    let mut i = skip_ws(b, 1);
    if b.get(i) == Some(&b'}') {
        return Ok(i + 1);
    }
    loop {
        if b.get(i) != Some(&b'"') {
            return bad(i, "expected a member name");
        }
        let (key_end, escaped) = string_end(b, i)?;
        let key = i..key_end;
        let j = skip_ws(b, key_end);
        if b.get(j) != Some(&b':') {
            return bad(j, "expected `:`");
        }
        let start = skip_ws(b, j + 1);
        let end = walk(b, start, 1)?;
        members.push(Member { key, escaped, value: start..end });
        i = skip_ws(b, end);
        match b.get(i) {
            Some(b',') => i = skip_ws(b, i + 1),
            Some(b'}') => return Ok(i + 1),
            None => return bad(i, "unexpected end"),
            Some(_) => return bad(i, "expected `,` or `}`"),
        }
    }
}
