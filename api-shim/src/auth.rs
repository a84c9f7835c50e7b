//! Bearer-token authentication of the thumbnail routes. Probes, metrics and the API
//! description stay open: kubelets, Prometheus and people reading the docs have no
//! token.
//!
//! Tokens come from a file (one per line) that is re-read whenever it changes, so a
//! token is added or revoked by editing the file — or the Kubernetes Secret mounted
//! there — without restarting the shim.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use axum::extract::{Request, State};
use axum::http::header::{AUTHORIZATION, WWW_AUTHENTICATE};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use subtle::ConstantTimeEq as _;

use crate::error::ApiError;
use crate::state::AppState;

/// Whether `given` is one of `tokens`. Every token is compared, each in time independent
/// of where it differs from `given`, so response timing reveals neither a token's prefix
/// nor which token matched.
pub fn authorized(tokens: &[String], header: Option<&str>) -> bool {
    let Some(given) = header.and_then(|h| h.strip_prefix("Bearer ")) else {
        return false;
    };
    let given = given.trim().as_bytes();
    let mut ok = subtle::Choice::from(0);
    for t in tokens {
        ok |= t.as_bytes().ct_eq(given);
    }
    ok.into()
}

/// Reads accepted bearer tokens: one per line, blank lines and `#` comments ignored.
/// A file without a token is an error: it would lock every client out.
pub fn read_tokens(path: &Path) -> anyhow::Result<Vec<String>> {
    use anyhow::Context as _;
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading the token file {}", path.display()))?;
    let tokens: Vec<String> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(String::from)
        .collect();
    anyhow::ensure!(
        !tokens.is_empty(),
        "the token file {} holds no token; add one per line",
        path.display()
    );
    Ok(tokens)
}

/// What identifies one version of the token file. A Kubernetes Secret volume replaces
/// the file by swapping a symlink (new inode); an editor rewrites it (new mtime/size).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Version {
    inode: u64,
    len: u64,
    modified: Option<SystemTime>,
}

fn version(path: &Path) -> std::io::Result<Version> {
    // `metadata` follows symlinks: the version of the file the path leads to now.
    let m = std::fs::metadata(path)?;
    #[cfg(unix)]
    let inode = std::os::unix::fs::MetadataExt::ino(&m);
    #[cfg(not(unix))]
    let inode = 0;
    Ok(Version {
        inode,
        len: m.len(),
        modified: m.modified().ok(),
    })
}

#[derive(Debug)]
struct Loaded {
    version: Option<Version>,
    tokens: Arc<Vec<String>>,
}

/// The accepted tokens: a fixed list (tests), or a file re-read when it changes.
#[derive(Debug)]
pub struct Tokens {
    file: Option<PathBuf>,
    loaded: Mutex<Loaded>,
}

impl Tokens {
    /// A fixed list of tokens.
    pub fn fixed(tokens: Vec<String>) -> Tokens {
        Tokens {
            file: None,
            loaded: Mutex::new(Loaded {
                version: None,
                tokens: Arc::new(tokens),
            }),
        }
    }

    /// The tokens of `path`, read now (an unreadable or empty file is an error: the
    /// shim must not start unusable) and again whenever the file changes.
    pub fn from_file(path: &Path) -> anyhow::Result<Tokens> {
        let v = version(path).ok();
        let tokens = read_tokens(path)?;
        Ok(Tokens {
            file: Some(path.to_path_buf()),
            loaded: Mutex::new(Loaded {
                version: v,
                tokens: Arc::new(tokens),
            }),
        })
    }

    /// The tokens accepted now. A stat per request (cheap, no read) notices a change;
    /// a changed file that cannot be read or holds no token keeps the previous tokens
    /// (logged): a half-written file must not lock every client out, and revoking a
    /// token is done by writing the file without it.
    pub fn current(&self) -> Arc<Vec<String>> {
        let mut loaded = self.loaded.lock().unwrap_or_else(|e| e.into_inner());
        let Some(path) = &self.file else {
            return loaded.tokens.clone();
        };
        let now = version(path).ok();
        if now.is_some() && now != loaded.version {
            match read_tokens(path) {
                Ok(tokens) => {
                    tracing::info!(file = %path.display(), count = tokens.len(), "token file changed: tokens reloaded");
                    loaded.tokens = Arc::new(tokens);
                    loaded.version = now;
                }
                Err(e) => {
                    tracing::error!(error = %format!("{e:#}"), "token file changed but cannot be used: keeping the previous tokens");
                    loaded.version = now;
                }
            }
        } else if now.is_none() && loaded.version.is_some() {
            tracing::error!(file = %path.display(), "token file is gone: keeping the previous tokens");
            loaded.version = None;
        }
        loaded.tokens.clone()
    }
}

pub async fn require_token(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let Some(tokens) = &state.settings.tokens else {
        return next.run(req).await;
    };
    if !req.uri().path().starts_with("/api/v1/thumbnails") {
        return next.run(req).await;
    }
    let header = req
        .headers()
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    if authorized(&tokens.current(), header) {
        return next.run(req).await;
    }
    let mut response = ApiError::new(
        StatusCode::UNAUTHORIZED,
        "unauthorized",
        "send a valid token as \"Authorization: Bearer <token>\"; ask the operator of this service for one",
    )
    .into_response();
    response
        .headers_mut()
        .insert(WWW_AUTHENTICATE, "Bearer".parse().expect("static header"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_listed_bearer_tokens_pass() {
        let tokens = vec!["alpha".to_string(), "beta".to_string()];
        assert!(authorized(&tokens, Some("Bearer beta")));
        assert!(authorized(&tokens, Some("Bearer alpha")));
        assert!(!authorized(&tokens, Some("Bearer bet")));
        assert!(!authorized(&tokens, Some("Bearer betaa")));
        assert!(!authorized(&tokens, Some("Bearer ")));
        assert!(!authorized(&tokens, Some("Basic beta")));
        assert!(!authorized(&tokens, Some("beta")));
        assert!(!authorized(&tokens, None));
        assert!(!authorized(&[], Some("Bearer beta")));
    }

    #[test]
    fn tokens_skip_blank_lines_and_comments() {
        let path = std::env::temp_dir().join(format!("shim-tokens-{}", std::process::id()));
        std::fs::write(&path, "# clients\n\n  alpha  \nbeta\n").unwrap();
        assert_eq!(read_tokens(&path).unwrap(), ["alpha", "beta"]);
        std::fs::write(&path, "# none\n").unwrap();
        assert!(read_tokens(&path).is_err());
        std::fs::remove_file(&path).unwrap();
    }

    #[test]
    fn a_changed_file_is_reloaded_and_a_broken_one_keeps_the_last_tokens() {
        let dir = std::env::temp_dir().join(format!("shim-reload-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("tokens");
        std::fs::write(&path, "old\n").unwrap();
        let tokens = Tokens::from_file(&path).unwrap();
        assert_eq!(*tokens.current(), ["old"]);
        // As a Secret volume updates: a new file swapped in under the same name.
        let next = dir.join("tokens.new");
        std::fs::write(&next, "new-one\nnew-two\n").unwrap();
        std::fs::rename(&next, &path).unwrap();
        assert_eq!(*tokens.current(), ["new-one", "new-two"]);
        std::fs::write(&next, "# emptied\n").unwrap();
        std::fs::rename(&next, &path).unwrap();
        assert_eq!(*tokens.current(), ["new-one", "new-two"]);
        std::fs::remove_file(&path).unwrap();
        assert_eq!(*tokens.current(), ["new-one", "new-two"]);
        std::fs::write(&next, "back\n").unwrap();
        std::fs::rename(&next, &path).unwrap();
        assert_eq!(*tokens.current(), ["back"]);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
