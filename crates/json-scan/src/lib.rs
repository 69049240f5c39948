//! Fast, strict JSON scanning over complete byte slices.
//!
//! Shared by the guest (the component) and the host: one validator, tested
//! once. Two jobs, both on the hot path of every list response:
//! - finding the next byte that matters inside a string, 16 bytes at a
//!   time with wasm `simd128` (enabled for the component by the
//!   `wasm32-wasip2` rustflags in `.cargo/config.toml`) or x86_64's SSE2
//!   (the host), else eight at a time (SWAR: "SIMD within a register";
//!   portable), used by the guest's `json_stream` to find element boundaries
//!   and by the walk below;
//! - validating one element strictly (RFC 8259: the same documents
//!   serde_json accepts) while splitting its top-level members, used by the
//!   guest's `mapping` (and by the host, on the nested JSON a component
//!   sends). One walk validates, splits and leaves nested values as raw text.
//!
//! Nesting depth is not limited (serde_json's validation of raw values does
//! not limit it either, and the host validates with it): the walk is a loop
//! with one bit of state per open container, not a recursion.
//!
//! Across the crate boundary: rustc offers a function's body to another
//! crate for inlining only when it is marked `#[inline]` (or is tiny); LTO,
//! which the component has and the host's release build has not, comes
//! later and cannot make up for all of it. So every public function that
//! runs per string or per element is marked: the searches
//! ([`find_quote_or_backslash`], [`utf8`]) are the hot ones, and without
//! the mark on the walks the component grew by 5 KB (measured).

use std::borrow::Cow;

#[cfg(test)]
mod reference;
#[cfg(test)]
mod walk_tests;

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
pub fn find_quote_or_backslash(b: &[u8], i: usize) -> Option<usize> {
    match wide::search(b, i, false) {
        Ok(k) => Some(k),
        Err(i) => swar_quote_or_backslash(b, i),
    }
}

/// The first `"`, `\` or control character (below 0x20) at or after `i`:
/// the bytes a JSON string must escape, so a writer escaping strings also
/// uses it to copy the runs between them whole.
#[inline(always)]
pub fn find_string_special(b: &[u8], i: usize) -> Option<usize> {
    match wide::search(b, i, true) {
        Ok(k) => Some(k),
        Err(i) => swar_string_special(b, i),
    }
}

/// [`find_quote_or_backslash`] eight bytes at a time: the portable version,
/// and the tail (under 16 bytes) after the vector search.
#[inline]
fn swar_quote_or_backslash(b: &[u8], mut i: usize) -> Option<usize> {
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

/// [`find_string_special`] eight bytes at a time (see above).
#[inline]
fn swar_string_special(b: &[u8], mut i: usize) -> Option<usize> {
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

/// 16 bytes per step with the target's vector unit: wasm `simd128` in the
/// component, SSE2 (always there on x86_64) in the host. `search` walks whole 16-byte blocks only, never reading
/// past the slice: `Ok(offset)` of the first special byte, or `Err(i)`
/// where fewer than 16 bytes are left, for the SWAR code to finish.
mod wide {
    #[inline(always)]
    pub fn search(b: &[u8], mut i: usize, ctl: bool) -> Result<usize, usize> {
        if !ENABLED {
            return Err(i);
        }
        while i + 16 <= b.len() {
            let block: &[u8; 16] = b[i..i + 16].try_into().expect("16 bytes");
            let m = mask(block, ctl);
            if m != 0 {
                return Ok(i + m.trailing_zeros() as usize);
            }
            i += 16;
        }
        Err(i)
    }

    /// The first `"`, `\\` or control character in `b[i..i + 16]`, when
    /// those 16 bytes exist and one is there; one step of [`search`], no loop.
    #[inline(always)]
    pub fn probe(b: &[u8], i: usize) -> Option<usize> {
        if !ENABLED {
            return None;
        }
        let block: &[u8; 16] = b.get(i..i + 16)?.try_into().expect("16 bytes");
        match mask(block, true) {
            0 => None,
            m => Some(i + m.trailing_zeros() as usize),
        }
    }

    /// How many bytes at the start are below 0x80, counted in whole
    /// 16-byte blocks (`b.len()` when all are; 0 when it cannot tell
    /// cheaply: no vector unit). The bytes after it start a character, or
    /// are not UTF-8.
    #[inline]
    pub fn ascii_prefix(b: &[u8]) -> usize {
        if !ENABLED {
            return 0;
        }
        let mut i = 0;
        while i + 16 <= b.len() {
            let block: &[u8; 16] = b[i..i + 16].try_into().expect("16 bytes");
            if high_bits(block) != 0 {
                return i;
            }
            i += 16;
        }
        if b[i..].is_ascii() { b.len() } else { i }
    }

    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    const ENABLED: bool = true;

    /// Bit k set when byte k is 0x80 or more.
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    #[inline(always)]
    fn high_bits(block: &[u8; 16]) -> u32 {
        use core::arch::wasm32::*;
        // SAFETY: 16 readable bytes; wasm loads need no alignment.
        u32::from(i8x16_bitmask(unsafe { v128_load(block.as_ptr().cast()) }))
    }

    #[cfg(target_arch = "x86_64")]
    #[inline(always)]
    fn high_bits(block: &[u8; 16]) -> u32 {
        use core::arch::x86_64::*;
        // SAFETY: SSE2 is part of x86_64; 16 readable bytes, unaligned load.
        unsafe { _mm_movemask_epi8(_mm_loadu_si128(block.as_ptr().cast())) as u32 }
    }

    #[cfg(not(any(all(target_arch = "wasm32", target_feature = "simd128"), target_arch = "x86_64")))]
    #[inline(always)]
    fn high_bits(_: &[u8; 16]) -> u32 {
        1
    }

    /// Bit k set when byte k is `"` or `\` (or, with `ctl`, below 0x20).
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    #[inline(always)]
    pub(crate) fn mask(block: &[u8; 16], ctl: bool) -> u32 {
        use core::arch::wasm32::*;
        // SAFETY: 16 readable bytes; wasm loads need no alignment.
        let v = unsafe { v128_load(block.as_ptr().cast()) };
        let mut m = v128_or(i8x16_eq(v, u8x16_splat(b'"')), i8x16_eq(v, u8x16_splat(b'\\')));
        if ctl {
            // v < 0x20 <=> v - 0x1f saturates to 0 (two x86 instructions;
            // measured no slower than `u8x16_lt`, and the same as SSE2 below).
            m = v128_or(m, i8x16_eq(u8x16_sub_sat(v, u8x16_splat(0x1f)), u8x16_splat(0)));
        }
        u32::from(i8x16_bitmask(m))
    }

    #[cfg(target_arch = "x86_64")]
    const ENABLED: bool = true;

    #[cfg(target_arch = "x86_64")]
    #[inline(always)]
    pub(crate) fn mask(block: &[u8; 16], ctl: bool) -> u32 {
        use core::arch::x86_64::*;
        // SAFETY: SSE2 is part of x86_64; 16 readable bytes, unaligned load.
        unsafe {
            let v = _mm_loadu_si128(block.as_ptr().cast());
            let mut m = _mm_or_si128(
                _mm_cmpeq_epi8(v, _mm_set1_epi8(b'"' as i8)),
                _mm_cmpeq_epi8(v, _mm_set1_epi8(b'\\' as i8)),
            );
            if ctl {
                // Same saturation trick as the wasm version.
                m = _mm_or_si128(m, _mm_cmpeq_epi8(_mm_subs_epu8(v, _mm_set1_epi8(0x1f)), _mm_setzero_si128()));
            }
            _mm_movemask_epi8(m) as u32
        }
    }

    #[cfg(not(any(all(target_arch = "wasm32", target_feature = "simd128"), target_arch = "x86_64")))]
    const ENABLED: bool = false;

    #[cfg(not(any(all(target_arch = "wasm32", target_feature = "simd128"), target_arch = "x86_64")))]
    #[inline(always)]
    pub(crate) fn mask(_: &[u8; 16], _: bool) -> u32 {
        0
    }
}

/// `std::str::from_utf8`, with a 16-bytes-per-step pass first: a body that
/// is all ASCII (most of Metabase's) needs no more. std's own check is
/// compiled without `simd128` and goes four bytes at a time on wasm32, so
/// it checks only the text from the first block with a byte of 0x80 or
/// more (in the cards of the bench, at about 70% of the element), and the
/// whole text again only to report an error's offset.
#[inline]
pub fn utf8(b: &[u8]) -> Result<&str, std::str::Utf8Error> {
    let ascii = wide::ascii_prefix(b);
    if ascii == b.len() || std::str::from_utf8(&b[ascii..]).is_ok() {
        // SAFETY: `b[..ascii]` is ASCII, and `b[ascii..]` (which starts
        // right after an ASCII byte, so on a character) is UTF-8.
        Ok(unsafe { std::str::from_utf8_unchecked(b) })
    } else {
        std::str::from_utf8(b)
    }
}

/// Why a slice is not valid JSON, and where. Every check that ran out of
/// input reports `offset` = the slice's length, so a streaming caller can
/// tell "more bytes needed" from "wrong" ([`Invalid::at_end`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invalid {
    pub offset: usize,
    pub what: &'static str,
}

impl Invalid {
    /// Whether the slice ended before the value did (a longer slice may be valid).
    #[inline]
    pub fn at_end(&self, len: usize) -> bool {
        self.offset >= len
    }
}

impl std::fmt::Display for Invalid {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} at byte {}", self.what, self.offset)
    }
}

fn bad<T>(offset: usize, what: &'static str) -> Result<T, Invalid> {
    Err(Invalid { offset, what })
}

/// The first byte at or after `i` that is not white space. Metabase sends
/// compact JSON, so one compare and no loop: in the component every loop
/// head checks for interruption (wasmtime's epochs), taken or not.
#[inline(always)]
fn skip_ws(b: &[u8], i: usize) -> usize {
    match b.get(i) {
        Some(&c) if c <= b' ' => skip_ws_run(b, i),
        _ => i,
    }
}

#[inline(never)]
fn skip_ws_run(b: &[u8], mut i: usize) -> usize {
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
///
/// The first 32 bytes are probed without a loop (most names and values end
/// within them); a longer string, or one too near the end of `b`, goes out
/// of line, so the walk's hot code has no loop of its own here.
#[inline(always)]
fn string_end(b: &[u8], i: usize) -> Result<(usize, bool), Invalid> {
    let k = match wide::probe(b, i + 1) {
        Some(k) => k,
        // The next 16 (timestamps, names, ids): still no loop.
        None => match wide::probe(b, i + 17) {
            Some(k) => k,
            None => return string_end_long(b, i),
        },
    };
    if b[k] == b'"' { Ok((k + 1, false)) } else { string_end_slow(b, i) }
}

/// [`string_end`] past its first 16 bytes.
#[inline(never)]
fn string_end_long(b: &[u8], i: usize) -> Result<(usize, bool), Invalid> {
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

/// The first byte at or after `i` that is not a digit: eight bytes at once
/// (SWAR), with no loop when the run is shorter than that (nearly always).
#[inline(always)]
fn digits(b: &[u8], i: usize) -> usize {
    match b.get(i..i + 8) {
        Some(w) => match non_digits(u64::from_le_bytes(w.try_into().expect("8 bytes"))) {
            0 => digits_run(b, i + 8),
            m => i + (m.trailing_zeros() / 8) as usize,
        },
        None => digits_run(b, i),
    }
}

/// High bit set in every byte of `w` that is not an ASCII digit. The lowest
/// set bit is exact (a byte of 0x8a or more carries into the bytes above
/// it, which callers do not look at: they use `trailing_zeros`).
#[inline(always)]
fn non_digits(w: u64) -> u64 {
    // A digit is 0..=9 after the XOR; adding 0x76 sets the high bit of 10..=0x7f.
    let x = w ^ (LO * u64::from(b'0'));
    (x.wrapping_add(LO * 0x76) | x) & HI
}

#[inline(never)]
fn digits_run(b: &[u8], mut i: usize) -> usize {
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
    // Its last four bytes compared as one integer (and the first of
    // `false`): in the component a slice compare is a call to `memcmp`, a
    // byte loop in its libc (LLVM does not expand it for wasm32).
    let n = word.len();
    if let Some(w) = b.get(i + n - 4..i + n) {
        let tail = u32::from_le_bytes(word[n - 4..].try_into().expect("4 bytes"));
        if u32::from_le_bytes(w.try_into().expect("4 bytes")) == tail && b[i] == word[0] {
            return Ok(i + n);
        }
    }
    literal_mismatch(b, i, word)
}

/// Why [`literal`] did not match.
#[inline(never)]
fn literal_mismatch(b: &[u8], i: usize, word: &'static [u8]) -> Result<usize, Invalid> {
    match b.get(i..i + word.len()) {
        Some(w) if w == word => Ok(i + word.len()),
        None if word.starts_with(&b[i..]) => bad(b.len(), "unexpected end"),
        _ => bad(i, "expected a value"),
    }
}

/// Validates one JSON value starting at `b[i]` (no leading white space),
/// nested `depth` levels deep already; returns the offset just past it.
/// (Nesting is not limited, so `depth` does not change the answer.)
#[inline]
pub fn value_end(b: &[u8], i: usize, depth: usize) -> Result<usize, Invalid> {
    let _ = depth;
    walk(b, i)
}

/// [`value_end`], inlined into [`element`]'s loop over members: a string
/// or a scalar is read here; a container by [`nested`], out of line (a
/// smaller function keeps its values in registers in the component, where
/// Cranelift spilled the walk's to the stack).
#[inline(always)]
fn walk(b: &[u8], i: usize) -> Result<usize, Invalid> {
    match b.get(i) {
        Some(b'"') => Ok(string_end(b, i)?.0),
        Some(b'{' | b'[') => nested(b, i),
        Some(b't') => literal(b, i, b"true"),
        Some(b'f') => literal(b, i, b"false"),
        Some(b'n') => literal(b, i, b"null"),
        Some(b'-' | b'0'..=b'9') => number_end(b, i),
        Some(_) => bad(i, "expected a value"),
        None => bad(i, "unexpected end"),
    }
}

/// [`walk`] of an object or an array at `b[i]`. Two walks take turns on
/// it: [`compact::run`], fast on compact JSON, goes as far as it can; the
/// exact walk ([`exact_steps`]) then takes the next four tokens (white space,
/// an escape, a long string, an error: whatever stopped the fast one) and
/// hands back (four: in the bench's cards the fast walk then takes 96% of
/// the bytes of containers; 32 left it 90%). Both move the same state the same way, and the fast walk
/// stops before anything it does not check itself, so the outcome is the
/// exact walk's, errors included.
#[inline(never)]
fn nested(b: &[u8], i: usize) -> Result<usize, Invalid> {
    let mut w = Walk { i, level: 0, at: At::Value, kinds: Kinds { low: 0, high: Vec::new() } };
    loop {
        if let Some(end) = compact::run(b, &mut w) {
            return Ok(end);
        }
        if let Some(end) = exact_steps(b, &mut w, 4)? {
            return Ok(end);
        }
    }
}

/// Where a walk of a container is: at `i`, inside `level` containers
/// (their kinds in `kinds`, level 0 the outermost), expecting `at`.
struct Walk {
    i: usize,
    level: usize,
    at: At,
    kinds: Kinds,
}

/// What comes next in a [`Walk`].
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum At {
    /// A value at `i`, after white space.
    Value,
    /// Just inside the container opened last: white space, then its end,
    /// or its first member name (an object) or value (an array).
    First,
    /// A member name at `i`, after white space, then `:` and a value.
    Name,
    /// After a value: white space, then a separator or the end of containers.
    After,
}

/// Up to `n` steps of the exact walk of a container from `w`: `Some(end)`
/// when the outermost container ended, `None` when the steps ran out (`w`
/// moved on).
#[inline(never)]
fn exact_steps(b: &[u8], w: &mut Walk, n: usize) -> Result<Option<usize>, Invalid> {
    let mut i = w.i;
    let mut at = w.at;
    for _ in 0..n {
        match at {
            At::First => {
                let object = w.kinds.object(w.level - 1);
                i = skip_ws(b, i);
                if b.get(i) == Some(if object { &b'}' } else { &b']' }) {
                    i += 1;
                    w.level -= 1;
                    at = At::After;
                } else {
                    at = if object { At::Name } else { At::Value };
                }
            }
            At::Name => {
                i = member_name(b, skip_ws(b, i))?;
                at = At::Value;
            }
            At::Value => {
                i = skip_ws(b, i);
                match b.get(i) {
                    None => return bad(i, "unexpected end"),
                    Some(b'"') => i = string_end(b, i)?.0,
                    Some(&c @ (b'{' | b'[')) => {
                        w.kinds.set(w.level, c == b'{');
                        w.level += 1;
                        i += 1;
                        at = At::First;
                        continue;
                    }
                    Some(b't') => i = literal(b, i, b"true")?,
                    Some(b'f') => i = literal(b, i, b"false")?,
                    Some(b'n') => i = literal(b, i, b"null")?,
                    Some(b'-' | b'0'..=b'9') => i = number_end(b, i)?,
                    Some(_) => return bad(i, "expected a value"),
                }
                at = At::After;
            }
            At::After => {
                if w.level == 0 {
                    return Ok(Some(i));
                }
                let object = w.kinds.object(w.level - 1);
                i = skip_ws(b, i);
                let Some(&c) = b.get(i) else { return bad(i, "unexpected end") };
                if c == b',' {
                    i += 1;
                    at = if object { At::Name } else { At::Value };
                    continue;
                }
                if c != if object { b'}' } else { b']' } {
                    return bad(i, if object { "expected `,` or `}`" } else { "expected `,` or `]`" });
                }
                i += 1;
                w.level -= 1;
            }
        }
    }
    if at == At::After && w.level == 0 {
        return Ok(Some(i));
    }
    w.i = i;
    w.at = at;
    Ok(None)
}

/// The walk of compact JSON (no white space between tokens) with strings
/// that end within 64 bytes without an escape and numbers without an
/// exponent or a run of 8 digits, in one loop with no call and no error:
/// one loop head (one epoch check in the component) per member, and few
/// enough live values for Cranelift to keep them in registers. Anything
/// else (white space, a long string, an escape, an exponent, 63 levels,
/// the last 256 bytes of `b`, an error) stops it where the exact walk can
/// take over.
pub(crate) mod compact {
    use super::{non_digits, wide, At, Walk};

    /// Bytes that must follow `i` for one pass of the loop to read without
    /// running off `b`: it reads below `i + 135` (a separator, then a name
    /// and a value of up to 66 bytes each, quotes and colon included). The
    /// loop checks this once per pass, and its reads go unchecked
    /// ([`Body`]): the bounds checks were a third of its instructions in
    /// the component.
    const MARGIN: usize = 256;

    /// The input, read without bounds checks within the margin of the pass.
    #[derive(Clone, Copy)]
    struct Body<'a>(&'a [u8]);

    impl Body<'_> {
        #[inline(always)]
        fn at(self, k: usize) -> u8 {
            debug_assert!(k < self.0.len());
            // SAFETY: `k` is within the pass's margin (see `MARGIN`), checked by `run`.
            unsafe { *self.0.get_unchecked(k) }
        }

        #[inline(always)]
        fn array<const N: usize>(self, k: usize) -> [u8; N] {
            debug_assert!(k + N <= self.0.len());
            // SAFETY: as `at`; `[u8; N]` has no alignment to keep.
            unsafe { self.0.as_ptr().add(k).cast::<[u8; N]>().read() }
        }

        /// The first `"`, `\\` or control character in the 16 bytes at `k`.
        #[inline(always)]
        fn probe(self, k: usize) -> Option<usize> {
            match wide::mask(&self.array::<16>(k), true) {
                0 => None,
                m => Some(k + m.trailing_zeros() as usize),
            }
        }
    }

    /// Runs from `w` until the outermost container ends (`Some(end)`) or
    /// until it must stop (`None`, `w` where the exact walk goes on).
    #[inline(never)]
    pub(crate) fn run(bytes: &[u8], w: &mut Walk) -> Option<usize> {
        let b = Body(bytes);
        let mut i = w.i;
        let mut level = w.level;
        if level >= 63 {
            return None;
        }
        let mut k = w.kinds.low;
        // After a value; just inside an array (where `]` may come).
        let mut after = w.at == At::After;
        let mut first = w.at == At::First;
        let stop = |w: &mut Walk, i: usize, level: usize, at: At, k: u64| {
            w.i = i;
            w.level = level;
            w.at = at;
            w.kinds.low = k;
            None
        };
        if first && w.kinds.object(level - 1) {
            return None;
        }
        if w.at == At::Name {
            if i + MARGIN > bytes.len() {
                return None;
            }
            i = name(b, i)?;
        }
        loop {
            let at = if after {
                At::After
            } else if first {
                At::First
            } else {
                At::Value
            };
            if i + MARGIN > bytes.len() {
                return stop(w, i, level, at, k);
            }
            if after {
                if level == 0 {
                    w.level = 0;
                    return Some(i);
                }
                let object = k >> (level - 1) & 1 == 1;
                let c = b.at(i);
                if c == b',' {
                    if object {
                        match name(b, i + 1) {
                            Some(v) => i = v,
                            None => return stop(w, i, level, At::After, k),
                        }
                    } else {
                        i += 1;
                    }
                } else if c == if object { b'}' } else { b']' } {
                    i += 1;
                    level -= 1;
                    continue;
                } else {
                    return stop(w, i, level, At::After, k);
                }
            }
            // A value at `i`.
            let c = b.at(i);
            let end = match c {
                b'"' => string(b, i),
                b'{' | b'[' if level < 62 => {
                    if b.at(i + 1) == c + 2 {
                        // `{}` or `[]`: `}` and `]` are two after `{` and `[`.
                        Some(i + 2)
                    } else if c == b'{' {
                        if let Some(v) = name(b, i + 1) {
                            k |= 1 << level;
                            level += 1;
                            i = v;
                            after = false;
                            first = false;
                            continue;
                        }
                        None
                    } else {
                        k &= !(1 << level);
                        level += 1;
                        i += 1;
                        after = false;
                        first = true;
                        continue;
                    }
                }
                b'n' => word(b, i, *b"null"),
                b't' => word(b, i, *b"true"),
                b'f' => word(b, i + 1, *b"alse"),
                b'-' | b'0'..=b'9' => number(b, i),
                _ => None,
            };
            match end {
                Some(e) => i = e,
                None => return stop(w, i, level, if first { At::First } else { At::Value }, k),
            }
            after = true;
            first = false;
        }
    }

    /// The string at `b[i]` (its opening quote), when it ends within 64
    /// bytes without an escape (ids, timestamps, uuids, most descriptions):
    /// up to four probes, no loop.
    #[inline(always)]
    fn string(b: Body, i: usize) -> Option<usize> {
        let q = match b.probe(i + 1) {
            Some(q) => q,
            None => match b.probe(i + 17) {
                Some(q) => q,
                None => match b.probe(i + 33) {
                    Some(q) => q,
                    None => b.probe(i + 49)?,
                },
            },
        };
        (b.at(q) == b'"').then_some(q + 1)
    }

    /// `"name":` at `b[i]`, as [`string`]: the offset of the value.
    #[inline(always)]
    fn name(b: Body, i: usize) -> Option<usize> {
        if b.at(i) != b'"' {
            return None;
        }
        let end = string(b, i)?;
        (b.at(end) == b':').then_some(end + 1)
    }

    /// Four bytes at `b[i]` equal to `w` (compared as one integer): the offset past them.
    #[inline(always)]
    fn word(b: Body, i: usize, w: [u8; 4]) -> Option<usize> {
        let got = u32::from_le_bytes(b.array(i));
        (got == u32::from_le_bytes(w)).then_some(i + 4)
    }

    /// A number without an exponent whose runs of digits are shorter than 8.
    #[inline(always)]
    fn number(b: Body, i: usize) -> Option<usize> {
        let mut j = i + usize::from(b.at(i) == b'-');
        match b.at(j) {
            b'0' => j += 1,
            b'1'..=b'9' => j += 1 + digit_run(b, j + 1)?,
            _ => return None,
        }
        if b.at(j) == b'.' {
            match digit_run(b, j + 1)? {
                0 => return None,
                n => j += 1 + n,
            }
        }
        if b.at(j) | 0x20 == b'e' {
            return None;
        }
        Some(j)
    }

    /// How many digits start `b[i..]`, when fewer than 8.
    #[inline(always)]
    fn digit_run(b: Body, i: usize) -> Option<usize> {
        match non_digits(u64::from_le_bytes(b.array(i))) {
            0 => None,
            m => Some((m.trailing_zeros() / 8) as usize),
        }
    }
}

/// Checks that `text` is exactly one JSON value (white space around it
/// allowed); the value's span without that white space.
#[inline]
pub fn one_value(text: &str) -> Result<std::ops::Range<usize>, Invalid> {
    one_value_with(text, value_end)
}

/// [`one_value`] over a given walk of one value (the tests give it the reference walk).
#[inline(always)]
fn one_value_with(
    text: &str,
    value_end: impl Fn(&[u8], usize, usize) -> Result<usize, Invalid>,
) -> Result<std::ops::Range<usize>, Invalid> {
    let b = text.as_bytes();
    let start = skip_ws(b, 0);
    let end = value_end(b, start, 0)?;
    if skip_ws(b, end) != b.len() {
        return bad(end, "unexpected data after the value");
    }
    Ok(start..end)
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

/// One top-level member of an object: byte ranges of its name (quotes
/// included) and of its value (raw JSON), relative to the object's slice.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    pub key: std::ops::Range<usize>,
    /// The name has escapes (decode it; else it is the text between the quotes).
    pub escaped: bool,
    pub value: std::ops::Range<usize>,
}

impl Member {
    /// The member's name, decoded, from the object's text.
    #[inline]
    pub fn name<'a>(&self, text: &'a str) -> Result<Cow<'a, str>, Invalid> {
        if self.escaped {
            serde_json::from_str::<String>(&text[self.key.clone()])
                .map(Cow::Owned)
                .map_err(|_| Invalid { offset: self.key.start, what: "bad member name" })
        } else {
            Ok(Cow::Borrowed(&text[self.key.start + 1..self.key.end - 1]))
        }
    }
}

/// Validates one JSON value at the start of `b` (no leading white space)
/// and returns the offset just past it; when it is an object, `members`
/// gets its top-level members, in order (cleared first). One walk does both.
#[inline]
pub fn element(b: &[u8], members: &mut Vec<Member>) -> Result<usize, Invalid> {
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
        let end = walk(b, start)?;
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

/// Splits `text`, which must be exactly one JSON object (white space around
/// it allowed), into its members; `Ok(false)` when it is valid JSON but not
/// an object. Offsets in `members` are relative to `text`.
#[inline]
pub fn object(text: &str, members: &mut Vec<Member>) -> Result<bool, Invalid> {
    object_with(text, members, element)
}

/// [`object`] over a given walk of one element (the tests give it the reference walk).
#[inline(always)]
fn object_with(
    text: &str,
    members: &mut Vec<Member>,
    element: impl Fn(&[u8], &mut Vec<Member>) -> Result<usize, Invalid>,
) -> Result<bool, Invalid> {
    let b = text.as_bytes();
    let start = skip_ws(b, 0);
    let end = start + element(&b[start..], members)?;
    if skip_ws(b, end) != b.len() {
        return bad(end, "unexpected data after the value");
    }
    if b[start] != b'{' {
        return Ok(false);
    }
    for m in members.iter_mut() {
        m.key = m.key.start + start..m.key.end + start;
        m.value = m.value.start + start..m.value.end + start;
    }
    Ok(true)
}

/// What kind of JSON value `v` is, for a message ("a string", "an object"):
/// the words the guest's config errors and the host's input errors share.
pub fn kind_name(v: &serde_json::Value) -> &'static str {
    use serde_json::Value;
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
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

    fn naive(b: &[u8], i: usize, ctl: bool) -> Option<usize> {
        b[i..].iter().position(|&c| c == b'"' || c == b'\\' || (ctl && c < 0x20)).map(|k| i + k)
    }

    /// Every search (vector, SWAR, and the two combined) against a byte loop, from every start.
    fn agree(v: &[u8]) {
        for i in 0..=v.len() {
            let (q, s) = (naive(v, i, false), naive(v, i, true));
            assert_eq!(find_quote_or_backslash(v, i), q, "{v:x?} from {i}");
            assert_eq!(find_string_special(v, i), s, "{v:x?} from {i}");
            assert_eq!(swar_quote_or_backslash(v, i), q, "{v:x?} from {i}");
            assert_eq!(swar_string_special(v, i), s, "{v:x?} from {i}");
            if v.get(i) == Some(&b'"') {
                // The inlined fast path of `string_end` agrees with the full one.
                assert_eq!(string_end(v, i), string_end_slow(v, i), "{v:x?} from {i}");
            }
            for (ctl, want) in [(false, q), (true, s)] {
                match wide::search(v, i, ctl) {
                    Ok(k) => assert_eq!(Some(k), want, "{v:x?} from {i}"),
                    // Stopped short of a 16-byte block, with nothing special skipped.
                    Err(j) => assert!(j >= i && j + 16 > v.len() && want.is_none_or(|k| k >= j), "{v:x?} from {i}: {j}"),
                }
            }
        }
    }

    #[test]
    fn vector_searches_agree_with_a_byte_loop() {
        // Fillers and specials around every boundary that matters: 0x1f/0x20,
        // 0x7f/0x80 (sign bit), and bytes equal to `"` or `\\` but for the high bit.
        let fillers = [b'a', b' ', 0x7f, 0x80, 0xa2, 0xdc, 0xe9, 0xff];
        let specials = [b'"', b'\\', 0, 0x1f, b'\n', 0x20, 0x21, 0x7f, 0x80, 0x9f, 0xa2, 0xdc, 0xff];
        for len in 0..64 {
            for filler in fillers {
                agree(&vec![filler; len]);
                for at in 0..len {
                    for c in specials {
                        let mut v = vec![filler; len];
                        v[at] = c;
                        agree(&v);
                        if at > 0 {
                            v[0] = b'"'; // a string from 0: `string_end` too
                            agree(&v);
                        }
                        if at + 17 < len {
                            v[at + 17] = b'"'; // in a later block: the first must win
                            agree(&v);
                        }
                    }
                }
            }
        }
        // Pseudo-random bytes, mostly plain, some special.
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        for _ in 0..3000 {
            let len = (x % 64) as usize;
            let v: Vec<u8> = (0..len)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    match x % 40 {
                        0 => b'"',
                        1 => b'\\',
                        2 => (x >> 8) as u8 & 0x1f,
                        _ => (x >> 16) as u8 | 0x20,
                    }
                })
                .collect();
            agree(&v);
        }
    }

    #[test]
    fn utf8_agrees_with_std() {
        let mut cases: Vec<Vec<u8>> = vec![b"".to_vec(), "é 日本 🦀".as_bytes().to_vec(), vec![0xff], vec![0xc3], vec![0xed, 0xa0, 0x80]];
        for len in 0..50 {
            for at in 0..len {
                for bad in [0x80u8, 0xc3, 0xe9, 0xff] {
                    let mut v = vec![b'a'; len];
                    v[at] = bad;
                    cases.push(v);
                }
                let mut v = vec![b'x'; len];
                v.splice(at..at, "é".bytes());
                cases.push(v);
            }
            cases.push(vec![0x7f; len]);
        }
        for c in cases {
            assert_eq!(utf8(&c).ok(), std::str::from_utf8(&c).ok(), "{c:?}");
            assert_eq!(utf8(&c).map_err(|e| e.valid_up_to()).err(), std::str::from_utf8(&c).map_err(|e| e.valid_up_to()).err());
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
            let mut m = Vec::new();
            assert_eq!(object(&member, &mut m), Ok(true));
            assert_eq!(m.len(), 1);
        }
    }

    #[test]
    fn members_in_order_with_raw_values() {
        let text = r#" {"id":1, "n\u00e9":{"x":[1,"]"]}, "s":"a\"b" ,"e":[] } "#;
        let mut m = Vec::new();
        assert_eq!(object(text, &mut m), Ok(true));
        let got: Vec<(String, &str)> = m.iter().map(|m| (m.name(text).unwrap().into_owned(), &text[m.value.clone()])).collect();
        assert_eq!(got, [("id".into(), "1"), ("né".into(), r#"{"x":[1,"]"]}"#), ("s".into(), r#""a\"b""#), ("e".into(), "[]")]);
        assert_eq!(object("{}", &mut m), Ok(true));
        assert!(m.is_empty());
        for bad in [r#"{"a":1"#, r#"{"a":1,}"#, r#"{"a":1}x"#, r#"{"a"}"#, r#"{"a":01}"#, r#"{"a":[1,]}"#, "{,}", r#"{"\q":1}"#, "{\"a\":1}}"] {
            assert!(object(bad, &mut m).is_err(), "{bad}");
        }
        assert_eq!(object("[1]", &mut m), Ok(false));
        assert_eq!(object(" 1", &mut m), Ok(false));
    }

    /// Every proper prefix of a valid element either fails "at the end" (more
    /// bytes could fix it) or, for a bare number, is itself valid: never
    /// "wrong", which would make a streaming reader give up too early.
    #[test]
    fn prefixes_fail_at_the_end() {
        let docs = [
            r#"{"id":12,"a":[true,false,null,-1.5e+3,"x\"\u00e9y"],"o":{"k":{}},"n":0.25}"#,
            r#"[1,{"a":"b"},[],"\\"]"#,
            "-12.5E-7",
            r#""a\u0041""#,
        ];
        let mut m = Vec::new();
        for doc in docs {
            let b = doc.as_bytes();
            assert_eq!(element(b, &mut m), Ok(b.len()), "{doc}");
            for cut in 1..b.len() {
                match element(&b[..cut], &mut m) {
                    Err(e) => assert!(e.at_end(cut), "{doc} cut at {cut}: {e}"),
                    Ok(end) => assert!(end == cut && doc.starts_with('-'), "{doc} cut at {cut}"),
                }
            }
        }
        assert!(!element(b"[1,x", &mut m).unwrap_err().at_end(4));
        assert!(!element(b"[tx", &mut m).unwrap_err().at_end(3));
        assert!(element(b"[t", &mut m).unwrap_err().at_end(2));
    }
}
