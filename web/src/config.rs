//! The `[web]` section: where the API and console listen, and who may use them.
//!
//! Owns: the serde shape, its validation without I/O (a non-loopback address needs `[web.auth]`),
//! and [`Auth::load`], which reads the secret from the environment or a file when the server
//! starts. Must never: read the environment or files while validating.

use std::net::SocketAddr;
use std::path::PathBuf;

use serde::Deserialize;

/// `[web]`: the JSON API under `/api/v1` and the console. Served by `sluice run` when the section
/// is present, and by `sluice web`.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WebConfig {
    /// Address and port. Anything but a loopback address requires `[web.auth]`.
    #[serde(default = "default_listen")]
    pub listen: String,
    /// Who may use the API and console; required unless `listen` is a loopback address.
    #[serde(default)]
    pub auth: Option<AuthConfig>,
    /// Keys per dimension in each window the live feed (`/api/v1/live`) sends (1-100).
    #[serde(default = "default_live_top")]
    pub live_top: usize,
    /// Longest a ClickHouse query of the API may run, seconds (1-300); the server stops it after.
    #[serde(default = "default_query_timeout_secs")]
    pub query_timeout_secs: u64,
}

fn default_listen() -> String {
    "127.0.0.1:8080".into()
}
fn default_live_top() -> usize {
    10
}
fn default_query_timeout_secs() -> u64 {
    30
}

impl Default for WebConfig {
    fn default() -> Self {
        WebConfig {
            listen: default_listen(),
            auth: None,
            live_top: default_live_top(),
            query_timeout_secs: default_query_timeout_secs(),
        }
    }
}

/// `[web.auth]`: a bearer token, or HTTP basic auth with an argon2 password hash (PHC string, as
/// `sluice web hash-password` prints it). Secrets come from the environment or a file, never
/// from the config itself.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AuthConfig {
    /// `bearer` (header `Authorization: Bearer TOKEN`) or `basic`.
    pub kind: AuthKind,
    /// Basic auth: the user name.
    #[serde(default)]
    pub user: Option<String>,
    /// Environment variable holding the token (bearer) or the password hash (basic).
    #[serde(default)]
    pub secret_env: Option<String>,
    /// File holding the token or the password hash (surrounding white space is ignored).
    #[serde(default)]
    pub secret_file: Option<PathBuf>,
}

/// The kinds of `[web.auth]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum AuthKind {
    /// A bearer token.
    Bearer,
    /// HTTP basic auth against an argon2 hash.
    Basic,
}

/// A checked `[web]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ValidatedWebConfig {
    /// Where to listen.
    pub listen: SocketAddr,
    /// Auth, when configured.
    pub auth: Option<AuthConfig>,
    /// Keys per dimension in live windows.
    pub live_top: usize,
    /// Query time limit, seconds.
    pub query_timeout_secs: u64,
}

/// A `[web]` that cannot be used.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("web.{field}: {reason}")]
pub struct WebConfigError {
    /// The field.
    pub field: &'static str,
    /// Why.
    pub reason: String,
}

fn bad(field: &'static str, reason: impl Into<String>) -> WebConfigError {
    WebConfigError {
        field,
        reason: reason.into(),
    }
}

impl WebConfig {
    /// Check the section (no I/O).
    pub fn validate(&self) -> Result<ValidatedWebConfig, WebConfigError> {
        let listen: SocketAddr = self
            .listen
            .parse()
            .map_err(|_| bad("listen", format!("{:?} is not ADDRESS:PORT", self.listen)))?;
        if let Some(a) = &self.auth {
            match (a.secret_env.is_some(), a.secret_file.is_some()) {
                (false, false) => {
                    return Err(bad("auth", "set secret_env or secret_file"));
                }
                (true, true) => {
                    return Err(bad("auth", "set secret_env or secret_file, not both"));
                }
                _ => {}
            }
            match a.kind {
                AuthKind::Basic if a.user.as_deref().is_none_or(str::is_empty) => {
                    return Err(bad("auth.user", "basic auth needs a user"));
                }
                AuthKind::Bearer if a.user.is_some() => {
                    return Err(bad("auth.user", "only basic auth has a user"));
                }
                _ => {}
            }
        } else if !listen.ip().is_loopback() {
            return Err(bad(
                "listen",
                format!(
                    "{listen} is not a loopback address: set [web.auth] (a bearer token or basic \
                     auth) to serve beyond this machine"
                ),
            ));
        }
        if !(1..=100).contains(&self.live_top) {
            return Err(bad("live_top", "must be in 1..=100"));
        }
        if !(1..=300).contains(&self.query_timeout_secs) {
            return Err(bad("query_timeout_secs", "must be in 1..=300"));
        }
        Ok(ValidatedWebConfig {
            listen,
            auth: self.auth.clone(),
            live_top: self.live_top,
            query_timeout_secs: self.query_timeout_secs,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn beyond_loopback_needs_auth() {
        let mut c = WebConfig {
            listen: "0.0.0.0:8080".into(),
            ..WebConfig::default()
        };
        let e = c.validate().unwrap_err();
        assert_eq!(e.field, "listen");
        assert!(e.reason.contains("[web.auth]"), "{e}");
        c.auth = Some(AuthConfig {
            kind: AuthKind::Bearer,
            user: None,
            secret_env: Some("SLUICE_WEB_TOKEN".into()),
            secret_file: None,
        });
        assert!(c.validate().is_ok());
        c.auth.as_mut().unwrap().secret_env = None;
        assert_eq!(c.validate().unwrap_err().field, "auth");
        assert!(WebConfig::default().validate().is_ok());
        let v6 = WebConfig {
            listen: "[::1]:8080".into(),
            ..WebConfig::default()
        };
        assert!(v6.validate().is_ok());
        let junk = WebConfig {
            listen: "localhost:80; rm -rf /".into(),
            ..WebConfig::default()
        };
        assert_eq!(junk.validate().unwrap_err().field, "listen");
    }

    #[test]
    fn basic_auth_needs_a_user() {
        let c = WebConfig {
            auth: Some(AuthConfig {
                kind: AuthKind::Basic,
                user: None,
                secret_env: None,
                secret_file: Some("/etc/sluice/web.hash".into()),
            }),
            ..WebConfig::default()
        };
        assert_eq!(c.validate().unwrap_err().field, "auth.user");
    }
}
