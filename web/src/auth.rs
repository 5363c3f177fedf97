//! Checking requests against `[web.auth]`.
//!
//! Owns: loading the secret at start ([`Auth::load`]: the environment variable or the file), the
//! bearer comparison (constant time), and basic auth against an argon2 PHC hash, verified once
//! per distinct credential (argon2 is slow by design; the console sends the header on every
//! request). Must never: log a secret or a credential.

use std::sync::Mutex;

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use base64::Engine;

use crate::config::{AuthConfig, AuthKind};

/// A loaded `[web.auth]`.
pub struct Auth {
    kind: AuthKind,
    user: String,
    /// The token (bearer) or the PHC hash (basic).
    secret: String,
    /// The `Authorization` value of the last credential that verified (basic).
    verified: Mutex<Option<String>>,
}

/// Why the secret could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// The environment variable is unset or empty.
    #[error("web.auth: environment variable {0} is unset or empty")]
    Env(String),
    /// The file cannot be read or is empty.
    #[error("web.auth: cannot read {path}: {reason}")]
    File {
        /// The file.
        path: String,
        /// Why.
        reason: String,
    },
    /// Basic auth: the secret is not a PHC hash.
    #[error(
        "web.auth: the password hash is not a PHC string (make one with `sluice web hash-password`)"
    )]
    Hash,
    /// A bearer token shorter than 16 characters.
    #[error("web.auth: the bearer token must be at least 16 characters")]
    ShortToken,
}

impl Auth {
    /// Read the secret (environment or file) and check its form.
    pub fn load(c: &AuthConfig) -> Result<Auth, AuthError> {
        let secret = if let Some(var) = &c.secret_env {
            std::env::var(var)
                .ok()
                .filter(|v| !v.trim().is_empty())
                .ok_or_else(|| AuthError::Env(var.clone()))?
        } else if let Some(path) = &c.secret_file {
            let text = std::fs::read_to_string(path).map_err(|e| AuthError::File {
                path: path.display().to_string(),
                reason: e.to_string(),
            })?;
            if text.trim().is_empty() {
                return Err(AuthError::File {
                    path: path.display().to_string(),
                    reason: "empty".into(),
                });
            }
            text
        } else {
            return Err(AuthError::Env(String::new()));
        };
        let secret = secret.trim().to_string();
        match c.kind {
            AuthKind::Basic => {
                PasswordHash::new(&secret).map_err(|_| AuthError::Hash)?;
            }
            AuthKind::Bearer if secret.len() < 16 => return Err(AuthError::ShortToken),
            AuthKind::Bearer => {}
        }
        Ok(Auth {
            kind: c.kind,
            user: c.user.clone().unwrap_or_default(),
            secret,
            verified: Mutex::new(None),
        })
    }

    /// The `WWW-Authenticate` challenge of this kind.
    pub fn challenge(&self) -> &'static str {
        match self.kind {
            AuthKind::Bearer => "Bearer realm=\"sluice\"",
            AuthKind::Basic => "Basic realm=\"sluice\", charset=\"UTF-8\"",
        }
    }

    /// Whether an `Authorization` header value is allowed.
    pub fn check(&self, header: Option<&str>) -> bool {
        let Some(h) = header else { return false };
        match self.kind {
            AuthKind::Bearer => h
                .strip_prefix("Bearer ")
                .is_some_and(|t| constant_time_eq(t.trim().as_bytes(), self.secret.as_bytes())),
            AuthKind::Basic => {
                if let Ok(v) = self.verified.lock()
                    && v.as_deref()
                        .is_some_and(|v| constant_time_eq(v.as_bytes(), h.as_bytes()))
                {
                    return true;
                }
                let ok = self.verify_basic(h);
                if ok && let Ok(mut v) = self.verified.lock() {
                    *v = Some(h.to_string());
                }
                ok
            }
        }
    }

    fn verify_basic(&self, h: &str) -> bool {
        let Some(b64) = h.strip_prefix("Basic ") else {
            return false;
        };
        let Ok(raw) = base64::engine::general_purpose::STANDARD.decode(b64.trim()) else {
            return false;
        };
        let Ok(text) = String::from_utf8(raw) else {
            return false;
        };
        let Some((user, password)) = text.split_once(':') else {
            return false;
        };
        let Ok(hash) = PasswordHash::new(&self.secret) else {
            return false;
        };
        constant_time_eq(user.as_bytes(), self.user.as_bytes())
            && argon2::Argon2::default()
                .verify_password(password.as_bytes(), &hash)
                .is_ok()
    }
}

/// Hash a password for basic auth (argon2id, a random salt), as a PHC string.
pub fn hash_password(password: &str) -> Result<String, String> {
    let mut bytes = [0u8; 16];
    getrandom(&mut bytes)?;
    let salt = SaltString::encode_b64(&bytes).map_err(|e| e.to_string())?;
    argon2::Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| e.to_string())
}

/// Random bytes from the kernel.
fn getrandom(out: &mut [u8]) -> Result<(), String> {
    use std::io::Read;
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(out))
        .map_err(|e| format!("reading /dev/urandom: {e}"))
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn basic(user: &str, password: &str) -> String {
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
        )
    }

    #[test]
    fn bearer_and_basic_accept_only_the_right_credential() {
        let dir = std::env::temp_dir().join(format!("sluice-auth-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let token = dir.join("token");
        std::fs::write(&token, "0123456789abcdef-token\n").unwrap();
        let a = Auth::load(&AuthConfig {
            kind: AuthKind::Bearer,
            user: None,
            secret_env: None,
            secret_file: Some(token.clone()),
        })
        .unwrap();
        assert!(a.check(Some("Bearer 0123456789abcdef-token")));
        assert!(!a.check(Some("Bearer 0123456789abcdef-tokeN")));
        assert!(!a.check(Some("0123456789abcdef-token")));
        assert!(!a.check(None));

        let hash = dir.join("hash");
        std::fs::write(&hash, hash_password("s3cret pass").unwrap()).unwrap();
        let b = Auth::load(&AuthConfig {
            kind: AuthKind::Basic,
            user: Some("noc".into()),
            secret_env: None,
            secret_file: Some(hash),
        })
        .unwrap();
        assert!(b.check(Some(&basic("noc", "s3cret pass"))));
        // The cached credential is the one that verified, nothing else.
        assert!(b.check(Some(&basic("noc", "s3cret pass"))));
        assert!(!b.check(Some(&basic("noc", "s3cret pasS"))));
        assert!(!b.check(Some(&basic("root", "s3cret pass"))));
        assert!(!b.check(Some("Basic !!!")));

        std::fs::write(&token, "short").unwrap();
        assert!(matches!(
            Auth::load(&AuthConfig {
                kind: AuthKind::Bearer,
                user: None,
                secret_env: None,
                secret_file: Some(token),
            }),
            Err(AuthError::ShortToken)
        ));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
