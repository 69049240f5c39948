//! The same component under hosts nobody here wrote the runtime of: the Node host (`hosts/node`,
//! jco + preview2-shim) must print what host-harness prints, byte for byte apart from
//! `emitted_at`, on every bundled fixture; the stock `wasmtime` CLI runs spec, check and discover
//! on the composed artifact (`dist/metabase_source_cli.wasm`) and says what host-harness says.
//!
//! The Node host cannot replay a HAR, so each fixture is served live on loopback by
//! `tests/python/har_server.py`, a fresh server for every run (a HAR answers repeated requests in
//! order, so a server is not shared between two runs), and host-harness reads the same server the
//! same way. Needs node and `./build.sh node` (the transpiled component), `./build.sh cli` and the
//! `.venv/wasmtime-cli` venv (`./build.sh test` makes all of them); skipped with the reason when one
//! is missing, failed under `STRICT_TOOLS=1` or `CI=true`.

use crate::common;

use common::{or_skip, run_bounded, scratch_dir, write_json, HarServer, Ran};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

const RUN_TIMEOUT: Duration = Duration::from_secs(180);

/// The Node host's entry point, once node is on PATH and the component is transpiled.
pub fn node_cli() -> Result<(PathBuf, PathBuf), String> {
    let node = common::which("node").ok_or("node is not on PATH (the Node host needs Node.js 18 or later)")?;
    let dir = common::repo().join("hosts").join("node");
    if !dir.join("gen").join("metabase_source.js").is_file() {
        return Err(format!("{} is missing: run ./build.sh node (or ./build.sh build)", dir.join("gen").display()));
    }
    Ok((node, dir.join("cli.js")))
}

/// Runs the Node host with `args` (and extra environment), in the repository.
pub fn run_node(node: &(PathBuf, PathBuf), args: &[&str], env: &[(&str, &Path)]) -> Ran {
    let mut cmd = Command::new(&node.0);
    cmd.arg(&node.1).args(args).current_dir(common::repo()).env_remove("SSL_CERT_FILE").env_remove("NODE_EXTRA_CA_CERTS");
    for (k, v) in env {
        cmd.env(k, v);
    }
    run_bounded(cmd, RUN_TIMEOUT, "the Node host")
}

fn run_harness(args: &[&str]) -> Ran {
    let mut cmd = common::host_command(&common::component(), args);
    cmd.env_remove("SSL_CERT_FILE");
    run_bounded(cmd, RUN_TIMEOUT, "host-harness")
}

/// `config` pointed at a loopback server: scheme and authority replaced, the path kept.
fn at_loopback(config: &Value, port: u16) -> Value {
    let mut config = config.clone();
    let url = config["instance_api_url"].as_str().expect("instance_api_url").to_string();
    let after_scheme = url.find("://").map_or(0, |i| i + 3);
    let path = url[after_scheme..].find('/').map_or("", |i| &url[after_scheme + i..]);
    config["instance_api_url"] = json!(format!("http://127.0.0.1:{port}{path}"));
    config
}

/// stdout with every `"emitted_at":<number>` value blanked and the server's port named.
fn normalised(stdout: &str, port: u16) -> String {
    let key = "\"emitted_at\":";
    let mut out = String::with_capacity(stdout.len());
    let mut rest = stdout;
    while let Some(at) = rest.find(key) {
        out.push_str(&rest[..at + key.len()]);
        rest = rest[at + key.len()..].trim_start_matches(|c: char| c.is_ascii_digit() || c == '.' || c == '-');
        out.push('0');
    }
    out.push_str(rest);
    out.replace(&format!("127.0.0.1:{port}"), "127.0.0.1:PORT")
}

/// One command of one fixture through one host, against a fresh loopback server.
fn run_on_fixture(fixture: &str, dir: &Path, command: &str, host: &dyn Fn(&[&str]) -> Ran) -> (i32, String) {
    let server = HarServer::start(&common::fixture(&format!("{fixture}.har"))).expect("har_server.py");
    let config_path = dir.join(format!("{fixture}.config.json"));
    write_json(&config_path, &at_loopback(&common::fixture_config(fixture), server.port));
    let out = host(&[command, "--config", config_path.to_str().unwrap()]);
    assert!(!out.stdout.is_empty(), "{fixture} {command}: nothing on stdout\n{}", out.stderr);
    (out.code, normalised(&out.stdout, server.port))
}

#[test]
fn node_host_prints_what_host_harness_prints_on_every_fixture() {
    let Some(node) = or_skip("hosts_node (Node host)", node_cli()) else { return };
    let dir = scratch_dir("node-vs-harness");
    let spec = (run_node(&node, &["spec"], &[]), run_harness(&["spec"]));
    assert_eq!((spec.0.code, &spec.0.stdout), (0, &spec.1.stdout), "spec\n{}", spec.0.stderr);
    let mut compared = 0;
    for fixture in common::fixture_names() {
        for command in ["check", "discover", "read"] {
            let harness = run_on_fixture(&fixture, &dir, command, &|a| run_harness(a));
            let node_out = run_on_fixture(&fixture, &dir, command, &|a| run_node(&node, a, &[]));
            assert_eq!(node_out.0, harness.0, "{fixture} {command}: exit codes differ\nnode:\n{}\nhost-harness:\n{}", node_out.1, harness.1);
            let (n, h): (Vec<&str>, Vec<&str>) = (node_out.1.lines().collect(), harness.1.lines().collect());
            for (i, (a, b)) in n.iter().zip(&h).enumerate() {
                assert_eq!(a, b, "{fixture} {command}: line {} differs (node, then host-harness)", i + 1);
            }
            assert_eq!(n.len(), h.len(), "{fixture} {command}: line counts differ\nnode:\n{}\nhost-harness:\n{}", node_out.1, harness.1);
            compared += 1;
        }
    }
    assert!(compared >= 3 * common::FULL_FIXTURES.len(), "compared only {compared} runs");
}

#[test]
fn node_host_keeps_the_command_line_contract() {
    let Some(node) = or_skip("hosts_node (Node host)", node_cli()) else { return };
    // Bad command lines: exit 2 and nothing on stdout, as host-harness.
    for args in [&["frobnicate"][..], &["check"], &["read", "--config"], &["spec", "--log-level", "loud"], &["--replay", "x.har", "spec"]] {
        let out = run_node(&node, args, &[]);
        assert_eq!((out.code, out.stdout.as_str()), (2, ""), "{args:?}\n{}", out.stderr);
        assert!(!out.stderr.is_empty(), "{args:?}: no reason on stderr");
    }
    // A config that cannot be read: exit 1, a config_error TRACE naming the file.
    let out = run_node(&node, &["check", "--config", "/nonexistent/config.json"], &[]);
    assert_eq!(out.code, 1, "{}", out.stderr);
    let trace: Value = serde_json::from_str(out.stdout.trim()).expect("one JSON line");
    assert_eq!(trace["trace"]["error"]["failure_type"], "config_error");
    assert!(trace["trace"]["error"]["message"].as_str().unwrap().contains("/nonexistent/config.json"), "{trace}");
}

/// The sandbox's allow-list holds under Node too: a request to another host is denied, and the
/// component reports it as host-harness's component does.
#[test]
fn node_host_denies_hosts_off_the_allow_list() {
    let Some(node) = or_skip("hosts_node (Node host)", node_cli()) else { return };
    let dir = scratch_dir("node-allow-list");
    let server = HarServer::start(&common::fixture("v050_api_key.har")).expect("har_server.py");
    let config_path = dir.join("config.json");
    write_json(&config_path, &at_loopback(&common::fixture_config("v050_api_key"), server.port));
    let cfg = config_path.to_str().unwrap();
    let args = ["--allow-host", "127.0.0.1:1", "check", "--config", cfg];
    let (n, h) = (run_node(&node, &args, &[]), run_harness(&args));
    assert_eq!((n.code, normalised(&n.stdout, server.port)), (h.code, normalised(&h.stdout, server.port)), "node stderr:\n{}", n.stderr);
    assert!(n.stdout.contains("allow-list"), "{}", n.stdout);
    assert!(n.stderr.contains("sandbox: denied GET http://127.0.0.1:"), "{}", n.stderr);
}

// --- The stock wasmtime CLI -----------------------------------------------------------------------

/// The stock `wasmtime` binary of the project venv and the composed artifact.
fn wasmtime_cli() -> Result<(PathBuf, PathBuf), String> {
    let python = common::venv_python("wasmtime-cli")?;
    let wasmtime = python.parent().unwrap().join("wasmtime");
    let artifact = common::repo().join("dist").join("metabase_source_cli.wasm");
    if !artifact.is_file() {
        return Err(format!("{} is missing: run ./build.sh cli", artifact.display()));
    }
    Ok((wasmtime, artifact))
}

/// `s` as a WAVE string literal (what `--invoke` takes and prints).
fn wave_string(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\'' => out.push_str("\\'"),
            c if c.is_control() => out.push_str(&format!("\\u{{{:x}}}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn invoke(cli: &(PathBuf, PathBuf), call: &str) -> Ran {
    let mut cmd = Command::new(&cli.0);
    cmd.args(["run", "-S", "http", "--invoke", call]).arg(&cli.1);
    run_bounded(cmd, RUN_TIMEOUT, "wasmtime run")
}

/// The names of the streams in a WAVE-printed `list<stream-info>` (a stream's name is followed by
/// its description; a field's by its type).
fn wave_stream_names(text: &str) -> Vec<String> {
    text.match_indices("{name: \"")
        .filter_map(|(at, m)| {
            let rest = &text[at + m.len()..];
            let end = rest.find('"')?;
            rest[end..].starts_with("\", description: ").then(|| rest[..end].to_string())
        })
        .collect()
}

#[test]
fn stock_wasmtime_cli_runs_spec_check_and_discover() {
    let Some(cli) = or_skip("hosts_node (wasmtime CLI)", wasmtime_cli()) else { return };
    let dir = scratch_dir("wasmtime-cli");

    // spec: the component's own text, as host-harness embeds it in its SPEC line.
    let spec = invoke(&cli, "spec()");
    assert_eq!(spec.code, 0, "{}", spec.stderr);
    let harness_spec = run_harness(&["spec"]);
    let raw = harness_spec
        .stdout
        .trim()
        .strip_prefix(r#"{"type":"SPEC","spec":{"documentationUrl":"https://www.metabase.com/docs/latest/api","connectionSpecification":"#)
        .and_then(|r| r.strip_suffix("}}"))
        .expect("host-harness's SPEC line");
    assert_eq!(spec.stdout.trim(), wave_string(raw), "spec differs");

    // check: connected, and refused credentials, as host-harness says.
    for (fixture, want) in [("v050_api_key", None), ("bad_api_key", Some(()))] {
        let server = HarServer::start(&common::fixture(&format!("{fixture}.har"))).expect("har_server.py");
        let config = at_loopback(&common::fixture_config(fixture), server.port);
        let path = dir.join(format!("{fixture}.json"));
        write_json(&path, &config);
        let config_text = std::fs::read_to_string(&path).unwrap();
        let out = invoke(&cli, &format!("check({})", wave_string(&config_text)));
        assert_eq!(out.code, 0, "{}", out.stderr);
        let server = HarServer::start(&common::fixture(&format!("{fixture}.har"))).expect("har_server.py");
        write_json(&path, &at_loopback(&common::fixture_config(fixture), server.port));
        let harness = run_harness(&["check", "--config", path.to_str().unwrap()]);
        let status: Value = serde_json::from_str(harness.stdout.trim()).unwrap();
        match want {
            None => {
                assert_eq!(out.stdout.trim(), "ok(none)", "{}", out.stderr);
                assert_eq!(status["connectionStatus"]["status"], "SUCCEEDED");
                // The plugged-in log writes the component's log lines to stderr.
                assert!(out.stderr.contains("INFO connected to http://127.0.0.1:"), "{}", out.stderr);
            }
            Some(()) => {
                let message = status["connectionStatus"]["message"].as_str().expect("FAILED with a message");
                assert!(out.stdout.contains(&wave_string(message)), "wasmtime: {}\nhost-harness: {message}", out.stdout);
            }
        }
    }

    // discover: the streams host-harness lists, in its order.
    let server = HarServer::start(&common::fixture("v050_api_key.har")).expect("har_server.py");
    let path = dir.join("discover.json");
    write_json(&path, &at_loopback(&common::fixture_config("v050_api_key"), server.port));
    let out = invoke(&cli, &format!("discover({})", wave_string(&std::fs::read_to_string(&path).unwrap())));
    assert_eq!(out.code, 0, "{}", out.stderr);
    let harness = run_harness(&["discover", "--config", path.to_str().unwrap()]);
    let catalog: Value = serde_json::from_str(harness.stdout.trim()).unwrap();
    let names: Vec<String> =
        catalog["catalog"]["streams"].as_array().unwrap().iter().map(|s| s["name"].as_str().unwrap().to_string()).collect();
    assert!(out.stdout.starts_with("ok(["), "{}", &out.stdout[..out.stdout.len().min(300)]);
    assert_eq!(wave_stream_names(&out.stdout), names);
}

/// The Node host scrubs the same secrets as host-harness: its lists of secret config keys and
/// credential headers (`hosts/node/lib/secrets.js`) are the `config-keys` crate's.
#[test]
fn node_host_knows_the_secrets_host_harness_knows() {
    let text = std::fs::read_to_string(common::repo().join("hosts/node/lib/secrets.js")).expect("secrets.js");
    let list = |name: &str| -> Vec<String> {
        let start = text.find(&format!("export const {name} = [")).unwrap_or_else(|| panic!("{name} in secrets.js"));
        let body = &text[start..];
        let body = &body[body.find('[').unwrap() + 1..body.find(']').unwrap()];
        body.split(',').map(|s| s.trim().trim_matches('\'').to_ascii_lowercase()).filter(|s| !s.is_empty()).collect()
    };
    let mut keys: Vec<String> = config_keys::secret_keys().map(str::to_string).collect();
    let mut node_keys = list("SECRET_KEYS");
    keys.sort();
    node_keys.sort();
    assert_eq!(node_keys, keys, "secret config keys");
    let mut headers: Vec<String> = config_keys::CREDENTIAL_HEADERS.iter().map(|h| h.to_ascii_lowercase()).collect();
    let mut node_headers = list("CREDENTIAL_HEADERS");
    headers.sort();
    node_headers.sort();
    assert_eq!(node_headers, headers, "credential headers");
}

/// f64s whose text is easy to get wrong: zeros, subnormals, the extremes, every power of ten
/// and of two with its neighbours (where plain notation turns into an exponent, and where the
/// shortest digits are tied), short decimals at every exponent, and pseudo-random bit patterns.
fn tricky_f64s() -> Vec<f64> {
    let mut values = vec![0.0, -0.0, 1.0, -1.0, 0.1, 0.2, 0.3, 1.0 / 3.0, f64::EPSILON, f64::MIN_POSITIVE, f64::MAX, f64::MIN];
    values.extend([f64::from_bits(1), f64::from_bits(0x000f_ffff_ffff_ffff), f64::NAN, f64::INFINITY, f64::NEG_INFINITY]);
    values.extend([9007199254740991.0, 9007199254740992.0, 9007199254740993.0, 123456789012345680.0, 1.1805916207174113e21]);
    let neighbours = |x: f64| [f64::from_bits(x.to_bits() - 1), x, f64::from_bits(x.to_bits() + 1)];
    for e in -323..=308 {
        for digits in ["1", "1.5", "9.999999999999999", "2.2250738585072014", "4.9406564584124654"] {
            let x: f64 = format!("{digits}e{e}").parse().unwrap();
            if x.is_finite() && x > 0.0 {
                values.extend(neighbours(x));
            }
        }
    }
    for k in -1074..=1023 {
        values.extend(neighbours(2f64.powi(k)));
    }
    let mut state = 0x9e37_79b9_7f4a_7c15_u64;
    for _ in 0..20_000 {
        // xorshift64*: every exponent and sign, deterministic.
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        values.push(f64::from_bits(state.wrapping_mul(0x2545_f491_4f6c_dd1d)));
    }
    values
}

/// The Node host writes every f64 as host-harness does: the same shortest digits, plain or with
/// an exponent (`e+21`, `e-7`) where serde_json puts one, `.0` on whole numbers, null for the
/// non-finite. host-harness writes a number cell with `serde_json::Number`'s Display
/// (protocol.rs `push_value`), which is what is compared here.
#[test]
fn node_host_writes_every_f64_as_host_harness_does() {
    let Some(node) = or_skip("hosts_node (Node host)", node_cli()) else { return };
    let values = tricky_f64s();
    let input = scratch_dir("node-f64").join("bits.txt");
    let bits: String = values.iter().map(|x| format!("{:016x}\n", x.to_bits())).collect();
    std::fs::write(&input, bits).unwrap();
    let script = common::repo().join("hosts/node/test/format_f64.js");
    let mut cmd = Command::new(&node.0);
    cmd.arg(script).arg(&input);
    let out = run_bounded(cmd, RUN_TIMEOUT, "format_f64.js");
    assert_eq!(out.code, 0, "{}", out.stderr);
    let written: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(written.len(), values.len(), "one line per value");
    for (x, node_text) in values.iter().zip(written) {
        let harness_text = serde_json::Number::from_f64(*x).map_or("null".to_string(), |n| n.to_string());
        assert_eq!(node_text, harness_text, "bits {:016x}", x.to_bits());
    }
}

/// `log-stderr` exports the `log` interface of the contract's own version: the composed artifact
/// (`wac plug`) fills the component's `log` import only when the versions are equal.
#[test]
fn log_stderr_exports_the_contracts_log_version() {
    let wit = std::fs::read_to_string(common::repo().join("wit/source.wit")).expect("wit/source.wit");
    let version = wit
        .lines()
        .find_map(|l| l.trim().strip_prefix("package ingest:source@")?.strip_suffix(';'))
        .expect("the package line of wit/source.wit");
    let plug = std::fs::read_to_string(common::repo().join("log-stderr/src/lib.rs")).expect("log-stderr/src/lib.rs");
    let export = format!("export ingest:source/log@{version};");
    assert!(plug.contains(&export), "log-stderr/src/lib.rs must say `{export}`");
}

/// A one-column batch: (kind, rows, null count, validity, offsets, values).
type ColumnCase = (arrow_columns::Kind, u32, u32, Vec<u8>, Vec<u8>, Vec<u8>);

/// Columns well and badly laid out: every check `arrow_columns::View::new` makes, and all-null
/// and empty columns that must pass.
fn column_cases() -> Vec<ColumnCase> {
    use arrow_columns::Kind::*;
    let i32s = |v: &[i32]| v.iter().flat_map(|o| o.to_le_bytes()).collect::<Vec<u8>>();
    vec![
        (Integer, 3, 0, vec![], vec![], vec![0; 24]),
        (Integer, 3, 0, vec![], vec![], vec![0; 23]),
        (Integer, 3, 1, vec![], vec![], vec![0; 24]),
        (Integer, 3, 1, vec![0b101], vec![], vec![0; 24]),
        (Integer, 3, 2, vec![0b101], vec![], vec![0; 24]),
        (Integer, 3, 0, vec![0b111], vec![], vec![0; 24]),
        (Number, 3, 3, vec![0], vec![], vec![0; 24]),
        (Timestamp, 9, 9, vec![0, 0], vec![], vec![0; 72]),
        (Date, 2, 0, vec![], vec![], vec![0; 8]),
        (Date, 2, 0, vec![], i32s(&[0, 0, 0]), vec![0; 8]),
        (Boolean, 9, 0, vec![], vec![], vec![0xff, 1]),
        (Boolean, 9, 0, vec![], vec![], vec![0xff]),
        (String, 2, 0, vec![], i32s(&[0, 1, 3]), "aé".into()),
        (String, 2, 0, vec![], i32s(&[0, 2, 3]), "aé".into()),
        (String, 2, 0, vec![], i32s(&[0, 1, 4]), "aé".into()),
        (String, 2, 0, vec![], i32s(&[1, 1, 3]), "aé".into()),
        (String, 2, 0, vec![], i32s(&[0, 2, 1]), "aé".into()),
        (String, 2, 0, vec![], i32s(&[0, 3]), "aé".into()),
        (String, 1, 0, vec![], i32s(&[0, 2]), vec![b'a', 0xff]),
        (String, 1, 0, vec![], i32s(&[0, 3]), vec![b'a', 0xe2, 0x82]),
        (String, 1, 0, vec![], i32s(&[0, 4]), vec![b'a', 0xed, 0xa0, 0x80]),
        (String, 1, 0, vec![], i32s(&[0, 3]), vec![b'a', 0xc0, 0x80]),
        (String, 1, 0, vec![], i32s(&[0, 5]), vec![b'a', 0xf4, 0x90, 0x80, 0x80]),
        (String, 2, 2, vec![0], i32s(&[0, 0, 0]), vec![]),
        (String, 0, 0, vec![], i32s(&[0]), vec![]),
        (String, 0, 0, vec![], vec![], vec![]),
        (Json, 1, 0, vec![], i32s(&[0, 2]), "[]".into()),
        (Json, 2, 1, vec![0b10], i32s(&[0, 0, 7]), "{\"a\":1}".into()),
    ]
}

/// The Node host refuses exactly the columns host-harness refuses, with the same words (the
/// TRACE error's internal message), and formats the ones it accepts.
#[test]
fn node_host_checks_columns_as_host_harness_does() {
    let Some(node) = or_skip("hosts_node (Node host)", node_cli()) else { return };
    let cases = column_cases();
    let batches: Vec<Value> = cases
        .iter()
        .map(|(kind, rows, nulls, validity, offsets, values)| {
            let kind = format!("{kind:?}").to_ascii_lowercase();
            let column = json!({"name": "c", "kind": kind, "nullCount": nulls, "validity": validity, "offsets": offsets, "values": values});
            json!({"stream": "s", "rows": rows, "columns": [column], "checkpoint": null})
        })
        .collect();
    let input = scratch_dir("node-columns").join("batches.json");
    write_json(&input, &json!(batches));
    let mut cmd = Command::new(&node.0);
    cmd.arg(common::repo().join("hosts/node/test/check_columns.js")).arg(&input);
    let out = run_bounded(cmd, RUN_TIMEOUT, "check_columns.js");
    assert_eq!(out.code, 0, "{}", out.stderr);
    let said: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(said.len(), cases.len(), "one line per batch");
    let mut refused = 0;
    for ((kind, rows, nulls, validity, offsets, values), node_said) in cases.iter().zip(said) {
        let harness_said = match arrow_columns::View::new(*kind, *rows as usize, *nulls, validity, offsets, values) {
            Ok(_) => "ok".to_string(),
            Err(e) => {
                refused += 1;
                format!("{e} (a batch of {rows} rows)")
            }
        };
        assert_eq!(node_said, harness_said, "{kind:?}, {rows} rows, {nulls} nulls, validity {validity:?}, offsets {offsets:?}, values {values:?}");
    }
    assert!(refused >= 15, "only {refused} cases refused");
}
