//! `resizer`: makes one thumbnail. The contract (arguments, environment, JSON result,
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
    let result = resizer::run::run(&cli);
    finish(&cli.result_path, result)
}

fn finish(path: &std::path::Path, result: RunResult) -> ! {
    // One JSON line on stdout too, for `kubectl logs` and local runs.
    println!("{}", result.to_json());
    resizer::run::write_result(path, &result);
    std::process::exit(result.exit_code())
}
