//! HTTP as a client of the REST shim sees it: curl, so that tests speak to the shim the
//! way its users' scripts do (multipart uploads with `-F`, redirects, raw status codes).

use std::process::Command;

/// Runs `curl -sS ARGS` and returns (HTTP status code, body). A connection failure gives
/// status "000" and curl's message as the body.
pub fn curl(args: &[&str]) -> (String, String) {
    let out = Command::new("curl")
        .args(["-sS", "-w", "\n%{http_code}"])
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
