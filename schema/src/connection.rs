//! Connecting to ClickHouse: the client, the server-version tier, the healthcheck.
//!
//! Owns: building a [`clickhouse::Client`] from a validated config (password from an env var or a
//! file, never argv), [`Tier`] and its choice from `SELECT version()`, and the error classification
//! the writer's retry logic uses ([`classify`]). Must never: hold a connection open by itself or
//! retry; that is the writer's job.
//!
//! Facts about the oldest supported server (18.16) that shape every call here: clients are built with
//! `with_validation(false)` (no `RowBinaryWithNamesAndTypes` there, and validation sends a setting
//! it does not know), and queries bind values with `?`, never `{x:T}` server-side parameters.

use std::fmt;

use clickhouse::Client;

use crate::config::{PasswordSource, ValidatedClickhouseConfig};

/// Which dialect of DDL the server gets.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Tier {
    /// Servers older than 22: FixedString(16) addresses, String, no TTL/codecs/skip indexes.
    Legacy,
    /// 22 and later: IPv6, LowCardinality, TTL with `ttl_only_drop_parts`, codecs, skip indexes,
    /// insert deduplication tokens.
    Modern,
}

impl Tier {
    /// The tier for a `version()` string such as `18.16.1` or `24.8.4.13`.
    pub fn from_version(version: &str) -> Result<Tier, ConnectError> {
        let major: u32 = version
            .trim()
            .split('.')
            .next()
            .and_then(|m| m.parse().ok())
            .ok_or_else(|| ConnectError::BadVersion(version.trim().to_string()))?;
        Ok(if major >= 22 {
            Tier::Modern
        } else {
            Tier::Legacy
        })
    }

    /// Lower-case name (`legacy`, `modern`).
    pub fn as_str(self) -> &'static str {
        match self {
            Tier::Legacy => "legacy",
            Tier::Modern => "modern",
        }
    }
}

impl fmt::Display for Tier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Failure to connect or to identify the server.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    /// Reading the password failed.
    #[error("clickhouse password: {0}")]
    Password(String),
    /// The server did not answer the healthcheck.
    #[error("clickhouse healthcheck at {url} failed: {source}")]
    Unreachable {
        /// URL tried.
        url: String,
        /// Client error.
        #[source]
        source: clickhouse::error::Error,
    },
    /// `version()` returned something unexpected.
    #[error("clickhouse version() returned {0:?}, not MAJOR.MINOR...")]
    BadVersion(String),
}

/// Read the password from where the config says. I/O: environment or file.
pub fn read_password(src: &PasswordSource) -> Result<Option<String>, ConnectError> {
    match src {
        PasswordSource::None => Ok(None),
        PasswordSource::Env(name) => std::env::var(name)
            .map(Some)
            .map_err(|_| ConnectError::Password(format!("environment variable {name} is not set"))),
        PasswordSource::File(path) => std::fs::read_to_string(path)
            .map(|s| Some(s.trim_end_matches(['\n', '\r']).to_string()))
            .map_err(|e| ConnectError::Password(format!("{}: {e}", path.display()))),
    }
}

/// A client for the configured server WITHOUT a database set (for `CREATE DATABASE`).
pub fn server_client(cfg: &ValidatedClickhouseConfig) -> Result<Client, ConnectError> {
    let mut c = Client::default()
        .with_url(cfg.url.clone())
        .with_user(cfg.user.clone())
        .with_validation(false)
        .with_compression(clickhouse::Compression::Lz4);
    if let Some(p) = read_password(&cfg.password)? {
        c = c.with_password(p);
    }
    Ok(c)
}

/// A client for the configured database.
pub fn build_client(cfg: &ValidatedClickhouseConfig) -> Result<Client, ConnectError> {
    Ok(server_client(cfg)?.with_database(cfg.database.clone()))
}

/// The healthcheck: `SELECT version()`, and the tier it implies.
pub async fn healthcheck(client: &Client) -> Result<(String, Tier), ConnectError> {
    let version: String = client
        .query("SELECT version()")
        .fetch_one()
        .await
        .map_err(|source| ConnectError::Unreachable {
            url: "(configured url)".into(),
            source,
        })?;
    let tier = Tier::from_version(&version)?;
    Ok((version, tier))
}

/// Whether a failed request can succeed if tried again.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Retry {
    /// Network trouble, a timeout, a 5xx without a known permanent code, "too many parts" (252),
    /// memory limits...: try again later.
    Later,
    /// The server will reject this request every time (syntax, types, unknown table or column...).
    Never,
}

/// ClickHouse exception codes that no retry can fix.
const PERMANENT_CODES: &[u32] = &[
    16,  // NO_SUCH_COLUMN_IN_TABLE
    27,  // CANNOT_PARSE_INPUT_ASSERTION_FAILED
    33,  // CANNOT_READ_ALL_DATA
    36,  // BAD_ARGUMENTS
    41,  // CANNOT_PARSE_DATETIME
    42,  // NUMBER_OF_ARGUMENTS_DOESNT_MATCH
    43,  // ILLEGAL_TYPE_OF_ARGUMENT
    44,  // ILLEGAL_COLUMN
    46,  // UNKNOWN_FUNCTION
    47,  // UNKNOWN_IDENTIFIER
    53,  // TYPE_MISMATCH
    60,  // UNKNOWN_TABLE
    62,  // SYNTAX_ERROR
    73,  // UNKNOWN_FORMAT
    81,  // UNKNOWN_DATABASE
    115, // UNKNOWN_SETTING
    117, // INCORRECT_DATA
    192, // UNKNOWN_USER
    193, // WRONG_PASSWORD
    194, // REQUIRED_PASSWORD
    195, // IP_ADDRESS_NOT_ALLOWED
    164, // READONLY
    497, // ACCESS_DENIED
    516, // AUTHENTICATION_FAILED
];

/// The ClickHouse exception code in an error message (`Code: 62. DB::Exception: ...`).
pub fn exception_code(msg: &str) -> Option<u32> {
    let at = msg.find("Code: ")?;
    let digits: String = msg[at + 6..]
        .chars()
        .take_while(|c| c.is_ascii_digit())
        .collect();
    digits.parse().ok()
}

/// Classify a client error for the retry logic.
pub fn classify(err: &clickhouse::error::Error) -> Retry {
    use clickhouse::error::Error as E;
    match err {
        E::Network(_) | E::TimedOut => Retry::Later,
        E::BadResponse(msg) => match exception_code(msg) {
            Some(code) if PERMANENT_CODES.contains(&code) => Retry::Never,
            _ => Retry::Later,
        },
        // Client-side encoding or parameter errors repeat identically.
        E::InvalidParams(_)
        | E::Compression(_)
        | E::Custom(_)
        | E::SchemaMismatch(_)
        | E::Unsupported(_) => Retry::Never,
        _ => Retry::Later,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn picks_tier_from_major_version() {
        assert_eq!(Tier::from_version("18.16.1").unwrap(), Tier::Legacy);
        assert_eq!(Tier::from_version("21.12.4.1").unwrap(), Tier::Legacy);
        assert_eq!(Tier::from_version("22.3.1").unwrap(), Tier::Modern);
        assert_eq!(Tier::from_version("26.9.2.1\n").unwrap(), Tier::Modern);
        assert!(Tier::from_version("banana").is_err());
    }

    #[test]
    fn permanent_codes_are_never_retried_and_too_many_parts_is() {
        let e = |m: &str| clickhouse::error::Error::BadResponse(m.to_string());
        assert_eq!(
            classify(&e("Code: 62. DB::Exception: Syntax error")),
            Retry::Never
        );
        assert_eq!(
            classify(&e("Code: 60. DB::Exception: Table x doesn't exist")),
            Retry::Never
        );
        assert_eq!(
            classify(&e(
                "Code: 53, e.displayText() = DB::Exception: Type mismatch"
            )),
            Retry::Never
        );
        assert_eq!(classify(&e("Code: 16. No such column")), Retry::Never);
        assert_eq!(
            classify(&e("Code: 252. DB::Exception: Too many parts")),
            Retry::Later
        );
        assert_eq!(classify(&e("502 Bad Gateway")), Retry::Later);
        assert_eq!(classify(&clickhouse::error::Error::TimedOut), Retry::Later);
    }

    #[tokio::test]
    async fn https_urls_reach_the_network_layer() {
        // A closed local port: the TLS-capable connector must try to connect (network error), not
        // reject the scheme as unsupported.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let c = Client::default()
            .with_url(format!("https://127.0.0.1:{port}"))
            .with_validation(false);
        match healthcheck(&c).await {
            Err(ConnectError::Unreachable { source, .. }) => {
                assert!(
                    matches!(source, clickhouse::error::Error::Network(_)),
                    "{source:?}"
                );
                assert_eq!(classify(&source), Retry::Later);
            }
            other => panic!("expected a network error, got {other:?}"),
        }
    }

    #[test]
    fn password_comes_from_env_or_file() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("pw");
        std::fs::write(&f, "s3cret\n").unwrap();
        assert_eq!(
            read_password(&PasswordSource::File(f)).unwrap().as_deref(),
            Some("s3cret")
        );
        assert!(read_password(&PasswordSource::Env("SLUICE_SURELY_UNSET_VAR_X".into())).is_err());
    }
}
