//! [`Endpoint`]s (a node's client address), how keys become URL path
//! segments, and where a redirect's `Location` points.

use std::fmt;
use std::str::FromStr;

use http::Uri;
use http::uri::{Authority, PathAndQuery, Scheme};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, percent_encode};

use super::ClientError;

/// The endpoints `ordo dev` starts, used when none are given.
pub const DEFAULT_ENDPOINTS: &str =
    "http://127.0.0.1:8001,http://127.0.0.1:8002,http://127.0.0.1:8003";

/// Bytes left as they are in a key or query value: RFC 3986's unreserved
/// characters. Everything else, `/`, `%`, `?`, spaces and every non-ASCII
/// byte included, is percent-encoded, so any UTF-8 key is one path segment.
const UNRESERVED: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// A node's client address, `http://HOST:PORT` or `https://HOST:PORT`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Endpoint {
    authority: Authority,
    /// Over TLS (`https://`).
    secure: bool,
}

impl Endpoint {
    /// Parses `http://HOST:PORT` or `https://HOST:PORT`, with or without a
    /// trailing `/`; a bare `HOST:PORT` is taken as `http://HOST:PORT`.
    pub fn parse(text: &str) -> Result<Self, ClientError> {
        let text = text.trim();
        let invalid = |why: &str| ClientError::invalid(format!("endpoint {text:?}: {why}"));
        let with_scheme = if text.contains("://") {
            text.to_owned()
        } else {
            format!("http://{text}")
        };
        let uri: Uri = with_scheme.parse().map_err(|_| invalid("not a URL"))?;
        let secure = match uri.scheme() {
            Some(scheme) if *scheme == Scheme::HTTP => false,
            Some(scheme) if *scheme == Scheme::HTTPS => true,
            _ => return Err(invalid("only http:// and https:// are supported")),
        };
        let authority = uri.authority().ok_or_else(|| invalid("no host"))?.clone();
        if authority.as_str().contains('@') || authority.host().is_empty() {
            return Err(invalid("expected http://HOST:PORT"));
        }
        let path_is_root = uri.path_and_query().is_none_or(|pq| pq.as_str() == "/");
        if !path_is_root {
            return Err(invalid("expected no path after HOST:PORT"));
        }
        Ok(Self { authority, secure })
    }

    /// True for an `https://` endpoint.
    pub fn is_secure(&self) -> bool {
        self.secure
    }

    fn scheme(&self) -> Scheme {
        if self.secure {
            Scheme::HTTPS
        } else {
            Scheme::HTTP
        }
    }

    /// `HOST:PORT`.
    pub fn authority(&self) -> &str {
        self.authority.as_str()
    }

    /// This endpoint's URI for `path_and_query`.
    pub(crate) fn uri(&self, path_and_query: &PathAndQuery) -> Result<Uri, ClientError> {
        Uri::builder()
            .scheme(self.scheme())
            .authority(self.authority.clone())
            .path_and_query(path_and_query.clone())
            .build()
            .map_err(|error| ClientError::invalid(format!("URI for {self}: {error}")))
    }
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}://{}", self.scheme(), self.authority)
    }
}

impl FromStr for Endpoint {
    type Err = ClientError;

    fn from_str(text: &str) -> Result<Self, ClientError> {
        Self::parse(text)
    }
}

/// Parses a comma-separated endpoint list (`--endpoints`, `ORDO_ENDPOINTS`).
/// Empty items are skipped; an empty list is an error.
pub fn parse_endpoints(list: &str) -> Result<Vec<Endpoint>, ClientError> {
    let endpoints = list
        .split(',')
        .filter(|item| !item.trim().is_empty())
        .map(Endpoint::parse)
        .collect::<Result<Vec<_>, _>>()?;
    if endpoints.is_empty() {
        return Err(ClientError::invalid("no endpoints given"));
    }
    Ok(endpoints)
}

/// `key` as one URL path segment. `.` and `..`, which URL normalisation
/// would remove, are encoded whole.
pub fn encode_key(key: &str) -> String {
    match key {
        "." => "%2E".to_owned(),
        ".." => "%2E%2E".to_owned(),
        _ => percent_encode(key.as_bytes(), UNRESERVED).to_string(),
    }
}

/// `value` as a query-string value.
pub(crate) fn encode_query_value(value: &str) -> String {
    percent_encode(value.as_bytes(), UNRESERVED).to_string()
}

/// Parses a path and query built by the client.
pub(crate) fn path_and_query(text: String) -> Result<PathAndQuery, ClientError> {
    PathAndQuery::try_from(text)
        .map_err(|error| ClientError::invalid(format!("request path: {error}")))
}

/// Where a `307` points: the endpoint to ask and what to ask it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Redirect {
    pub(crate) endpoint: Endpoint,
    pub(crate) path_and_query: PathAndQuery,
}

/// Resolves a `Location` header sent by `current`: an absolute
/// `http(s)://HOST:PORT/PATH?QUERY`, or a path on `current` itself. A
/// redirect from `https://` to `http://` is refused: it would send the
/// request, and any credentials, in the clear.
pub(crate) fn resolve_location(current: &Endpoint, location: &str) -> Result<Redirect, String> {
    let uri: Uri = location
        .parse()
        .map_err(|_| format!("redirect Location {location:?} is not a URL"))?;
    let endpoint = match (uri.scheme(), uri.authority()) {
        (None, None) => current.clone(),
        (Some(scheme), Some(authority)) if *scheme == Scheme::HTTPS => Endpoint {
            authority: authority.clone(),
            secure: true,
        },
        (Some(scheme), Some(_)) if *scheme == Scheme::HTTP && current.secure => {
            return Err(format!(
                "redirect Location {location:?} leaves TLS (from {current})"
            ));
        }
        (Some(scheme), Some(authority)) if *scheme == Scheme::HTTP => Endpoint {
            authority: authority.clone(),
            secure: false,
        },
        _ => {
            return Err(format!(
                "redirect Location {location:?} is not an http:// or https:// URL"
            ));
        }
    };
    let path_and_query = match uri.path_and_query() {
        Some(pq) if pq.path().starts_with('/') => pq.clone(),
        _ => {
            return Err(format!(
                "redirect Location {location:?} has no absolute path"
            ));
        }
    };
    Ok(Redirect {
        endpoint,
        path_and_query,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use percent_encoding::percent_decode_str;
    use proptest::prelude::*;

    use super::*;

    fn endpoint(text: &str) -> Endpoint {
        Endpoint::parse(text).expect("valid endpoint")
    }

    #[test]
    fn endpoints_parse_with_or_without_scheme_and_slash() {
        assert_eq!(
            endpoint("http://127.0.0.1:8001").to_string(),
            "http://127.0.0.1:8001"
        );
        assert_eq!(
            endpoint("http://127.0.0.1:8001/").to_string(),
            "http://127.0.0.1:8001"
        );
        assert_eq!(endpoint(" 127.0.0.1:8001 ").authority(), "127.0.0.1:8001");
        assert_eq!(endpoint("http://[::1]:9000").authority(), "[::1]:9000");
        let secure = endpoint("https://h:1/");
        assert!(secure.is_secure());
        assert_eq!(secure.to_string(), "https://h:1");
        let uri = secure
            .uri(&path_and_query("/v1/kv/a".into()).unwrap())
            .unwrap();
        assert_eq!(uri.to_string(), "https://h:1/v1/kv/a");
    }

    #[test]
    fn a_redirect_may_not_leave_tls() {
        let secure = endpoint("https://127.0.0.1:8001");
        let error = resolve_location(&secure, "http://127.0.0.1:8002/v1/kv/a").unwrap_err();
        assert!(error.contains("leaves TLS"), "{error}");
        let redirect = resolve_location(&secure, "https://127.0.0.1:8002/v1/kv/a").unwrap();
        assert_eq!(redirect.endpoint, endpoint("https://127.0.0.1:8002"));
        let relative = resolve_location(&secure, "/v1/kv/a").unwrap();
        assert!(relative.endpoint.is_secure());
    }

    #[test]
    fn endpoints_reject_what_the_client_cannot_speak() {
        for bad in [
            "ftp://h:1",
            "http://h:1/base",
            "http://u@h:1",
            "http://",
            "::",
        ] {
            assert!(
                matches!(Endpoint::parse(bad), Err(ClientError::InvalidInput { .. })),
                "{bad} should be rejected"
            );
        }
    }

    #[test]
    fn endpoint_lists_split_on_commas_and_skip_blanks() {
        let list = parse_endpoints("http://a:1, b:2,,").expect("valid list");
        let shown: Vec<String> = list.iter().map(ToString::to_string).collect();
        assert_eq!(shown, ["http://a:1", "http://b:2"]);
        assert!(parse_endpoints(" , ").is_err());
        assert_eq!(
            parse_endpoints(DEFAULT_ENDPOINTS).expect("default").len(),
            3
        );
    }

    #[test]
    fn keys_encode_to_one_segment() {
        assert_eq!(encode_key("plain-key_1.2~"), "plain-key_1.2~");
        assert_eq!(encode_key("a/b c"), "a%2Fb%20c");
        assert_eq!(encode_key("100%?#"), "100%25%3F%23");
        assert_eq!(encode_key("ü"), "%C3%BC");
        assert_eq!(encode_key("."), "%2E");
        assert_eq!(encode_key(".."), "%2E%2E");
        assert_eq!(encode_key("..."), "...");
    }

    proptest! {
        #[test]
        fn any_key_round_trips_through_a_uri(key in "\\PC*|[/ %?#.]{1,4}") {
            let pq = path_and_query(format!("/v1/kv/{}", encode_key(&key)))
                .expect("encoded keys make valid paths");
            let uri = endpoint("http://h:1").uri(&pq).expect("valid URI");
            let segment = uri.path().strip_prefix("/v1/kv/").expect("prefix kept");
            prop_assert!(!segment.contains('/'));
            let decoded = percent_decode_str(segment).decode_utf8().expect("UTF-8");
            prop_assert_eq!(decoded, key);
        }
    }

    #[test]
    fn absolute_locations_name_the_leader() {
        let current = endpoint("http://127.0.0.1:8001");
        let redirect =
            resolve_location(&current, "http://127.0.0.1:8002/v1/kv/a%2Fb?if_revision=3")
                .expect("valid location");
        assert_eq!(redirect.endpoint, endpoint("http://127.0.0.1:8002"));
        assert_eq!(
            redirect.path_and_query.as_str(),
            "/v1/kv/a%2Fb?if_revision=3"
        );
    }

    #[test]
    fn relative_locations_stay_on_the_same_endpoint() {
        let current = endpoint("http://127.0.0.1:8001");
        let redirect = resolve_location(&current, "/v1/kv/x").expect("valid location");
        assert_eq!(redirect.endpoint, current);
        assert_eq!(redirect.path_and_query.as_str(), "/v1/kv/x");
    }

    #[test]
    fn unusable_locations_are_reported() {
        let current = endpoint("http://127.0.0.1:8001");
        for bad in ["not a url", "h:1", "ftp://h:1/x"] {
            assert!(
                resolve_location(&current, bad).is_err(),
                "{bad} should be rejected"
            );
        }
    }
}
