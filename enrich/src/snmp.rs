//! The SNMP interface poller: name, description and speed per (exporter, ifIndex), read from the
//! exporters' own agents.
//!
//! Owns: the `[enrich.snmp]` section ([`SnmpConfig`], checked by [`SnmpConfig::validate`] into a
//! [`ValidatedSnmpConfig`], which picks the [`Credentials`] of an exporter: the most specific
//! `communities` or `v3` prefix that holds it, else the top-level `community`); one poll of one
//! exporter ([`poll_exporter`]); the cache file ([`SnmpCache`]); and the [`Poller`] task that polls
//! the exporters the collector sees and hands what it learns to a callback.
//!
//! A poll walks three IF-MIB columns (RFC 2863) with GETBULK (RFC 3416 §4.2.3): ifName
//! (1.3.6.1.2.1.31.1.1.1.1), ifAlias (…1.18) and ifHighSpeed (…1.15, Mbit/s). An agent without
//! ifXTable (the ifName or ifHighSpeed column comes back empty) is walked for ifDescr
//! (1.3.6.1.2.1.2.2.1.2) as the name and ifSpeed (…2.2.1.5, bit/s, rounded to Mbit/s) instead.
//! An ifSpeed of 4294967295 means "faster than that" and a speed of 0 "no speed": both give no
//! speed. Empty strings give no name or description. SNMPv2c sends a community; SNMPv3 uses USM
//! (RFC 3414) with MD5, SHA-1 or SHA-2 authentication (RFC 7860) and DES or AES privacy
//! (RFC 3826; AES-192/256 with the Blumenthal key extension, as net-snmp does by default).
//! Each request is tried `1 + retries` times, each try bounded by `timeout_ms`.
//!
//! The client is the `snmp2` crate: async over tokio, and SNMPv3 with authentication and privacy
//! in pure Rust. `csnmp`, also async, speaks only community-based SNMP (v1/v2c).
//!
//! The cache file is JSON, written whole to `PATH.tmp`, synced and renamed over `PATH`, so a crash
//! leaves the old file or the new one:
//! `{"version":1,"exporters":{"192.0.2.1":{"polled_at":1767225600,"interfaces":[{"if_index":1,
//! "name":"Gi0/0/0","description":"transit: ISP-A","speed_mbps":1000}]}}}` (`polled_at` in Unix
//! seconds). A missing file is an empty cache; an unreadable or corrupt one is logged and ignored.
//!
//! Must never: hold back or drop a flow (the poller is off the flow path: it only calls
//! `on_result`, and a flow whose interface nobody has polled goes on without metadata); panic on
//! any agent reply (every value is matched on its type, every OID is checked to stay in its column
//! and increase, and a walk stops after [`MAX_WALK_VARBINDS`]); retry without bound; stop polling
//! because one exporter fails (a failure is logged, counted per exporter and kind, and the cached
//! interfaces stay); make a missing or corrupt cache fatal; do I/O in `validate`; read the clock
//! outside [`Poller::run`]; print a password (the credentials' `Debug` hides them).

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::fmt;
use std::io::Write;
use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use snmp2::v3::{Auth, AuthProtocol, Cipher, KeyExtension, Security};
use snmp2::{AsyncSession, Oid, Value};
use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::config::ConfigError;
use crate::networks::Cidr;

// ---------------------------------------------------------------------------------------------
// Config

fn default_interval_secs() -> u64 {
    600
}
fn default_timeout_ms() -> u64 {
    1000
}
fn default_retries() -> u32 {
    1
}
fn default_port() -> u16 {
    161
}
fn default_community() -> String {
    "public".to_string()
}
fn default_security_level() -> SnmpSecurityLevel {
    SnmpSecurityLevel::AuthPriv
}

/// The `[enrich.snmp]` section: poll the exporters' SNMP agents for their interfaces.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SnmpConfig {
    /// Seconds between two polls of one exporter (also after a failed poll). At least 1.
    #[serde(default = "default_interval_secs")]
    pub interval_secs: u64,
    /// How long one request waits for its answer, in milliseconds (1 to 60000).
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u64,
    /// How many times a request that got no answer is sent again (0 to 10).
    #[serde(default = "default_retries")]
    pub retries: u32,
    /// The agents' UDP port.
    #[serde(default = "default_port")]
    pub port: u16,
    /// The cache file (JSON), read at start and rewritten after polls, so interface names are
    /// known right after a restart. Unset: no cache.
    #[serde(default)]
    pub cache: Option<PathBuf>,
    /// The SNMPv2c community for exporters that no `communities` or `v3` entry covers.
    #[serde(default = "default_community")]
    pub community: String,
    /// SNMPv2c communities by exporter prefix; the most specific prefix holding the exporter wins
    /// (over `v3` entries too).
    #[serde(default)]
    pub communities: Vec<SnmpCommunityConfig>,
    /// SNMPv3 users by exporter prefix; the most specific prefix holding the exporter wins (over
    /// `communities` entries too).
    #[serde(default)]
    pub v3: Vec<SnmpV3Config>,
}

impl Default for SnmpConfig {
    fn default() -> Self {
        SnmpConfig {
            interval_secs: default_interval_secs(),
            timeout_ms: default_timeout_ms(),
            retries: default_retries(),
            port: default_port(),
            cache: None,
            community: default_community(),
            communities: Vec::new(),
            v3: Vec::new(),
        }
    }
}

/// One `[[enrich.snmp.communities]]` entry.
#[derive(Clone, PartialEq, Eq, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SnmpCommunityConfig {
    /// The exporters this entry covers: a prefix (`192.0.2.0/24`) or one address.
    pub exporter: String,
    /// The SNMPv2c community.
    pub community: String,
}

impl fmt::Debug for SnmpCommunityConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SnmpCommunityConfig")
            .field("exporter", &self.exporter)
            .field("community", &"<hidden>")
            .finish()
    }
}

/// One `[[enrich.snmp.v3]]` entry: an SNMPv3 (USM) user for the exporters of a prefix.
#[derive(Clone, PartialEq, Eq, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SnmpV3Config {
    /// The exporters this entry covers: a prefix (`192.0.2.0/24`) or one address.
    pub exporter: String,
    /// The USM user name (1 to 32 bytes).
    pub user: String,
    /// `no-auth-no-priv`, `auth-no-priv` or `auth-priv` (also spelt `noAuthNoPriv`,
    /// `authNoPriv`, `authPriv`). Default `auth-priv`.
    #[serde(default = "default_security_level")]
    pub security_level: SnmpSecurityLevel,
    /// Authentication: `md5`, `sha` (SHA-1), `sha224`, `sha256`, `sha384` or `sha512`. Required
    /// with `auth-no-priv` and `auth-priv`.
    #[serde(default)]
    pub auth_protocol: Option<SnmpAuthProtocol>,
    /// The authentication passphrase (at least 8 characters).
    #[serde(default)]
    pub auth_password: Option<String>,
    /// Privacy: `des`, `aes` (AES-128), `aes192` or `aes256`. Required with `auth-priv`.
    #[serde(default)]
    pub privacy_protocol: Option<SnmpPrivacyProtocol>,
    /// The privacy passphrase (at least 8 characters).
    #[serde(default)]
    pub privacy_password: Option<String>,
}

impl fmt::Debug for SnmpV3Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SnmpV3Config")
            .field("exporter", &self.exporter)
            .field("user", &self.user)
            .field("security_level", &self.security_level)
            .field("auth_protocol", &self.auth_protocol)
            .field(
                "auth_password",
                &self.auth_password.as_ref().map(|_| "<hidden>"),
            )
            .field("privacy_protocol", &self.privacy_protocol)
            .field(
                "privacy_password",
                &self.privacy_password.as_ref().map(|_| "<hidden>"),
            )
            .finish()
    }
}

/// SNMPv3 security level (RFC 3411 §3.4.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum SnmpSecurityLevel {
    /// Neither authentication nor privacy.
    #[serde(alias = "noAuthNoPriv")]
    NoAuthNoPriv,
    /// Authentication, no privacy.
    #[serde(alias = "authNoPriv")]
    AuthNoPriv,
    /// Authentication and privacy.
    #[serde(alias = "authPriv")]
    AuthPriv,
}

impl SnmpSecurityLevel {
    /// The config spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            SnmpSecurityLevel::NoAuthNoPriv => "no-auth-no-priv",
            SnmpSecurityLevel::AuthNoPriv => "auth-no-priv",
            SnmpSecurityLevel::AuthPriv => "auth-priv",
        }
    }
}

/// SNMPv3 authentication protocol.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum SnmpAuthProtocol {
    /// HMAC-MD5-96 (RFC 3414).
    Md5,
    /// HMAC-SHA-96 (RFC 3414).
    #[serde(alias = "sha1")]
    Sha,
    /// HMAC-SHA-224 (RFC 7860).
    Sha224,
    /// HMAC-SHA-256 (RFC 7860).
    Sha256,
    /// HMAC-SHA-384 (RFC 7860).
    Sha384,
    /// HMAC-SHA-512 (RFC 7860).
    Sha512,
}

impl SnmpAuthProtocol {
    fn to_snmp2(self) -> AuthProtocol {
        match self {
            SnmpAuthProtocol::Md5 => AuthProtocol::Md5,
            SnmpAuthProtocol::Sha => AuthProtocol::Sha1,
            SnmpAuthProtocol::Sha224 => AuthProtocol::Sha224,
            SnmpAuthProtocol::Sha256 => AuthProtocol::Sha256,
            SnmpAuthProtocol::Sha384 => AuthProtocol::Sha384,
            SnmpAuthProtocol::Sha512 => AuthProtocol::Sha512,
        }
    }
}

/// SNMPv3 privacy protocol.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum SnmpPrivacyProtocol {
    /// CBC-DES (RFC 3414).
    Des,
    /// CFB128-AES-128 (RFC 3826).
    #[serde(alias = "aes128")]
    Aes,
    /// CFB128-AES-192, Blumenthal key extension.
    Aes192,
    /// CFB128-AES-256, Blumenthal key extension.
    Aes256,
}

impl SnmpPrivacyProtocol {
    fn to_snmp2(self) -> Cipher {
        match self {
            SnmpPrivacyProtocol::Des => Cipher::Des,
            SnmpPrivacyProtocol::Aes => Cipher::Aes128,
            SnmpPrivacyProtocol::Aes192 => Cipher::Aes192,
            SnmpPrivacyProtocol::Aes256 => Cipher::Aes256,
        }
    }
}

/// How to talk to one exporter's agent.
#[derive(Clone, PartialEq, Eq)]
pub enum Credentials {
    /// SNMPv2c with this community.
    V2c {
        /// The community.
        community: String,
    },
    /// SNMPv3 (USM).
    V3(V3Credentials),
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Credentials::V2c { .. } => f.write_str("V2c { community: <hidden> }"),
            Credentials::V3(c) => f.debug_tuple("V3").field(c).finish(),
        }
    }
}

/// A checked SNMPv3 user: the protocols and passphrases its security level needs, and no others.
#[derive(Clone, PartialEq, Eq)]
pub struct V3Credentials {
    /// The user name.
    pub user: String,
    /// The security level.
    pub level: SnmpSecurityLevel,
    /// Authentication protocol and passphrase (with `auth-no-priv` and `auth-priv`).
    pub auth: Option<(SnmpAuthProtocol, String)>,
    /// Privacy protocol and passphrase (with `auth-priv`).
    pub privacy: Option<(SnmpPrivacyProtocol, String)>,
}

impl fmt::Debug for V3Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("V3Credentials")
            .field("user", &self.user)
            .field("level", &self.level)
            .field("auth", &self.auth.as_ref().map(|(p, _)| p))
            .field("privacy", &self.privacy.as_ref().map(|(p, _)| p))
            .finish()
    }
}

impl V3Credentials {
    fn security(&self) -> Security {
        let auth_password = self.auth.as_ref().map_or(&[][..], |(_, p)| p.as_bytes());
        let mut s = Security::new(self.user.as_bytes(), auth_password);
        if let Some((proto, _)) = &self.auth {
            s = s.with_auth_protocol(proto.to_snmp2());
        }
        let auth = match (&self.level, &self.privacy) {
            (SnmpSecurityLevel::NoAuthNoPriv, _) => Auth::NoAuthNoPriv,
            (SnmpSecurityLevel::AuthPriv, Some((cipher, password))) => {
                if matches!(
                    cipher,
                    SnmpPrivacyProtocol::Aes192 | SnmpPrivacyProtocol::Aes256
                ) {
                    s = s.with_key_extension_method(KeyExtension::Blumenthal);
                }
                Auth::AuthPriv {
                    cipher: cipher.to_snmp2(),
                    privacy_password: password.as_bytes().to_vec(),
                }
            }
            _ => Auth::AuthNoPriv,
        };
        s.with_auth(auth)
    }
}

/// An [`SnmpConfig`] whose values were checked; [`ValidatedSnmpConfig::credentials`] picks an
/// exporter's credentials.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ValidatedSnmpConfig {
    /// Time between two polls of one exporter.
    pub interval: Duration,
    /// How long one try of a request waits.
    pub timeout: Duration,
    /// Extra tries of a request that got no answer.
    pub retries: u32,
    /// The agents' UDP port.
    pub port: u16,
    /// The cache file, if any.
    pub cache: Option<PathBuf>,
    default: Credentials,
    /// Prefixes and their credentials, most specific first.
    by_prefix: Vec<(Cidr, Credentials)>,
}

impl ValidatedSnmpConfig {
    /// The credentials for `exporter`: those of the most specific prefix that holds it, else the
    /// top-level community.
    pub fn credentials(&self, exporter: IpAddr) -> &Credentials {
        let stored = stored(exporter);
        self.by_prefix
            .iter()
            .find(|(c, _)| c.contains(stored))
            .map_or(&self.default, |(_, cr)| cr)
    }
}

/// The IPv4-mapped form of an IPv4 address; IPv6 as is.
fn stored(ip: IpAddr) -> Ipv6Addr {
    match ip {
        IpAddr::V4(a) => a.to_ipv6_mapped(),
        IpAddr::V6(a) => a,
    }
}

fn invalid(key: impl Into<String>, reason: impl Into<String>) -> ConfigError {
    ConfigError {
        key: key.into(),
        reason: reason.into(),
    }
}

fn passphrase(key: &str, v: &Option<String>, what: &str) -> Result<String, ConfigError> {
    match v {
        None => Err(invalid(key, format!("is missing: {what} needs it"))),
        Some(p) if p.chars().count() < 8 => Err(invalid(
            key,
            "is shorter than 8 characters (RFC 3414 agents refuse such passphrases)",
        )),
        Some(p) => Ok(p.clone()),
    }
}

impl SnmpConfig {
    /// Checks every value; error keys start with `enrich.snmp`. Does no I/O.
    pub fn validate(&self) -> Result<ValidatedSnmpConfig, ConfigError> {
        const K: &str = "enrich.snmp";
        if self.interval_secs == 0 {
            return Err(invalid(format!("{K}.interval_secs"), "must be at least 1"));
        }
        if !(1..=60_000).contains(&self.timeout_ms) {
            return Err(invalid(
                format!("{K}.timeout_ms"),
                format!("{} is not between 1 and 60000", self.timeout_ms),
            ));
        }
        if self.retries > 10 {
            return Err(invalid(
                format!("{K}.retries"),
                format!("{} is more than 10", self.retries),
            ));
        }
        if self.port == 0 {
            return Err(invalid(format!("{K}.port"), "must not be 0"));
        }
        if self
            .cache
            .as_ref()
            .is_some_and(|p| p.as_os_str().is_empty())
        {
            return Err(invalid(
                format!("{K}.cache"),
                "is empty (leave it out to keep no cache)",
            ));
        }
        if self.community.is_empty() {
            return Err(invalid(format!("{K}.community"), "is empty"));
        }
        let mut by_prefix: Vec<(Cidr, Credentials)> = Vec::new();
        let mut seen: HashMap<Cidr, String> = HashMap::new();
        let mut prefix = |key: String, text: &str| -> Result<Cidr, ConfigError> {
            let c: Cidr = text.parse().map_err(|e: collector::CidrError| {
                invalid(format!("{key}.exporter"), e.to_string())
            })?;
            if let Some(other) = seen.insert(c, key.clone()) {
                return Err(invalid(
                    format!("{key}.exporter"),
                    format!("{c} is already given by {other}"),
                ));
            }
            Ok(c)
        };
        for (i, e) in self.communities.iter().enumerate() {
            let key = format!("{K}.communities[{i}]");
            let c = prefix(key.clone(), &e.exporter)?;
            if e.community.is_empty() {
                return Err(invalid(format!("{key}.community"), "is empty"));
            }
            by_prefix.push((
                c,
                Credentials::V2c {
                    community: e.community.clone(),
                },
            ));
        }
        for (i, e) in self.v3.iter().enumerate() {
            let key = format!("{K}.v3[{i}]");
            let c = prefix(key.clone(), &e.exporter)?;
            if e.user.is_empty() || e.user.len() > 32 {
                return Err(invalid(
                    format!("{key}.user"),
                    "must be 1 to 32 bytes long (RFC 3414 usmUserName)",
                ));
            }
            let level = e.security_level;
            let needs_auth = level != SnmpSecurityLevel::NoAuthNoPriv;
            let needs_priv = level == SnmpSecurityLevel::AuthPriv;
            let auth = if needs_auth {
                let proto = e.auth_protocol.ok_or_else(|| {
                    invalid(
                        format!("{key}.auth_protocol"),
                        format!(
                            "is missing: security_level {} needs one of md5, sha, sha224, \
                             sha256, sha384, sha512",
                            level.as_str()
                        ),
                    )
                })?;
                let what = format!("security_level {}", level.as_str());
                Some((
                    proto,
                    passphrase(&format!("{key}.auth_password"), &e.auth_password, &what)?,
                ))
            } else {
                for (field, given) in [
                    ("auth_protocol", e.auth_protocol.is_some()),
                    ("auth_password", e.auth_password.is_some()),
                ] {
                    if given {
                        return Err(invalid(
                            format!("{key}.{field}"),
                            "is given but security_level is no-auth-no-priv (set \
                             auth-no-priv or auth-priv, or leave it out)",
                        ));
                    }
                }
                None
            };
            let privacy = if needs_priv {
                let proto = e.privacy_protocol.ok_or_else(|| {
                    invalid(
                        format!("{key}.privacy_protocol"),
                        "is missing: security_level auth-priv needs one of des, aes, aes192, \
                         aes256",
                    )
                })?;
                Some((
                    proto,
                    passphrase(
                        &format!("{key}.privacy_password"),
                        &e.privacy_password,
                        "security_level auth-priv",
                    )?,
                ))
            } else {
                for (field, given) in [
                    ("privacy_protocol", e.privacy_protocol.is_some()),
                    ("privacy_password", e.privacy_password.is_some()),
                ] {
                    if given {
                        return Err(invalid(
                            format!("{key}.{field}"),
                            format!(
                                "is given but security_level is {} (set auth-priv, or leave \
                                 it out)",
                                level.as_str()
                            ),
                        ));
                    }
                }
                None
            };
            by_prefix.push((
                c,
                Credentials::V3(V3Credentials {
                    user: e.user.clone(),
                    level,
                    auth,
                    privacy,
                }),
            ));
        }
        // Most specific first; prefixes are unique, so the order among equals does not matter.
        by_prefix.sort_by_key(|(c, _)| std::cmp::Reverse(c.stored_len()));
        Ok(ValidatedSnmpConfig {
            interval: Duration::from_secs(self.interval_secs),
            timeout: Duration::from_millis(self.timeout_ms),
            retries: self.retries,
            port: self.port,
            cache: self.cache.clone(),
            default: Credentials::V2c {
                community: self.community.clone(),
            },
            by_prefix,
        })
    }
}

// ---------------------------------------------------------------------------------------------
// One poll

/// What one poll learned about one interface.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolledInterface {
    /// The ifIndex.
    pub if_index: u32,
    /// ifName, or ifDescr where the agent has no ifXTable.
    pub name: Option<String>,
    /// ifAlias (the operator's description).
    pub description: Option<String>,
    /// ifHighSpeed, or ifSpeed / 10^6 where the agent has no ifXTable.
    pub speed_mbps: Option<u64>,
}

/// An IF-MIB column the poller walks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Column {
    /// ifName (IF-MIB ifXTable).
    IfName,
    /// ifAlias (ifXTable).
    IfAlias,
    /// ifHighSpeed, Mbit/s (ifXTable).
    IfHighSpeed,
    /// ifDescr (ifTable).
    IfDescr,
    /// ifSpeed, bit/s (ifTable).
    IfSpeed,
}

impl Column {
    /// The column's OID.
    pub fn oid(self) -> &'static [u64] {
        match self {
            Column::IfName => &[1, 3, 6, 1, 2, 1, 31, 1, 1, 1, 1],
            Column::IfAlias => &[1, 3, 6, 1, 2, 1, 31, 1, 1, 1, 18],
            Column::IfHighSpeed => &[1, 3, 6, 1, 2, 1, 31, 1, 1, 1, 15],
            Column::IfDescr => &[1, 3, 6, 1, 2, 1, 2, 2, 1, 2],
            Column::IfSpeed => &[1, 3, 6, 1, 2, 1, 2, 2, 1, 5],
        }
    }

    /// The column's name (`ifName`...).
    pub fn as_str(self) -> &'static str {
        match self {
            Column::IfName => "ifName",
            Column::IfAlias => "ifAlias",
            Column::IfHighSpeed => "ifHighSpeed",
            Column::IfDescr => "ifDescr",
            Column::IfSpeed => "ifSpeed",
        }
    }
}

/// Why a poll of one exporter failed. Every variant names the agent and what was being done
/// (`ifName walk`, `SNMPv3 engine discovery`...).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PollError {
    /// No answer in time to any try: the agent is down, filtered, or drops the request (a wrong
    /// community or user looks like this).
    #[error(
        "SNMP agent {agent}: no answer to the {what} within {timeout_ms} ms ({tries} tries): \
         agent down, filtered, or the community or credentials are wrong"
    )]
    Timeout {
        /// The agent's address.
        agent: SocketAddr,
        /// What was asked.
        what: &'static str,
        /// One try's timeout.
        timeout_ms: u64,
        /// How many tries were made.
        tries: u32,
    },
    /// The socket failed (on loopback, "receive" is usually ICMP port unreachable: nothing
    /// listens on the port).
    #[error("SNMP agent {agent}: {what}: {reason}")]
    Socket {
        /// The agent's address.
        agent: SocketAddr,
        /// What was being done.
        what: &'static str,
        /// The socket error.
        reason: String,
    },
    /// SNMPv3 security failed: engine discovery, authentication, decryption, time window.
    #[error("SNMP agent {agent}: {what}: SNMPv3 security: {reason}")]
    Security {
        /// The agent's address.
        agent: SocketAddr,
        /// What was being done.
        what: &'static str,
        /// What the client said.
        reason: String,
    },
    /// The agent answered with an error status (RFC 3416 §3).
    #[error("SNMP agent {agent}: {what}: the agent answered error-status {status}")]
    Agent {
        /// The agent's address.
        agent: SocketAddr,
        /// What was asked.
        what: &'static str,
        /// The error-status.
        status: u32,
    },
    /// The answer could not be decoded, or does not make sense (an OID that does not increase, a
    /// walk that does not end).
    #[error("SNMP agent {agent}: {what}: bad answer: {reason}")]
    Reply {
        /// The agent's address.
        agent: SocketAddr,
        /// What was asked.
        what: &'static str,
        /// What is wrong with it.
        reason: String,
    },
}

impl PollError {
    /// The kind, for metrics: `timeout`, `socket`, `security`, `agent`, `reply`.
    pub fn kind(&self) -> &'static str {
        match self {
            PollError::Timeout { .. } => "timeout",
            PollError::Socket { .. } => "socket",
            PollError::Security { .. } => "security",
            PollError::Agent { .. } => "agent",
            PollError::Reply { .. } => "reply",
        }
    }

    /// The agent's address.
    pub fn agent(&self) -> SocketAddr {
        match self {
            PollError::Timeout { agent, .. }
            | PollError::Socket { agent, .. }
            | PollError::Security { agent, .. }
            | PollError::Agent { agent, .. }
            | PollError::Reply { agent, .. } => *agent,
        }
    }
}

/// GETBULK max-repetitions: rows asked for per request (halved when the agent says tooBig).
pub const MAX_REPETITIONS: u32 = 32;
/// A walk of one column stops with an error after this many varbinds (an agent that never ends).
pub const MAX_WALK_VARBINDS: usize = 100_000;
/// error-status tooBig (RFC 3416 §3).
const ERR_TOO_BIG: u32 = 1;
/// Repeats of a request the SNMPv3 client asks for after learning the agent's engine time.
const MAX_SECURITY_UPDATES: u32 = 3;

/// One varbind value, as far as the poller cares.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Cell {
    Text(Vec<u8>),
    Number(u64),
    EndOfMibView,
    NoSuch,
    Other,
}

impl Cell {
    fn from_value(v: &Value<'_>) -> Cell {
        match v {
            Value::OctetString(b) => Cell::Text(b.to_vec()),
            Value::Integer(n) => u64::try_from(*n).map_or(Cell::Other, Cell::Number),
            Value::Unsigned32(n) | Value::Counter32(n) => Cell::Number(u64::from(*n)),
            Value::Counter64(n) => Cell::Number(*n),
            Value::EndOfMibView => Cell::EndOfMibView,
            Value::NoSuchObject | Value::NoSuchInstance => Cell::NoSuch,
            _ => Cell::Other,
        }
    }
}

/// An answer, copied out of the client's receive buffer.
#[derive(Debug, Default)]
struct Reply {
    error_status: u32,
    /// (OID, or None when a sub-identifier does not fit in 64 bits; value).
    varbinds: Vec<(Option<Vec<u64>>, Cell)>,
}

/// What a walk does with one varbind of a GETBULK answer.
#[derive(Debug, PartialEq, Eq)]
enum Step {
    /// A row of the column: its ifIndex and value.
    Row(u32, Cell),
    /// Inside the column but not indexed by one ifIndex: go on past it.
    Skip,
    /// Past the column (or the end of the MIB view): the walk is over.
    End,
}

/// One varbind of a walk of the column `prefix`, whose last OID was `last`. Pure: no I/O.
fn walk_step(
    prefix: &[u64],
    last: &[u64],
    oid: Option<&[u64]>,
    cell: Cell,
) -> Result<Step, String> {
    if cell == Cell::EndOfMibView || cell == Cell::NoSuch {
        return Ok(Step::End);
    }
    let Some(oid) = oid else {
        return Err("an OID with a sub-identifier above 2^64".to_string());
    };
    if !oid.starts_with(prefix) || oid.len() == prefix.len() {
        return Ok(Step::End);
    }
    if oid <= last {
        return Err(format!(
            "OID {} does not follow {} (the agent walks backwards)",
            dotted(oid),
            dotted(last)
        ));
    }
    match oid[prefix.len()..] {
        [i] => match u32::try_from(i) {
            Ok(i) => Ok(Step::Row(i, cell)),
            Err(_) => Ok(Step::Skip),
        },
        _ => Ok(Step::Skip),
    }
}

fn dotted(oid: &[u64]) -> String {
    oid.iter().map(u64::to_string).collect::<Vec<_>>().join(".")
}

/// A DisplayString as text: lossy UTF-8, trailing NULs and surrounding blanks removed, at most 255
/// bytes; empty is None.
fn text(cell: &Cell) -> Option<String> {
    let Cell::Text(b) = cell else { return None };
    let s = String::from_utf8_lossy(b);
    let s = s.trim_end_matches('\0').trim();
    if s.is_empty() {
        return None;
    }
    let mut end = s.len().min(255);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    Some(s[..end].to_string())
}

/// The rows of the walked columns, merged by ifIndex. `names` and `speeds` are ifName and
/// ifHighSpeed, or the ifDescr and ifSpeed fallbacks (`speed_in_bits`). Pure: no I/O.
fn assemble(
    names: &[(u32, Cell)],
    aliases: &[(u32, Cell)],
    speeds: &[(u32, Cell)],
    speed_in_bits: bool,
) -> Vec<PolledInterface> {
    let mut rows: BTreeMap<u32, PolledInterface> = BTreeMap::new();
    for (i, c) in names {
        entry(&mut rows, *i).name = text(c);
    }
    for (i, c) in aliases {
        entry(&mut rows, *i).description = text(c);
    }
    for (i, c) in speeds {
        let speed = match (c, speed_in_bits) {
            (Cell::Number(n), false) => Some(*n),
            (Cell::Number(n), true) if *n == u64::from(u32::MAX) => None,
            (Cell::Number(n), true) => Some((n + 500_000) / 1_000_000),
            _ => None,
        };
        entry(&mut rows, *i).speed_mbps = speed.filter(|&s| s != 0);
    }
    rows.into_values().collect()
}

fn entry(rows: &mut BTreeMap<u32, PolledInterface>, i: u32) -> &mut PolledInterface {
    rows.entry(i).or_insert_with(|| PolledInterface {
        if_index: i,
        name: None,
        description: None,
        speed_mbps: None,
    })
}

/// A request the session sends.
enum Request<'a> {
    /// SNMPv3 engine discovery (RFC 3414 §4).
    Discover,
    /// GETBULK from this OID.
    GetBulk(&'a Oid<'a>, u32),
}

/// One agent's session: the client, the address, the timeout and tries.
struct Session {
    agent: SocketAddr,
    client: AsyncSession,
    timeout: Duration,
    tries: u32,
}

impl Session {
    async fn open(cfg: &ValidatedSnmpConfig, exporter: IpAddr) -> Result<Session, PollError> {
        let agent = SocketAddr::new(exporter.to_canonical(), cfg.port);
        let socket_err = |e: std::io::Error| PollError::Socket {
            agent,
            what: "opening the socket",
            reason: e.to_string(),
        };
        let (client, v3) = match cfg.credentials(exporter) {
            Credentials::V2c { community } => (
                Box::pin(AsyncSession::new_v2c(agent, community.as_bytes(), 1))
                    .await
                    .map_err(socket_err)?,
                false,
            ),
            Credentials::V3(c) => (
                Box::pin(AsyncSession::new_v3(agent, 1, c.security()))
                    .await
                    .map_err(socket_err)?,
                true,
            ),
        };
        let mut s = Session {
            agent,
            client,
            timeout: cfg.timeout,
            tries: 1 + cfg.retries,
        };
        if v3 {
            s.send("SNMPv3 engine discovery", Request::Discover).await?;
        }
        Ok(s)
    }

    async fn once(client: &mut AsyncSession, req: &Request<'_>) -> Result<Reply, snmp2::Error> {
        match req {
            Request::Discover => {
                client.init().await?;
                Ok(Reply::default())
            }
            Request::GetBulk(oid, reps) => {
                let pdu = client.getbulk(&[*oid], 0, *reps).await?;
                Ok(Reply {
                    error_status: pdu.error_status,
                    varbinds: pdu
                        .varbinds
                        .map(|(o, v)| (o.iter().map(Iterator::collect), Cell::from_value(&v)))
                        .collect(),
                })
            }
        }
    }

    fn error(&self, what: &'static str, e: snmp2::Error) -> PollError {
        let agent = self.agent;
        match e {
            snmp2::Error::Send => PollError::Socket {
                agent,
                what,
                reason: "sending failed".to_string(),
            },
            snmp2::Error::Receive => PollError::Socket {
                agent,
                what,
                reason: "receiving failed (nothing listening on the port?)".to_string(),
            },
            snmp2::Error::AuthFailure(_) | snmp2::Error::AuthUpdated | snmp2::Error::Crypto(_) => {
                PollError::Security {
                    agent,
                    what,
                    reason: e.to_string(),
                }
            }
            _ => PollError::Reply {
                agent,
                what,
                reason: e.to_string(),
            },
        }
    }

    /// Sends `req` up to `tries` times, each try bounded by the timeout; a lost or stale answer
    /// and a socket error use up a try, an undecodable answer ends it.
    async fn send(&mut self, what: &'static str, req: Request<'_>) -> Result<Reply, PollError> {
        let mut tried = 0;
        let mut updates = 0;
        let mut last: Option<snmp2::Error> = None;
        while tried < self.tries {
            match tokio::time::timeout(self.timeout, Self::once(&mut self.client, &req)).await {
                Ok(Ok(reply)) => return Ok(reply),
                Ok(Err(snmp2::Error::AuthUpdated)) if updates < MAX_SECURITY_UPDATES => {
                    updates += 1;
                }
                Ok(Err(
                    e @ (snmp2::Error::Send
                    | snmp2::Error::Receive
                    | snmp2::Error::RequestIdMismatch),
                )) => {
                    tried += 1;
                    last = Some(e);
                }
                Ok(Err(e)) => return Err(self.error(what, e)),
                Err(_elapsed) => {
                    tried += 1;
                    last = None;
                }
            }
        }
        Err(match last {
            Some(e) => self.error(what, e),
            None => PollError::Timeout {
                agent: self.agent,
                what,
                timeout_ms: u64::try_from(self.timeout.as_millis()).unwrap_or(u64::MAX),
                tries: self.tries,
            },
        })
    }

    /// Walks one column with GETBULK: its rows by ifIndex.
    async fn walk(&mut self, column: Column) -> Result<Vec<(u32, Cell)>, PollError> {
        let what = match column {
            Column::IfName => "ifName walk",
            Column::IfAlias => "ifAlias walk",
            Column::IfHighSpeed => "ifHighSpeed walk",
            Column::IfDescr => "ifDescr walk",
            Column::IfSpeed => "ifSpeed walk",
        };
        let prefix = column.oid();
        let mut last: Vec<u64> = prefix.to_vec();
        let mut rows = Vec::new();
        let mut seen = 0usize;
        let mut reps = MAX_REPETITIONS;
        let bad = |agent, reason: String| PollError::Reply {
            agent,
            what,
            reason,
        };
        loop {
            let start = Oid::from(&last)
                .map_err(|e| bad(self.agent, format!("OID {}: {e:?}", dotted(&last))))?;
            let reply = self.send(what, Request::GetBulk(&start, reps)).await?;
            if reply.error_status == ERR_TOO_BIG && reps > 1 {
                reps = (reps / 2).max(1);
                continue;
            }
            if reply.error_status != 0 {
                return Err(PollError::Agent {
                    agent: self.agent,
                    what,
                    status: reply.error_status,
                });
            }
            if reply.varbinds.is_empty() {
                return Ok(rows);
            }
            for (oid, cell) in reply.varbinds {
                seen += 1;
                if seen > MAX_WALK_VARBINDS {
                    return Err(bad(
                        self.agent,
                        format!("more than {MAX_WALK_VARBINDS} varbinds in one column"),
                    ));
                }
                match walk_step(prefix, &last, oid.as_deref(), cell)
                    .map_err(|r| bad(self.agent, r))?
                {
                    Step::End => return Ok(rows),
                    Step::Skip => {}
                    Step::Row(i, c) => rows.push((i, c)),
                }
                if let Some(oid) = oid {
                    last = oid;
                }
            }
        }
    }
}

/// Polls one exporter's agent (at `cfg.port`, with the exporter's [`Credentials`]): ifName,
/// ifAlias and ifHighSpeed, or ifDescr and ifSpeed where ifXTable is missing. Interfaces come
/// back by ifIndex, ascending.
pub async fn poll_exporter(
    cfg: &ValidatedSnmpConfig,
    exporter: IpAddr,
) -> Result<Vec<PolledInterface>, PollError> {
    let mut s = Session::open(cfg, exporter).await?;
    let mut names = s.walk(Column::IfName).await?;
    let aliases = s.walk(Column::IfAlias).await?;
    let mut speeds = s.walk(Column::IfHighSpeed).await?;
    let mut in_bits = false;
    if names.is_empty() {
        names = s.walk(Column::IfDescr).await?;
    }
    if speeds.is_empty() {
        speeds = s.walk(Column::IfSpeed).await?;
        in_bits = true;
    }
    Ok(assemble(&names, &aliases, &speeds, in_bits))
}

// ---------------------------------------------------------------------------------------------
// Cache file

/// One exporter's entry in the cache.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CachedExporter {
    /// When the poll ran, Unix seconds.
    pub polled_at: u64,
    /// What it found.
    pub interfaces: Vec<PolledInterface>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct CacheFile {
    version: u32,
    exporters: BTreeMap<IpAddr, CachedExporter>,
}

/// Why the cache file could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum CacheError {
    /// Reading or writing failed.
    #[error("SNMP cache {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// The file is not a cache this version can read.
    #[error("SNMP cache {path}: not a valid cache file: {reason}")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
}

/// The last successful poll of each exporter; the cache file's contents.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SnmpCache {
    exporters: BTreeMap<IpAddr, CachedExporter>,
}

impl SnmpCache {
    /// The file format version this code writes and reads.
    pub const VERSION: u32 = 1;

    /// Reads the cache file; a missing file is an empty cache.
    pub fn load(path: &Path) -> Result<SnmpCache, CacheError> {
        match std::fs::read(path) {
            Ok(bytes) => SnmpCache::from_json(&bytes).map_err(|reason| CacheError::Corrupt {
                path: path.to_path_buf(),
                reason,
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(SnmpCache::default()),
            Err(source) => Err(CacheError::Io {
                path: path.to_path_buf(),
                source,
            }),
        }
    }

    /// The cache from the file's bytes.
    pub fn from_json(bytes: &[u8]) -> Result<SnmpCache, String> {
        let file: CacheFile = serde_json::from_slice(bytes).map_err(|e| e.to_string())?;
        if file.version != Self::VERSION {
            return Err(format!(
                "version {} (this sluice reads version {})",
                file.version,
                Self::VERSION
            ));
        }
        Ok(SnmpCache {
            exporters: file.exporters,
        })
    }

    /// The file's bytes.
    pub fn to_json(&self) -> Vec<u8> {
        #[derive(Serialize)]
        struct Out<'a> {
            version: u32,
            exporters: &'a BTreeMap<IpAddr, CachedExporter>,
        }
        let mut out = serde_json::to_vec(&Out {
            version: Self::VERSION,
            exporters: &self.exporters,
        })
        .unwrap_or_default();
        out.push(b'\n');
        out
    }

    /// Writes the cache to `path` atomically: to `PATH.tmp`, synced, then renamed over `path`.
    pub fn save(&self, path: &Path) -> Result<(), CacheError> {
        let io = |source| CacheError::Io {
            path: path.to_path_buf(),
            source,
        };
        let mut tmp = path.as_os_str().to_owned();
        tmp.push(".tmp");
        let tmp = PathBuf::from(tmp);
        let mut f = std::fs::File::create(&tmp).map_err(io)?;
        f.write_all(&self.to_json()).map_err(io)?;
        f.sync_all().map_err(io)?;
        drop(f);
        std::fs::rename(&tmp, path).map_err(io)?;
        // The rename is durable once the directory is synced; a failure here loses nothing yet.
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty())
            && let Ok(d) = std::fs::File::open(dir)
        {
            let _ = d.sync_all();
        }
        Ok(())
    }

    /// The entry of an exporter.
    pub fn get(&self, exporter: IpAddr) -> Option<&CachedExporter> {
        self.exporters.get(&exporter)
    }

    /// Sets an exporter's entry.
    pub fn insert(&mut self, exporter: IpAddr, polled_at: u64, interfaces: Vec<PolledInterface>) {
        self.exporters.insert(
            exporter,
            CachedExporter {
                polled_at,
                interfaces,
            },
        );
    }

    /// Every entry, by exporter address.
    pub fn iter(&self) -> impl Iterator<Item = (IpAddr, &CachedExporter)> {
        self.exporters.iter().map(|(a, e)| (*a, e))
    }

    /// How many exporters have an entry.
    pub fn len(&self) -> usize {
        self.exporters.len()
    }

    /// True when no exporter has an entry.
    pub fn is_empty(&self) -> bool {
        self.exporters.is_empty()
    }
}

// ---------------------------------------------------------------------------------------------
// The poller task

/// How many polls run at once.
pub const MAX_IN_FLIGHT: usize = 4;
/// How often the poller asks for the exporters and looks for polls that are due.
pub const TICK: Duration = Duration::from_secs(1);

/// One exporter's poll counts.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ExporterPollStats {
    /// Polls that succeeded.
    pub ok: u64,
    /// Polls that failed.
    pub failed: u64,
    /// The last failure's message.
    pub last_error: Option<String>,
    /// The last failure's kind ([`PollError::kind`]).
    pub last_error_kind: Option<&'static str>,
}

/// The poller's counts, shared with whoever holds a clone. Also exported as the metrics
/// `sluice_enrich_snmp_polls_total{exporter, outcome=ok|failed}`,
/// `sluice_enrich_snmp_poll_errors_total{exporter, kind}` and
/// `sluice_enrich_snmp_cache_write_errors_total`.
#[derive(Clone, Debug, Default)]
pub struct PollerStats {
    inner: Arc<Mutex<StatsInner>>,
}

#[derive(Debug, Default)]
struct StatsInner {
    exporters: HashMap<IpAddr, ExporterPollStats>,
    cache_write_errors: u64,
}

impl PollerStats {
    fn with<T>(&self, f: impl FnOnce(&mut StatsInner) -> T) -> T {
        let mut g = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut g)
    }

    /// An exporter's counts (zero when it was never polled).
    pub fn exporter(&self, exporter: IpAddr) -> ExporterPollStats {
        self.with(|s| s.exporters.get(&exporter).cloned().unwrap_or_default())
    }

    /// How many times writing the cache file failed.
    pub fn cache_write_errors(&self) -> u64 {
        self.with(|s| s.cache_write_errors)
    }

    fn ok(&self, exporter: IpAddr) {
        self.with(|s| s.exporters.entry(exporter).or_default().ok += 1);
        metrics::counter!("sluice_enrich_snmp_polls_total",
            "exporter" => exporter.to_string(), "outcome" => "ok")
        .increment(1);
    }

    fn failed(&self, exporter: IpAddr, e: &PollError) {
        self.with(|s| {
            let x = s.exporters.entry(exporter).or_default();
            x.failed += 1;
            x.last_error = Some(e.to_string());
            x.last_error_kind = Some(e.kind());
        });
        metrics::counter!("sluice_enrich_snmp_polls_total",
            "exporter" => exporter.to_string(), "outcome" => "failed")
        .increment(1);
        metrics::counter!("sluice_enrich_snmp_poll_errors_total",
            "exporter" => exporter.to_string(), "kind" => e.kind())
        .increment(1);
    }

    fn cache_write_failed(&self) {
        self.with(|s| s.cache_write_errors += 1);
        metrics::counter!("sluice_enrich_snmp_cache_write_errors_total").increment(1);
    }
}

/// Polls the exporters the collector sees, at most [`MAX_IN_FLIGHT`] at a time, each once per
/// interval, and keeps the cache file. Build it with [`Poller::new`], then spawn [`Poller::run`].
#[derive(Debug)]
pub struct Poller {
    cfg: Arc<ValidatedSnmpConfig>,
    cache: SnmpCache,
    /// When each exporter's last poll started (or, for cached ones, ran), Unix seconds.
    last_attempt: HashMap<IpAddr, u64>,
    stats: PollerStats,
}

impl Poller {
    /// Validates `cfg` and reads the cache file, if one is configured. A missing cache is an empty
    /// one; an unreadable or corrupt one is logged and ignored (it is rewritten after the next
    /// successful poll).
    pub fn new(cfg: &SnmpConfig) -> Result<Poller, ConfigError> {
        let cfg = cfg.validate()?;
        let cache = match &cfg.cache {
            None => SnmpCache::default(),
            Some(path) => SnmpCache::load(path).unwrap_or_else(|e| {
                tracing::warn!(error = %e, "SNMP cache ignored; starting with an empty one");
                SnmpCache::default()
            }),
        };
        let last_attempt = cache.iter().map(|(a, e)| (a, e.polled_at)).collect();
        Ok(Poller {
            cfg: Arc::new(cfg),
            cache,
            last_attempt,
            stats: PollerStats::default(),
        })
    }

    /// The counts (a handle: take it before `run`).
    pub fn stats(&self) -> PollerStats {
        self.stats.clone()
    }

    /// The cache as loaded or as polled so far.
    pub fn cache(&self) -> &SnmpCache {
        &self.cache
    }

    /// The validated config.
    pub fn config(&self) -> &ValidatedSnmpConfig {
        &self.cfg
    }

    /// The exporters among `seen` whose last poll started at least an interval before `now` (or
    /// that were never polled), never-polled first, then oldest first, without duplicates.
    pub fn due(&self, seen: &[IpAddr], now: u64) -> Vec<IpAddr> {
        let interval = self.cfg.interval.as_secs();
        let mut due: Vec<(Option<u64>, IpAddr)> = Vec::new();
        let mut taken = HashSet::new();
        for &ip in seen {
            let last = self.last_attempt.get(&ip).copied();
            if last.is_none_or(|t| now.saturating_sub(t) >= interval) && taken.insert(ip) {
                due.push((last, ip));
            }
        }
        due.sort_by_key(|&(t, _)| t);
        due.into_iter().map(|(_, ip)| ip).collect()
    }

    /// Takes the result of one poll: counts it; on success hands the interfaces to `on_result`
    /// and puts them in the cache (true). On failure the cached interfaces stay.
    fn record(
        &mut self,
        exporter: IpAddr,
        result: Result<Vec<PolledInterface>, PollError>,
        now: u64,
        on_result: &impl Fn(IpAddr, &[PolledInterface]),
    ) -> bool {
        match result {
            Ok(interfaces) => {
                self.stats.ok(exporter);
                tracing::debug!(%exporter, interfaces = interfaces.len(), "SNMP poll done");
                on_result(exporter, &interfaces);
                self.cache.insert(exporter, now, interfaces);
                true
            }
            Err(e) => {
                self.stats.failed(exporter, &e);
                tracing::warn!(%exporter, kind = e.kind(), error = %e,
                    "SNMP poll failed; the exporter's cached interfaces stay");
                false
            }
        }
    }

    async fn save_cache(&self) {
        let Some(path) = self.cfg.cache.clone() else {
            return;
        };
        let cache = self.cache.clone();
        let result = tokio::task::spawn_blocking(move || cache.save(&path)).await;
        match result {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                self.stats.cache_write_failed();
                tracing::warn!(error = %e, "SNMP cache not written");
            }
            Err(e) => {
                self.stats.cache_write_failed();
                tracing::warn!(error = %e, "SNMP cache writer task failed");
            }
        }
    }

    /// Runs until `stop` turns true or its sender is dropped. First hands every cached entry to
    /// `on_result`; then, every [`TICK`], asks `exporters` for the exporters seen and polls those
    /// that are due ([`Poller::due`]), at most [`MAX_IN_FLIGHT`] at a time, handing each
    /// successful poll to `on_result`. The cache file is rewritten when the polls of a round are
    /// done, and at stop. Polls still running at stop are abandoned.
    pub async fn run<E, R>(mut self, exporters: E, on_result: R, mut stop: watch::Receiver<bool>)
    where
        E: Fn() -> Vec<IpAddr>,
        R: Fn(IpAddr, &[PolledInterface]),
    {
        for (exporter, entry) in self.cache.iter() {
            on_result(exporter, &entry.interfaces);
        }
        let mut queue: VecDeque<IpAddr> = VecDeque::new();
        let mut in_flight: JoinSet<Result<Vec<PolledInterface>, PollError>> = JoinSet::new();
        let mut polling: HashMap<tokio::task::Id, IpAddr> = HashMap::new();
        let mut dirty = false;
        let mut tick = tokio::time::interval(TICK);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                () = stopped(&mut stop) => break,
                _ = tick.tick() => {
                    let busy: HashSet<IpAddr> =
                        polling.values().chain(queue.iter()).copied().collect();
                    for ip in self.due(&exporters(), unix_now()) {
                        if !busy.contains(&ip) {
                            queue.push_back(ip);
                        }
                    }
                }
                Some(joined) = in_flight.join_next_with_id(), if !in_flight.is_empty() => {
                    let (id, result) = match joined {
                        Ok((id, r)) => (id, r),
                        Err(e) => {
                            // A poll task that panicked (a bug): counted like a failed poll.
                            let agent = polling.get(&e.id()).map(|ip| SocketAddr::new(*ip, self.cfg.port));
                            let err = PollError::Reply {
                                agent: agent.unwrap_or_else(|| SocketAddr::from(([0, 0, 0, 0], 0))),
                                what: "poll task",
                                reason: e.to_string(),
                            };
                            (e.id(), Err(err))
                        }
                    };
                    if let Some(ip) = polling.remove(&id) {
                        dirty |= self.record(ip, result, unix_now(), &on_result);
                    }
                }
            }
            while in_flight.len() < MAX_IN_FLIGHT
                && let Some(ip) = queue.pop_front()
            {
                self.last_attempt.insert(ip, unix_now());
                let cfg = Arc::clone(&self.cfg);
                let handle = in_flight.spawn(async move { poll_exporter(&cfg, ip).await });
                polling.insert(handle.id(), ip);
            }
            if dirty && in_flight.is_empty() && queue.is_empty() {
                self.save_cache().await;
                dirty = false;
            }
        }
        in_flight.abort_all();
        if dirty {
            self.save_cache().await;
        }
    }
}

/// Resolves once `stop` is true or its sender is gone.
async fn stopped(stop: &mut watch::Receiver<bool>) {
    loop {
        if *stop.borrow_and_update() {
            return;
        }
        if stop.changed().await.is_err() {
            return;
        }
    }
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::EnrichConfig;

    fn parse(toml_text: &str) -> Result<SnmpConfig, String> {
        toml::from_str::<EnrichConfig>(toml_text)
            .map(|c| c.snmp.expect("[snmp] is set"))
            .map_err(|e| e.to_string())
    }

    fn error(toml_text: &str) -> ConfigError {
        parse(toml_text).unwrap().validate().unwrap_err()
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn an_empty_section_takes_the_documented_defaults() {
        let c = parse("[snmp]\n").unwrap();
        assert_eq!(c, SnmpConfig::default());
        let v = c.validate().unwrap();
        assert_eq!(v.interval, Duration::from_secs(600));
        assert_eq!(v.timeout, Duration::from_millis(1000));
        assert_eq!((v.retries, v.port, &v.cache), (1, 161, &None));
        assert_eq!(
            v.credentials(ip("192.0.2.1")),
            &Credentials::V2c {
                community: "public".into()
            }
        );
    }

    #[test]
    fn the_most_specific_prefix_picks_the_credentials_across_v2c_and_v3() {
        let v = parse(
            r#"
            [snmp]
            community = "fallback"
            communities = [
                { exporter = "10.0.0.0/8", community = "wide" },
                { exporter = "10.1.2.0/24", community = "narrow" },
                { exporter = "2001:db8::/32", community = "six" },
            ]
            [[snmp.v3]]
            exporter = "10.1.0.0/16"
            user = "poller"
            auth_protocol = "sha256"
            auth_password = "auth-secret"
            privacy_protocol = "aes"
            privacy_password = "priv-secret"
            "#,
        )
        .unwrap()
        .validate()
        .unwrap();
        let community = |c: &str| Credentials::V2c {
            community: c.into(),
        };
        assert_eq!(v.credentials(ip("10.9.9.9")), &community("wide"));
        assert_eq!(v.credentials(ip("10.1.2.3")), &community("narrow"));
        assert_eq!(v.credentials(ip("2001:db8::1")), &community("six"));
        assert_eq!(v.credentials(ip("192.0.2.1")), &community("fallback"));
        // An IPv4-mapped exporter address is the IPv4 exporter.
        assert_eq!(v.credentials(ip("::ffff:10.1.2.3")), &community("narrow"));
        let Credentials::V3(c) = v.credentials(ip("10.1.9.9")) else {
            panic!("10.1.9.9 is in the v3 prefix");
        };
        assert_eq!(c.user, "poller");
        assert_eq!(c.level, SnmpSecurityLevel::AuthPriv);
        assert_eq!(
            c.auth,
            Some((SnmpAuthProtocol::Sha256, "auth-secret".into()))
        );
        assert_eq!(
            c.privacy,
            Some((SnmpPrivacyProtocol::Aes, "priv-secret".into()))
        );
    }

    #[test]
    fn debug_output_hides_communities_and_passphrases() {
        let c = parse(
            r#"
            [snmp]
            communities = [{ exporter = "10.0.0.0/8", community = "s3cret-community" }]
            [[snmp.v3]]
            exporter = "10.1.0.0/16"
            user = "poller"
            auth_protocol = "sha"
            auth_password = "s3cret-auth"
            privacy_protocol = "des"
            privacy_password = "s3cret-priv"
            "#,
        )
        .unwrap();
        let text = format!("{c:?} {:?}", c.validate().unwrap());
        assert!(!text.contains("s3cret"), "{text}");
        assert!(text.contains("poller"), "{text}");
    }

    #[test]
    fn security_levels_take_the_snmp_spellings_too() {
        for (spelling, level) in [
            ("authPriv", SnmpSecurityLevel::AuthPriv),
            ("auth-no-priv", SnmpSecurityLevel::AuthNoPriv),
            ("noAuthNoPriv", SnmpSecurityLevel::NoAuthNoPriv),
        ] {
            let text = format!(
                "[[snmp.v3]]\nexporter = \"10.0.0.1\"\nuser = \"u\"\nsecurity_level = \"{spelling}\""
            );
            assert_eq!(parse(&text).unwrap().v3[0].security_level, level);
        }
    }

    #[test]
    fn rejects_unknown_keys_and_protocols() {
        let e = parse("[snmp]\nintervall_secs = 5\n").unwrap_err();
        assert!(e.contains("unknown field `intervall_secs`"), "{e}");
        let e = parse(
            "[[snmp.v3]]\nexporter = \"10.0.0.1\"\nuser = \"u\"\nauth_protocol = \"sha999\"\n",
        )
        .unwrap_err();
        assert!(e.contains("sha999"), "{e}");
        let e = parse("[[snmp.communities]]\nexporter = \"10.0.0.1\"\n").unwrap_err();
        assert!(e.contains("missing field `community`"), "{e}");
    }

    #[test]
    fn rejects_values_that_cannot_work_naming_the_key() {
        let cases: &[(&str, &str, &str)] = &[
            (
                "[snmp]\ninterval_secs = 0",
                "enrich.snmp.interval_secs",
                "at least 1",
            ),
            (
                "[snmp]\ntimeout_ms = 0",
                "enrich.snmp.timeout_ms",
                "between 1 and 60000",
            ),
            (
                "[snmp]\nretries = 11",
                "enrich.snmp.retries",
                "more than 10",
            ),
            ("[snmp]\nport = 0", "enrich.snmp.port", "must not be 0"),
            ("[snmp]\ncache = \"\"", "enrich.snmp.cache", "is empty"),
            (
                "[snmp]\ncommunity = \"\"",
                "enrich.snmp.community",
                "is empty",
            ),
            (
                "[[snmp.communities]]\nexporter = \"10.0.0.1/8\"\ncommunity = \"c\"",
                "enrich.snmp.communities[0].exporter",
                "host bits are set",
            ),
            (
                "[[snmp.communities]]\nexporter = \"10.0.0.0/8\"\ncommunity = \"\"",
                "enrich.snmp.communities[0].community",
                "is empty",
            ),
            (
                "[snmp]\ncommunities = [{ exporter = \"10.0.0.0/8\", community = \"a\" }]\n\
                 [[snmp.v3]]\nexporter = \"10.0.0.0/8\"\nuser = \"u\"\n\
                 security_level = \"no-auth-no-priv\"",
                "enrich.snmp.v3[0].exporter",
                "10.0.0.0/8 is already given by enrich.snmp.communities[0]",
            ),
            (
                "[[snmp.v3]]\nexporter = \"10.0.0.1\"\nuser = \"\"",
                "enrich.snmp.v3[0].user",
                "1 to 32 bytes",
            ),
            (
                "[[snmp.v3]]\nexporter = \"10.0.0.1\"\nuser = \"u\"",
                "enrich.snmp.v3[0].auth_protocol",
                "is missing: security_level auth-priv needs one of md5, sha",
            ),
            (
                "[[snmp.v3]]\nexporter = \"10.0.0.1\"\nuser = \"u\"\nauth_protocol = \"md5\"",
                "enrich.snmp.v3[0].auth_password",
                "is missing",
            ),
            (
                "[[snmp.v3]]\nexporter = \"10.0.0.1\"\nuser = \"u\"\nauth_protocol = \"md5\"\n\
                 auth_password = \"short\"",
                "enrich.snmp.v3[0].auth_password",
                "shorter than 8 characters",
            ),
            (
                "[[snmp.v3]]\nexporter = \"10.0.0.1\"\nuser = \"u\"\nauth_protocol = \"md5\"\n\
                 auth_password = \"long enough\"",
                "enrich.snmp.v3[0].privacy_protocol",
                "is missing: security_level auth-priv needs one of des, aes",
            ),
            (
                "[[snmp.v3]]\nexporter = \"10.0.0.1\"\nuser = \"u\"\n\
                 security_level = \"auth-no-priv\"\nauth_protocol = \"md5\"\n\
                 auth_password = \"long enough\"\nprivacy_protocol = \"aes\"",
                "enrich.snmp.v3[0].privacy_protocol",
                "is given but security_level is auth-no-priv",
            ),
            (
                "[[snmp.v3]]\nexporter = \"10.0.0.1\"\nuser = \"u\"\n\
                 security_level = \"no-auth-no-priv\"\nauth_password = \"long enough\"",
                "enrich.snmp.v3[0].auth_password",
                "is given but security_level is no-auth-no-priv",
            ),
        ];
        for (text, key, reason) in cases {
            let e = error(text);
            assert_eq!(e.key, *key, "{text}: {e}");
            assert!(e.reason.contains(reason), "{text}: {e}");
        }
    }

    #[test]
    fn the_enrich_section_validates_its_snmp_part() {
        let c: EnrichConfig = toml::from_str("[snmp]\nport = 0\n").unwrap();
        assert_eq!(c.validate().unwrap_err().key, "enrich.snmp.port");
    }

    const IF_NAME: &[u64] = &[1, 3, 6, 1, 2, 1, 31, 1, 1, 1, 1];

    fn oid(tail: &[u64]) -> Vec<u64> {
        [IF_NAME, tail].concat()
    }

    #[test]
    fn a_walk_takes_rows_of_its_column_and_ends_past_it() {
        let text = || Cell::Text(b"Gi0/0/0".to_vec());
        let last = oid(&[]);
        assert_eq!(
            walk_step(IF_NAME, &last, Some(&oid(&[3])), text()),
            Ok(Step::Row(3, text()))
        );
        // The next column, or the end of the view, ends the walk.
        let next_column = [&IF_NAME[..10], &[2, 1]].concat();
        assert_eq!(
            walk_step(IF_NAME, &last, Some(&next_column), text()),
            Ok(Step::End)
        );
        assert_eq!(
            walk_step(IF_NAME, &last, Some(&oid(&[4])), Cell::EndOfMibView),
            Ok(Step::End)
        );
        // Not one ifIndex: stepped over.
        assert_eq!(
            walk_step(IF_NAME, &last, Some(&oid(&[1, 2])), text()),
            Ok(Step::Skip)
        );
        assert_eq!(
            walk_step(IF_NAME, &last, Some(&oid(&[1 << 40])), text()),
            Ok(Step::Skip)
        );
    }

    #[test]
    fn rejects_a_walk_that_goes_backwards_or_stands_still() {
        let last = oid(&[5]);
        for back in [oid(&[5]), oid(&[4]), oid(&[4, 9])] {
            let e = walk_step(IF_NAME, &last, Some(&back), Cell::Number(1)).unwrap_err();
            assert!(e.contains("does not follow"), "{e}");
        }
        assert!(walk_step(IF_NAME, &last, None, Cell::Number(1)).is_err());
    }

    #[test]
    fn assembles_rows_by_if_index_from_every_column() {
        let t = |s: &str| Cell::Text(s.as_bytes().to_vec());
        let rows = assemble(
            &[(2, t("Gi0/2")), (1, t("Gi0/1\0")), (3, Cell::Number(9))],
            &[(1, t("  transit: A ")), (2, t(""))],
            &[
                (1, Cell::Number(1000)),
                (2, Cell::Number(0)),
                (9, Cell::Number(10)),
            ],
            false,
        );
        assert_eq!(
            rows,
            vec![
                PolledInterface {
                    if_index: 1,
                    name: Some("Gi0/1".into()),
                    description: Some("transit: A".into()),
                    speed_mbps: Some(1000),
                },
                PolledInterface {
                    if_index: 2,
                    name: Some("Gi0/2".into()),
                    description: None,
                    speed_mbps: None,
                },
                PolledInterface {
                    if_index: 3,
                    name: None,
                    description: None,
                    speed_mbps: None,
                },
                PolledInterface {
                    if_index: 9,
                    name: None,
                    description: None,
                    speed_mbps: Some(10),
                },
            ]
        );
    }

    #[test]
    fn if_speed_in_bits_is_rounded_to_mbits_and_saturation_is_no_speed() {
        let speeds = [
            (1, Cell::Number(100_000_000)),
            (2, Cell::Number(1_544_000)),
            (3, Cell::Number(u64::from(u32::MAX))),
            (4, Cell::Number(64_000)),
        ];
        let got: Vec<_> = assemble(&[], &[], &speeds, true)
            .into_iter()
            .map(|r| r.speed_mbps)
            .collect();
        assert_eq!(got, vec![Some(100), Some(2), None, None]);
    }

    #[test]
    fn long_or_invalid_text_is_cut_at_255_bytes_on_a_char_boundary() {
        let long = "é".repeat(200); // 400 bytes
        let got = text(&Cell::Text(long.into_bytes())).unwrap();
        assert_eq!(got.len(), 254);
        assert_eq!(text(&Cell::Text(vec![b'a', 0xff])).unwrap(), "a\u{fffd}");
        assert_eq!(text(&Cell::Number(3)), None);
    }

    fn sample_cache() -> SnmpCache {
        let mut c = SnmpCache::default();
        c.insert(
            ip("192.0.2.1"),
            1_767_225_600,
            vec![PolledInterface {
                if_index: 1,
                name: Some("Gi0/0/0".into()),
                description: Some("transit: ISP-A".into()),
                speed_mbps: Some(1000),
            }],
        );
        c.insert(ip("2001:db8::1"), 1_767_225_601, Vec::new());
        c
    }

    #[test]
    fn the_cache_file_round_trips_in_the_documented_format() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cache.json");
        let c = sample_cache();
        c.save(&path).unwrap();
        assert_eq!(SnmpCache::load(&path).unwrap(), c);
        assert!(!dir.path().join("cache.json.tmp").exists());
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(
            text,
            "{\"version\":1,\"exporters\":{\"192.0.2.1\":{\"polled_at\":1767225600,\
             \"interfaces\":[{\"if_index\":1,\"name\":\"Gi0/0/0\",\"description\":\
             \"transit: ISP-A\",\"speed_mbps\":1000}]},\"2001:db8::1\":{\"polled_at\":\
             1767225601,\"interfaces\":[]}}}\n"
        );
        // A second save replaces the file whole.
        let mut c2 = c.clone();
        c2.insert(ip("192.0.2.1"), 1_767_226_200, Vec::new());
        c2.save(&path).unwrap();
        assert_eq!(SnmpCache::load(&path).unwrap(), c2);
    }

    #[test]
    fn a_missing_cache_is_empty_and_a_corrupt_one_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("none.json");
        assert!(SnmpCache::load(&missing).unwrap().is_empty());
        for (bytes, says) in [
            (&b"{\"version\":1,\"exporters\":{"[..], "EOF"),
            (b"{\"version\":2,\"exporters\":{}}", "version 2"),
            (
                b"{\"version\":1,\"exporters\":{\"not-an-ip\":{}}}",
                "invalid",
            ),
            (b"\xff\xfe", "expected value"),
        ] {
            let path = dir.path().join("bad.json");
            std::fs::write(&path, bytes).unwrap();
            let e = SnmpCache::load(&path).unwrap_err();
            assert!(matches!(e, CacheError::Corrupt { .. }), "{e}");
            assert!(e.to_string().contains(says), "{e}");
        }
    }

    #[test]
    fn a_corrupt_cache_does_not_stop_the_poller_from_starting() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cache.json");
        std::fs::write(&path, "not json").unwrap();
        let cfg = SnmpConfig {
            cache: Some(path.clone()),
            ..SnmpConfig::default()
        };
        assert!(Poller::new(&cfg).unwrap().cache().is_empty());
        sample_cache().save(&path).unwrap();
        assert_eq!(Poller::new(&cfg).unwrap().cache(), &sample_cache());
    }

    #[test]
    fn an_exporter_is_due_once_per_interval_and_new_ones_first() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cache.json");
        sample_cache().save(&path).unwrap(); // 192.0.2.1 at ...600, 2001:db8::1 at ...601
        let cfg = SnmpConfig {
            interval_secs: 60,
            cache: Some(path),
            ..SnmpConfig::default()
        };
        let p = Poller::new(&cfg).unwrap();
        let (a, b, new) = (ip("192.0.2.1"), ip("2001:db8::1"), ip("198.51.100.7"));
        let seen = [b, a, new, new];
        assert_eq!(p.due(&seen, 1_767_225_600 + 59), vec![new]);
        assert_eq!(p.due(&seen, 1_767_225_600 + 60), vec![new, a]);
        assert_eq!(p.due(&seen, 1_767_225_600 + 61), vec![new, a, b]);
    }
}
