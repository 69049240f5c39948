//! Finding, compiling and caching the connector component.
//!
//! Compiling the component costs 60–100 ms per process, loading a serialized
//! one under 1 ms, so compiled code is cached on disk, keyed by everything
//! that makes it valid: the `.wasm` bytes, the wasmtime version, the target
//! and the engine's compilation settings. A broken or stale cache entry is
//! never fatal: it is logged at debug and the component is compiled again.

use crate::logger;
use sha2::{Digest, Sha256};
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use wasmtime::component::Component;
use wasmtime::{Config, Engine};

/// The wasmtime release this host is built against (pinned in Cargo.toml);
/// part of the cache key.
const WASMTIME_VERSION: &str = "48.0.8";

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
    let cached = dir.join(format!("{}.cwasm", cache_key(engine, &wasm)));
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
                return Ok(c);
            }
            Err(e) => logger::debug!("component: cache entry {} unusable ({e}); compiling", cached.display()),
        }
    }
    let component = compile(engine, path, &wasm)?;
    match component.serialize() {
        Ok(bytes) => {
            if let Err(e) = write_atomic(&cached, &bytes) {
                logger::debug!("component: cannot write cache entry {}: {e}", cached.display());
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
