//! Finding, compiling and caching the connector component.
//!
//! Compiling the component costs 60–100 ms per process, loading a serialized
//! one under 1 ms, so compiled code is cached on disk, keyed by everything
//! that makes it valid: the `.wasm` bytes, the wasmtime version, the target
//! and the engine's compilation settings. A broken or stale cache entry is
//! never fatal: it is logged at debug and the component is compiled again.
//!
//! Every new build of the component (and every wasmtime upgrade) makes a new
//! entry of several MiB, so the cache keeps only the [`CACHE_ENTRIES`] most
//! recently used: a load from the cache marks its entry used, and writing a
//! new entry deletes the least recently used beyond that.

use crate::diagnostics::logger;
use sha2::{Digest, Sha256};
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use wasmtime::component::Component;
use wasmtime::{Config, Engine};

/// The wasmtime release this host is built against (pinned in Cargo.toml);
/// part of the cache key.
const WASMTIME_VERSION: &str = "48.0.8";

/// How many compiled components the cache keeps (the most recently used):
/// the component and the test guests of a checkout, and a few builds back.
const CACHE_ENTRIES: usize = 8;

/// The file name ending of a cache entry.
const ENTRY_SUFFIX: &str = ".cwasm";

/// The component file name looked up by default.
const DEFAULT_COMPONENT: &str = "dist/metabase_source.wasm";

/// The engine every guest runs in.
pub fn engine() -> wasmtime::Result<Engine> {
    let mut config = Config::new();
    // Per-call deadlines (see `sandbox`).
    config.epoch_interruption(true);
    // Traps carry the wasm backtrace (on by default) for the TRACE ERROR's
    // internal message.
    config.wasm_component_model(true);
    // For `perf record` of a read: the guest's compiled functions named in
    // /tmp/perf-<pid>.map (names need a component built with its name
    // section; see docs/performance.md). Off unless asked for.
    if std::env::var_os("METABASE_HOST_PERFMAP").is_some_and(|v| !v.is_empty()) {
        config.profiler(wasmtime::ProfilingStrategy::PerfMap);
    }
    Engine::new(&config)
}

/// Resolves `--component`: the flag, else `$METABASE_SOURCE_WASM`, else
/// `dist/metabase_source.wasm` under the current directory, else under any
/// ancestor of the executable (so `target/release/host-harness`, run from
/// anywhere, finds `<repo>/dist/metabase_source.wasm`).
pub fn locate(flag: Option<&Path>) -> Result<PathBuf, String> {
    if let Some(p) = flag {
        return Ok(p.to_path_buf());
    }
    if let Some(p) = std::env::var_os("METABASE_SOURCE_WASM").filter(|p| !p.is_empty()) {
        return Ok(PathBuf::from(p));
    }
    let mut tried = Vec::new();
    let here = PathBuf::from(DEFAULT_COMPONENT);
    if here.is_file() {
        return Ok(here);
    }
    tried.push(here.display().to_string());
    if let Ok(exe) = std::env::current_exe() {
        let exe = exe.canonicalize().unwrap_or(exe);
        for dir in exe.ancestors().skip(1) {
            let candidate = dir.join(DEFAULT_COMPONENT);
            if candidate.is_file() {
                return Ok(candidate);
            }
            tried.push(candidate.display().to_string());
        }
    }
    Err(format!(
        "cannot find the component (tried {}); pass --component PATH or set METABASE_SOURCE_WASM",
        tried.join(", ")
    ))
}

/// The default cache directory: `$XDG_CACHE_HOME/metabase-source-host`, else
/// `$HOME/.cache/metabase-source-host`.
pub fn default_cache_dir() -> Option<PathBuf> {
    let base = std::env::var_os("XDG_CACHE_HOME")
        .filter(|p| !p.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").filter(|p| !p.is_empty()).map(|h| PathBuf::from(h).join(".cache")))?;
    Some(base.join("metabase-source-host"))
}

/// Feeds `Hash` output into a SHA-256, so the engine's compatibility hash
/// becomes part of a stable file name.
struct ShaHasher(Sha256);

impl Hasher for ShaHasher {
    fn finish(&self) -> u64 {
        0
    }
    fn write(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }
}

fn cache_key(engine: &Engine, wasm: &[u8]) -> String {
    let mut h = ShaHasher(Sha256::new());
    h.write(&Sha256::digest(wasm));
    h.write(WASMTIME_VERSION.as_bytes());
    h.write(std::env::consts::ARCH.as_bytes());
    h.write(std::env::consts::OS.as_bytes());
    engine.precompile_compatibility_hash().hash(&mut h);
    let digest = h.0.finalize();
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// Loads the component at `path`, through the cache in `cache_dir` if given.
pub fn load(engine: &Engine, path: &Path, cache_dir: Option<&Path>) -> Result<Component, String> {
    let wasm = std::fs::read(path).map_err(|e| format!("cannot read the component {}: {e}", path.display()))?;
    let Some(dir) = cache_dir else {
        return compile(engine, path, &wasm);
    };
    let cached = dir.join(format!("{}{ENTRY_SUFFIX}", cache_key(engine, &wasm)));
    if cached.is_file() {
        // SAFETY: `deserialize_file` runs the file's machine code, so it must
        // only ever see output of `Component::serialize` from a compatible
        // engine. The file comes from our own cache directory, which only
        // this program writes (atomically, under a name derived from the
        // wasm's hash and the engine settings), and wasmtime itself checks
        // the header's version and settings before using it. A user who can
        // write to this directory can already run code as this user.
        match unsafe { Component::deserialize_file(engine, &cached) } {
            Ok(c) => {
                logger::debug!("component: loaded compiled code from {}", cached.display());
                mark_used(&cached);
                return Ok(c);
            }
            Err(e) => logger::debug!("component: cache entry {} unusable ({e}); compiling", cached.display()),
        }
    }
    let component = compile(engine, path, &wasm)?;
    match component.serialize() {
        Ok(bytes) => {
            match write_atomic(&cached, &bytes) {
                Ok(()) => evict(dir, CACHE_ENTRIES),
                Err(e) => logger::debug!("component: cannot write cache entry {}: {e}", cached.display()),
            }
        }
        Err(e) => logger::debug!("component: cannot serialize for the cache: {e}"),
    }
    Ok(component)
}

fn compile(engine: &Engine, path: &Path, wasm: &[u8]) -> Result<Component, String> {
    let t = std::time::Instant::now();
    let c = Component::from_binary(engine, wasm)
        .map_err(|e| format!("cannot load the component {}: {e:?}", path.display()))?;
    logger::debug!("component: compiled {} in {:?}", path.display(), t.elapsed());
    Ok(c)
}

fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let tmp = dir.join(format!(".tmp-{}-{}", std::process::id(), path.file_name().map(|n| n.to_string_lossy()).unwrap_or_default()));
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(&tmp, path).inspect_err(|_| {
        let _ = std::fs::remove_file(&tmp);
    })
}

/// Marks a cache entry as just used (its modification time), so that
/// [`evict`] keeps it. Best effort: a failure only makes it older.
fn mark_used(entry: &Path) {
    let touched = std::fs::File::options()
        .append(true)
        .open(entry)
        .and_then(|f| f.set_modified(std::time::SystemTime::now()));
    if let Err(e) = touched {
        logger::debug!("component: cannot mark cache entry {} used: {e}", entry.display());
    }
}

/// Deletes all but the `keep` most recently used entries (`*.cwasm`) of the
/// cache directory; other files are left alone. Best effort: an entry that
/// cannot be listed or deleted stays (another host may be deleting it too).
fn evict(dir: &Path, keep: usize) {
    let Ok(listing) = std::fs::read_dir(dir) else { return };
    let mut entries: Vec<(std::time::SystemTime, PathBuf)> = listing
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_str().is_some_and(|n| n.ends_with(ENTRY_SUFFIX) && !n.starts_with('.')))
        .filter_map(|e| Some((e.metadata().ok()?.modified().ok()?, e.path())))
        .collect();
    // Newest first; equal times in a fixed order.
    entries.sort_by(|a, b| b.cmp(a));
    for (_, path) in entries.into_iter().skip(keep) {
        match std::fs::remove_file(&path) {
            Ok(()) => logger::debug!("component: evicted the old cache entry {}", path.display()),
            Err(e) => logger::debug!("component: cannot evict cache entry {}: {e}", path.display()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, SystemTime};

    /// A fresh directory under the system's temp dir, removed on drop.
    struct TempDir(PathBuf);

    impl TempDir {
        fn new(name: &str) -> TempDir {
            let dir = std::env::temp_dir().join(format!("host-harness-{name}-{}", std::process::id()));
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).unwrap();
            TempDir(dir)
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn entry_at(dir: &Path, name: &str, age_s: u64) -> PathBuf {
        let path = dir.join(name);
        std::fs::write(&path, b"compiled").unwrap();
        let f = std::fs::File::options().append(true).open(&path).unwrap();
        f.set_modified(SystemTime::now() - Duration::from_secs(age_s)).unwrap();
        path
    }

    fn names(dir: &Path) -> Vec<String> {
        let mut v: Vec<String> =
            std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
        v.sort();
        v
    }

    #[test]
    fn eviction_keeps_the_most_recently_used_entries_and_other_files() {
        let tmp = TempDir::new("evict");
        for (i, age) in [50, 10, 40, 20, 30].into_iter().enumerate() {
            entry_at(&tmp.0, &format!("{i}.cwasm"), age);
        }
        entry_at(&tmp.0, "notes.txt", 1000);
        entry_at(&tmp.0, ".tmp-1-9.cwasm", 1000);
        evict(&tmp.0, 3);
        // Ages 10, 20 and 30 stay; 40 and 50 go; what is not an entry stays.
        assert_eq!(names(&tmp.0), [".tmp-1-9.cwasm", "1.cwasm", "3.cwasm", "4.cwasm", "notes.txt"]);
        evict(&tmp.0, 3);
        assert_eq!(names(&tmp.0).len(), 5, "nothing more to evict");
    }

    #[test]
    fn a_used_entry_becomes_the_newest() {
        let tmp = TempDir::new("mark-used");
        let old = entry_at(&tmp.0, "old.cwasm", 500);
        entry_at(&tmp.0, "new.cwasm", 5);
        mark_used(&old);
        evict(&tmp.0, 1);
        assert_eq!(names(&tmp.0), ["old.cwasm"]);
    }

    #[test]
    fn a_missing_cache_directory_is_not_an_error() {
        let tmp = TempDir::new("missing");
        evict(&tmp.0.join("absent"), 0);
    }
}
