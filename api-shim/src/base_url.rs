//! The URL clients reach the shim at, which every hypermedia link and Location header
//! starts with: the configured public base URL when there is one, otherwise the one the
//! client used (its Host header, or X-Forwarded-Host / X-Forwarded-Proto set by a proxy).
//!
//! A chart installed without `shim.publicBaseUrl` must still answer with links a client
//! can follow, whatever the NodePort, Ingress host or port-forward it came through. The
//! header values are checked (a host[:port], a scheme http or https) before they reach
//! a link, so a forged header cannot inject a path, userinfo or another scheme; a bad
//! forwarded value is ignored in favour of the next source.

use axum::extract::FromRequestParts;
use axum::http::header::HOST;
use axum::http::request::Parts;
use axum::http::HeaderMap;

use crate::state::AppState;

/// The absolute base URL of this request's answer, without a trailing slash
/// (e.g. "http://127.0.0.1:30080").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BaseUrl(pub String);

impl BaseUrl {
    /// URL of one thumbnail in this API.
    pub fn thumbnail_url(&self, id: &str) -> String {
        format!("{}/api/v1/thumbnails/{id}", self.0)
    }

    /// URL of one group (the Thumbnails of one upload with several sizes).
    pub fn group_url(&self, id: &str) -> String {
        group_url(&self.0, id)
    }
}

/// URL of the group `id` in the API rooted at `base`.
pub fn group_url(base: &str, id: &str) -> String {
    format!("{}/api/v1/groups/{id}", base.trim_end_matches('/'))
}

impl FromRequestParts<AppState> for BaseUrl {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        Ok(BaseUrl(match &state.settings.public_base_url {
            Some(configured) => configured.clone(),
            None => from_headers(&parts.headers, parts.uri.authority().map(|a| a.as_str())),
        }))
    }
}

/// Host used when the request names none that is valid (HTTP/1.0 without Host, or a
/// malformed one): links then are still absolute, and point at the loopback.
const FALLBACK_HOST: &str = "localhost";

/// The base URL a client used, from the request's headers. `authority` is the
/// request-target's authority (HTTP/2 `:authority`, absolute-form HTTP/1.1), which takes
/// the place of Host when present.
pub fn from_headers(headers: &HeaderMap, authority: Option<&str>) -> String {
    let first = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            // A chain of proxies appends: the first value is what the client sent.
            .map(|v| v.split(',').next().unwrap_or("").trim().to_string())
    };
    let scheme = first("x-forwarded-proto")
        .map(|p| p.to_ascii_lowercase())
        .filter(|p| p == "http" || p == "https")
        .unwrap_or_else(|| "http".into());
    let host = first("x-forwarded-host")
        .filter(|h| valid_host(h))
        .or_else(|| authority.map(String::from).filter(|h| valid_host(h)))
        .or_else(|| {
            headers
                .get(HOST)
                .and_then(|v| v.to_str().ok())
                .map(str::trim)
                .filter(|h| valid_host(h))
                .map(String::from)
        })
        .unwrap_or_else(|| FALLBACK_HOST.into());
    format!("{scheme}://{host}")
}

/// Whether `s` is a host[:port] and nothing else: a DNS name or IPv4 address of letters,
/// digits, '-' and '.', or a bracketed IPv6 address, then optionally ':' and a port
/// number. No userinfo, path, query, fragment, whitespace or scheme.
pub fn valid_host(s: &str) -> bool {
    if s.is_empty() || s.len() > 261 {
        return false;
    }
    let (host, port) = if let Some(rest) = s.strip_prefix('[') {
        let Some((v6, after)) = rest.split_once(']') else {
            return false;
        };
        if v6.parse::<std::net::Ipv6Addr>().is_err() {
            return false;
        }
        match after {
            "" => return true,
            p => match p.strip_prefix(':') {
                Some(port) => ("v6", Some(port)),
                None => return false,
            },
        }
    } else {
        match s.split_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (s, None),
        }
    };
    let host_ok = !host.is_empty()
        && host.len() <= 253
        && host.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        });
    let port_ok = port.is_none_or(|p| {
        !p.is_empty()
            && p.len() <= 5
            && p.bytes().all(|b| b.is_ascii_digit())
            && p.parse::<u16>().is_ok_and(|n| n > 0)
    });
    host_ok && port_ok
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    #[test]
    fn hosts_are_a_name_or_address_and_a_port_only() {
        for good in [
            "localhost",
            "thumbs.example.com",
            "127.0.0.1:30080",
            "[::1]",
            "[::1]:8080",
            "a-b.c:1",
        ] {
            assert!(valid_host(good), "{good}");
        }
        for bad in [
            "",
            "evil.com/path",
            "user@evil.com",
            "http://evil.com",
            "evil.com:",
            "evil.com:0",
            "evil.com:99999",
            "evil.com:80x",
            "-evil.com",
            "evil..com",
            "evil.com ",
            "[::1",
            "[nope]",
            "a:b:c",
            "evil.com?x",
            "evil.com#x",
        ] {
            assert!(!valid_host(bad), "{bad}");
        }
    }

    #[test]
    fn the_request_decides_with_forwarded_headers_first_when_valid() {
        assert_eq!(
            from_headers(&headers(&[("host", "10.0.0.5:30080")]), None),
            "http://10.0.0.5:30080"
        );
        assert_eq!(
            from_headers(
                &headers(&[
                    ("host", "shim:8080"),
                    ("x-forwarded-host", "thumbs.example.com, proxy.internal"),
                    ("x-forwarded-proto", "HTTPS"),
                ]),
                None
            ),
            "https://thumbs.example.com"
        );
        // Bad forwarded values are ignored, not trusted.
        assert_eq!(
            from_headers(
                &headers(&[
                    ("host", "shim:8080"),
                    ("x-forwarded-host", "evil.com/phish"),
                    ("x-forwarded-proto", "javascript"),
                ]),
                None
            ),
            "http://shim:8080"
        );
        assert_eq!(
            from_headers(&headers(&[("host", "a b")]), None),
            "http://localhost"
        );
        assert_eq!(
            from_headers(&headers(&[]), Some("h2.example:443")),
            "http://h2.example:443"
        );
    }
}
