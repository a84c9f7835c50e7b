//! Running the real `resizer` binary against the S3 test server, for the tests of whole
//! runs (`s3.rs`, `batch.rs`): included by `#[path]` where used, as the in-process tests
//! have no use for it.

use std::process::Command;

use resizer::contract::MAX_RESULT_BYTES;
use thumbnail_testkit::S3Env;

/// Runs the resizer with `args` against the S3 server at `endpoint` with the keys of
/// `env`, its result written into a file of its own under `dir`; checks what every run
/// must do (no panic, an exit code rather than a signal, a result that fits a
/// termination message and is repeated on stdout) and returns the exit code and the
/// result's JSON.
pub fn run(args: &[String], endpoint: &str, env: &S3Env, dir: &str, name: &str) -> (i32, String) {
    let dir = std::env::temp_dir().join(dir);
    std::fs::create_dir_all(&dir).unwrap();
    let result_path = dir.join(format!("{}.json", name.replace('/', "_")));
    let out = Command::new(env!("CARGO_BIN_EXE_resizer"))
        .args(args)
        .env_clear()
        .env("S3_ENDPOINT", endpoint)
        .env("AWS_ACCESS_KEY_ID", &env.access_key)
        .env("AWS_SECRET_ACCESS_KEY", &env.secret_key)
        .env("RESIZER_RESULT_PATH", &result_path)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !stderr.contains("panicked"),
        "the resizer panicked: {stderr}"
    );
    let code = out
        .status
        .code()
        .unwrap_or_else(|| panic!("killed by a signal: {stderr}"));
    let json = std::fs::read_to_string(&result_path)
        .unwrap_or_else(|e| panic!("no result file ({e}); stderr: {stderr}"));
    assert!(
        json.len() <= MAX_RESULT_BYTES,
        "result too long for a termination message: {}",
        json.len()
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        json,
        "stdout repeats the result"
    );
    (code, json)
}
