//! HTTP as a client of the REST shim sees it: curl, so that tests speak to the shim the
//! way its users' scripts do (multipart uploads with `-F`, redirects, raw status codes).

use std::process::Command;
use std::sync::Mutex;

/// Bearer tokens of the shims a test talks to, by base URL: the chart requires one, so
/// [`curl`] sends it to every URL under a registered shim, as a user's script would.
static TOKENS: Mutex<Vec<(String, String)>> = Mutex::new(Vec::new());

/// From now on [`curl`] sends `Authorization: Bearer <token>` to every URL under
/// `base_url` (e.g. http://127.0.0.1:31234).
pub fn use_token(base_url: &str, token: &str) {
    let mut tokens = TOKENS.lock().unwrap_or_else(|e| e.into_inner());
    tokens.retain(|(url, _)| url != base_url);
    tokens.push((base_url.to_string(), token.to_string()));
}

/// The Authorization header for the first URL in `args` under a registered shim.
fn authorization(args: &[&str]) -> Option<String> {
    let tokens = TOKENS.lock().unwrap_or_else(|e| e.into_inner());
    args.iter().find_map(|a| {
        tokens
            .iter()
            .find(|(url, _)| {
                a.strip_prefix(url.as_str())
                    .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
            })
            .map(|(_, token)| format!("Authorization: Bearer {token}"))
    })
}

/// Runs `curl -sS ARGS` and returns (HTTP status code, body). A connection failure gives
/// status "000" and curl's message as the body. A request to a shim registered with
/// [`use_token`] carries its token (unless ARGS set an Authorization header already).
pub fn curl(args: &[&str]) -> (String, String) {
    let mut command = Command::new("curl");
    command.args(["-sS", "-w", "\n%{http_code}"]);
    let sets_auth = args
        .iter()
        .any(|a| a.to_ascii_lowercase().starts_with("authorization:"));
    if let Some(header) = authorization(args).filter(|_| !sets_auth) {
        command.args(["-H", &header]);
    }
    let out = command
        .args(args)
        .output()
        .expect("curl is missing: run `make deps`");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, code) = text.rsplit_once('\n').unwrap_or(("", ""));
    let body = if code == "000" {
        String::from_utf8_lossy(&out.stderr).into_owned()
    } else {
        body.to_string()
    };
    (code.to_string(), body)
}

/// GET `url` and parse the JSON body; panics with the status and body otherwise.
pub fn get_json(url: &str) -> serde_json::Value {
    let (code, body) = curl(&[url]);
    serde_json::from_str(&body).unwrap_or_else(|e| panic!("GET {url}: {code} {body} ({e})"))
}

/// The group and its members' ids, in order, from the shim's 202 answer to an upload
/// with `sizes`.
pub fn accepted_group(answer: &serde_json::Value) -> (String, Vec<String>) {
    let group = answer["group"]
        .as_str()
        .unwrap_or_else(|| panic!("no group in the answer: {answer}"))
        .to_string();
    let ids = answer["thumbnails"]
        .as_array()
        .unwrap_or_else(|| panic!("no thumbnails in the answer: {answer}"))
        .iter()
        .map(|t| t["id"].as_str().unwrap().to_string())
        .collect();
    (group, ids)
}
