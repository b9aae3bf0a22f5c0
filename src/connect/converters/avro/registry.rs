//! A blocking client of Confluent Schema Registry's REST API: register, look up, fetch by id, latest version.
//!
//! Blocking on purpose: converters are synchronous and run on their core's executor, and the converter calls
//! this only on a cache miss (once per schema, not per record). Every request has a bounded timeout; requests
//! that failed for a reason that may pass (connection refused, timeout, 5xx, 429) are retried with backoff,
//! trying each configured URL in turn. Holds no cache itself (the converter does) and never logs a credential.

use serde_json::Value as Json;
use std::time::Duration;

/// How long one HTTP request may take, connection included; a converter blocks its core for at most this
/// long per attempt.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);
/// Rounds over every URL before giving up on errors that may pass.
const ATTEMPTS: u32 = 3;
const FIRST_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(1);
/// Largest answer read from a registry (a schema and its JSON envelope).
const MAX_RESPONSE_BYTES: u64 = 8 << 20;
const CONTENT_TYPE: &str = "application/vnd.schemaregistry.v1+json";

/// What went wrong talking to a registry. Each names the registry URL; none holds a credential.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RegistryError {
    #[error("schema id {id} is not known to the schema registry at {url} (error 40403); was the record written against another registry?")]
    UnknownSchemaId { url: String, id: i32 },
    #[error("subject `{subject}` is not registered at {url} (error {code}): {message}; register the schema first or set auto.register.schemas=true")]
    NotRegistered {
        url: String,
        subject: String,
        code: i64,
        message: String,
    },
    #[error("the schema registry at {url} refused the schema for subject `{subject}` as incompatible (409): {message}; change the schema or the subject's compatibility level")]
    Incompatible {
        url: String,
        subject: String,
        message: String,
    },
    #[error("the schema registry at {url} answered {status} (unauthorized): {message}; check basic.auth.credentials.source and basic.auth.user.info")]
    Unauthorized {
        url: String,
        status: u16,
        message: String,
    },
    #[error("the schema registry at {url} cannot be reached: {cause}")]
    Unreachable { url: String, cause: String },
    #[error("the schema registry at {url} answered {status} (error {code}): {message}")]
    Http {
        url: String,
        status: u16,
        code: i64,
        message: String,
    },
    #[error("the schema registry at {url} sent an answer we cannot read: {reason}")]
    InvalidResponse { url: String, reason: String },
}

impl RegistryError {
    /// Whether trying again (or another URL) may succeed.
    pub fn may_pass(&self) -> bool {
        match self {
            RegistryError::Unreachable { .. } => true,
            RegistryError::Http { status, .. } => {
                *status >= 500 || *status == 429 || *status == 408
            }
            _ => false,
        }
    }
}

/// A registry's answer to a lookup or a version fetch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegisteredSchema {
    pub id: i32,
    pub version: Option<i32>,
    pub schema: Option<String>,
}

/// One registry endpoint: its URL for requests (without credentials) and its Basic credentials.
#[derive(Clone)]
struct Endpoint {
    base: String,
    authorization: Option<String>,
}

/// The client. Cheap to clone (the agent's connection pool is shared).
#[derive(Clone)]
pub struct RegistryClient {
    endpoints: Vec<Endpoint>,
    agent: ureq::Agent,
}

impl std::fmt::Debug for RegistryClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let urls: Vec<&str> = self.endpoints.iter().map(|e| e.base.as_str()).collect();
        f.debug_struct("RegistryClient")
            .field("urls", &urls)
            .finish_non_exhaustive()
    }
}

/// Where Basic credentials come from (`basic.auth.credentials.source`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credentials {
    None,
    /// `user:password` from `basic.auth.user.info`.
    UserInfo(String),
    /// The `user:password@` part of each URL.
    Url,
}

/// Splits `http://user:pw@host:port/path` into the URL without the user info and the user info.
pub fn split_user_info(url: &str) -> (String, Option<String>) {
    let Some((scheme, rest)) = url.split_once("://") else {
        return (url.to_owned(), None);
    };
    let authority_end = rest.find('/').unwrap_or(rest.len());
    match rest[..authority_end].rsplit_once('@') {
        Some((user_info, host)) => (
            format!("{scheme}://{host}{}", &rest[authority_end..]),
            Some(percent_decode(user_info)),
        ),
        None => (url.to_owned(), None),
    }
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let Ok(b) = u8::from_str_radix(&s[i + 1..i + 3], 16) {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Percent-encodes one path segment (a subject name).
fn path_segment(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn basic(user_info: &str) -> String {
    format!(
        "Basic {}",
        crate::connect::data::base64::encode(user_info.as_bytes())
    )
}

impl RegistryClient {
    pub fn new(urls: &[String], credentials: &Credentials) -> Self {
        let endpoints = urls
            .iter()
            .map(|url| {
                let (base, user_info) = split_user_info(url.trim_end_matches('/'));
                let authorization = match credentials {
                    Credentials::None => None,
                    Credentials::UserInfo(info) => Some(basic(info)),
                    Credentials::Url => user_info.as_deref().map(basic),
                };
                Endpoint {
                    base,
                    authorization,
                }
            })
            .collect();
        let config = ureq::Agent::config_builder()
            .timeout_global(Some(REQUEST_TIMEOUT))
            .http_status_as_error(false)
            .build();
        RegistryClient {
            endpoints,
            agent: ureq::Agent::new_with_config(config),
        }
    }

    /// The registry URLs (without credentials), for messages.
    pub fn urls(&self) -> String {
        let urls: Vec<&str> = self.endpoints.iter().map(|e| e.base.as_str()).collect();
        urls.join(",")
    }

    /// `GET /schemas/ids/{id}`: the schema text.
    pub fn schema_by_id(&self, id: i32) -> Result<String, RegistryError> {
        let path = format!("/schemas/ids/{id}");
        let (url, body) = self.request("GET", &path, None, |url, status, code, _| {
            (status == 404 && code == 40403).then(|| RegistryError::UnknownSchemaId {
                url: url.to_owned(),
                id,
            })
        })?;
        schema_field(&url, &body)
    }

    /// `POST /subjects/{subject}/versions`: registers the schema (or finds it already registered); its id.
    pub fn register(&self, subject: &str, schema: &str) -> Result<i32, RegistryError> {
        let path = format!("/subjects/{}/versions", path_segment(subject));
        let request = serde_json::json!({ "schema": schema }).to_string();
        let (url, body) =
            self.request("POST", &path, Some(&request), |url, status, _, message| {
                (status == 409).then(|| RegistryError::Incompatible {
                    url: url.to_owned(),
                    subject: subject.to_owned(),
                    message: message.to_owned(),
                })
            })?;
        id_field(&url, &body)
    }

    /// `POST /subjects/{subject}`: the id and version of a schema already registered under `subject`.
    pub fn lookup(&self, subject: &str, schema: &str) -> Result<RegisteredSchema, RegistryError> {
        let path = format!("/subjects/{}", path_segment(subject));
        let request = serde_json::json!({ "schema": schema }).to_string();
        let (url, body) = self.request(
            "POST",
            &path,
            Some(&request),
            |url, status, code, message| {
                (status == 404).then(|| RegistryError::NotRegistered {
                    url: url.to_owned(),
                    subject: subject.to_owned(),
                    code,
                    message: message.to_owned(),
                })
            },
        )?;
        registered(&url, &body)
    }

    /// `GET /subjects/{subject}/versions/latest`.
    pub fn latest(&self, subject: &str) -> Result<RegisteredSchema, RegistryError> {
        let path = format!("/subjects/{}/versions/latest", path_segment(subject));
        let (url, body) = self.request("GET", &path, None, |url, status, code, message| {
            (status == 404).then(|| RegistryError::NotRegistered {
                url: url.to_owned(),
                subject: subject.to_owned(),
                code,
                message: message.to_owned(),
            })
        })?;
        registered(&url, &body)
    }

    /// One request, retried over the URLs with backoff. `classify` turns an error answer the caller knows
    /// (404 of an id, 409) into its own error; the rest become `Http`/`Unauthorized`.
    fn request(
        &self,
        method: &str,
        path: &str,
        body: Option<&str>,
        classify: impl Fn(&str, u16, i64, &str) -> Option<RegistryError>,
    ) -> Result<(String, Json), RegistryError> {
        let mut backoff = FIRST_BACKOFF;
        let mut last = None;
        for attempt in 0..ATTEMPTS {
            if attempt > 0 {
                std::thread::sleep(backoff);
                backoff = (backoff * 2).min(MAX_BACKOFF);
            }
            for endpoint in &self.endpoints {
                match self.once(endpoint, method, path, body, &classify) {
                    Ok(json) => return Ok((endpoint.base.clone(), json)),
                    Err(e) if e.may_pass() => last = Some(e),
                    Err(e) => return Err(e),
                }
            }
        }
        Err(last.unwrap_or_else(|| RegistryError::Unreachable {
            url: String::new(),
            cause: "schema.registry.url lists no URL".into(),
        }))
    }

    fn once(
        &self,
        endpoint: &Endpoint,
        method: &str,
        path: &str,
        body: Option<&str>,
        classify: &impl Fn(&str, u16, i64, &str) -> Option<RegistryError>,
    ) -> Result<Json, RegistryError> {
        let url = &endpoint.base;
        let full = format!("{url}{path}");
        let unreachable = |e: ureq::Error| RegistryError::Unreachable {
            url: url.clone(),
            cause: e.to_string(),
        };
        let response = match (method, body) {
            ("POST", Some(body)) => {
                let mut request = self
                    .agent
                    .post(&full)
                    .header("Content-Type", CONTENT_TYPE)
                    .header("Accept", CONTENT_TYPE);
                if let Some(auth) = &endpoint.authorization {
                    request = request.header("Authorization", auth);
                }
                request.send(body.as_bytes())
            }
            _ => {
                let mut request = self.agent.get(&full).header("Accept", CONTENT_TYPE);
                if let Some(auth) = &endpoint.authorization {
                    request = request.header("Authorization", auth);
                }
                request.call()
            }
        };
        let mut response = response.map_err(unreachable)?;
        let status = response.status().as_u16();
        let text = response
            .body_mut()
            .with_config()
            .limit(MAX_RESPONSE_BYTES)
            .read_to_string()
            .map_err(unreachable)?;
        let json: Option<Json> = serde_json::from_str(&text).ok();
        if (200..300).contains(&status) {
            return json.ok_or_else(|| RegistryError::InvalidResponse {
                url: url.clone(),
                reason: format!("not JSON: {}", text.chars().take(200).collect::<String>()),
            });
        }
        let code = json
            .as_ref()
            .and_then(|j| j.get("error_code"))
            .and_then(Json::as_i64)
            .unwrap_or(i64::from(status));
        let message = json
            .as_ref()
            .and_then(|j| j.get("message"))
            .and_then(Json::as_str)
            .map(str::to_owned)
            .unwrap_or_else(|| text.chars().take(200).collect());
        if let Some(e) = classify(url, status, code, &message) {
            return Err(e);
        }
        if status == 401 || status == 403 {
            return Err(RegistryError::Unauthorized {
                url: url.clone(),
                status,
                message,
            });
        }
        Err(RegistryError::Http {
            url: url.clone(),
            status,
            code,
            message,
        })
    }
}

fn invalid(url: &str, reason: &str) -> RegistryError {
    RegistryError::InvalidResponse {
        url: url.to_owned(),
        reason: reason.to_owned(),
    }
}

fn schema_field(url: &str, body: &Json) -> Result<String, RegistryError> {
    if let Some(t) = body.get("schemaType").and_then(Json::as_str) {
        if !t.eq_ignore_ascii_case("AVRO") {
            return Err(invalid(url, &format!("the schema is {t}, not AVRO")));
        }
    }
    body.get("schema")
        .and_then(Json::as_str)
        .map(str::to_owned)
        .ok_or_else(|| invalid(url, "no `schema` string"))
}

fn id_field(url: &str, body: &Json) -> Result<i32, RegistryError> {
    body.get("id")
        .and_then(Json::as_i64)
        .and_then(|id| i32::try_from(id).ok())
        .ok_or_else(|| invalid(url, "no integer `id`"))
}

fn registered(url: &str, body: &Json) -> Result<RegisteredSchema, RegistryError> {
    Ok(RegisteredSchema {
        id: id_field(url, body)?,
        version: body
            .get("version")
            .and_then(Json::as_i64)
            .and_then(|v| i32::try_from(v).ok()),
        schema: body.get("schema").and_then(Json::as_str).map(str::to_owned),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_info_is_taken_out_of_the_url() {
        assert_eq!(
            split_user_info("http://fred:s%40cret@registry:8081/base"),
            (
                "http://registry:8081/base".to_owned(),
                Some("fred:s@cret".to_owned())
            )
        );
        assert_eq!(
            split_user_info("http://registry:8081"),
            ("http://registry:8081".to_owned(), None)
        );
    }

    #[test]
    fn subjects_are_percent_encoded_in_paths() {
        assert_eq!(path_segment("orders-value"), "orders-value");
        assert_eq!(path_segment("a/b c"), "a%2Fb%20c");
    }

    #[test]
    fn an_unreachable_registry_is_named_in_the_error() {
        // Port 9 on localhost: nothing listens, the connection is refused at once.
        let client = RegistryClient::new(&["http://127.0.0.1:9".to_owned()], &Credentials::None);
        let err = client.schema_by_id(1).unwrap_err();
        assert!(matches!(err, RegistryError::Unreachable { .. }), "{err}");
        assert!(err.to_string().contains("http://127.0.0.1:9"), "{err}");
    }
}
