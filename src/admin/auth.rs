//! Who may call the REST API: HTTP basic auth against the worker's credentials file (Kafka Connect's
//! BasicAuthSecurityRestExtension) and/or a bearer token, checked before any handler runs or any body is read.
//!
//! A request without acceptable credentials gets 401 with a `WWW-Authenticate` challenge for each scheme that
//! is on, and Kafka Connect's message in our usual error body. Must not: log a password or a token, or say
//! whether the user name or the password was wrong.

use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::Engine as _;

use super::error::RestError;
use crate::config::rest_server::RestAuth;

/// The realm the challenges name.
pub const REALM: &str = "pipewright";
/// What Kafka Connect's JaasBasicAuthFilter answers a request it refuses.
pub const REFUSED_MESSAGE: &str = "User cannot access the resource.";

/// Whether `authorization` (the header's value) carries credentials `auth` accepts.
pub fn accepts(auth: &RestAuth, authorization: Option<&[u8]>) -> bool {
    let Some(value) = authorization.and_then(|v| std::str::from_utf8(v).ok()) else {
        return false;
    };
    let Some((scheme, credentials)) = value.trim().split_once(' ') else {
        return false;
    };
    let credentials = credentials.trim();
    if scheme.eq_ignore_ascii_case("basic") {
        let Some(users) = &auth.basic else {
            return false;
        };
        let Ok(decoded) = base64::engine::general_purpose::STANDARD.decode(credentials) else {
            return false;
        };
        let Ok(decoded) = String::from_utf8(decoded) else {
            return false;
        };
        match decoded.split_once(':') {
            Some((user, password)) if !user.is_empty() => users.accepts(user, password),
            _ => false,
        }
    } else if scheme.eq_ignore_ascii_case("bearer") {
        auth.bearer
            .as_ref()
            .is_some_and(|token| token.accepts(credentials))
    } else {
        false
    }
}

/// The middleware: lets a request with acceptable credentials through, answers 401 to the others.
pub async fn require_credentials(
    State(auth): State<RestAuth>,
    request: Request,
    next: Next,
) -> Response {
    let authorization = request
        .headers()
        .get(header::AUTHORIZATION)
        .map(HeaderValue::as_bytes);
    if accepts(&auth, authorization) {
        return next.run(request).await;
    }
    tracing::debug!(
        method = %request.method(),
        path = request.uri().path(),
        credentials = authorization.is_some(),
        "REST request refused: no acceptable credentials"
    );
    refused(&auth)
}

fn refused(auth: &RestAuth) -> Response {
    let mut response = RestError::new(StatusCode::UNAUTHORIZED, REFUSED_MESSAGE).into_response();
    let headers = response.headers_mut();
    for (on, scheme) in [
        (auth.basic.is_some(), "Basic"),
        (auth.bearer.is_some(), "Bearer"),
    ] {
        if on {
            let challenge = format!("{scheme} realm=\"{REALM}\"");
            if let Ok(value) = HeaderValue::from_str(&challenge) {
                headers.append(header::WWW_AUTHENTICATE, value);
            }
        }
    }
    response
}
