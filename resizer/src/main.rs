//! `resizer`: makes one thumbnail (or, with `--batch`, several). The contract (arguments, environment, JSON result,
//! exit codes) is `thumbnail_api::contract`; this is only the process around it.

use clap::Parser as _;
use resizer::contract::{Cli, Failure, Reason, RunResult, DEFAULT_RESULT_PATH, ENV_RESULT_PATH};

fn main() {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) if !e.use_stderr() => e.exit(), // --help, --version
        Err(e) => {
            // Bad arguments are a bug in whoever rendered them: still leave a result.
            let _ = e.print();
            let path: std::path::PathBuf = std::env::var_os(ENV_RESULT_PATH)
                .map(Into::into)
                .unwrap_or_else(|| DEFAULT_RESULT_PATH.into());
            let message = format!("invalid resizer arguments: {}", e.kind());
            finish(
                &path,
                RunResult::Failure(Failure::new(Reason::InvalidRequest, message)),
            );
        }
    };
    if let Some(batch) = &cli.batch {
        let result = resizer::batch::run(&cli, batch);
        finish_json(&cli.result_path, &result.to_json(), result.exit_code())
    }
    let result = resizer::run::run(&cli);
    finish(&cli.result_path, result)
}

fn finish(path: &std::path::Path, result: RunResult) -> ! {
    finish_json(path, &result.to_json(), result.exit_code())
}

fn finish_json(path: &std::path::Path, json: &str, code: i32) -> ! {
    // One JSON line on stdout too, for `kubectl logs` and local runs.
    println!("{json}");
    resizer::run::write_json(path, json);
    std::process::exit(code)
}
