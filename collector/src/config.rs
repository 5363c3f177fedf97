//! Decoder configuration: the `[decoder]` section of `sluice.toml`.
//!
//! Two steps: [`DecoderConfig`] is what serde reads (unknown fields are errors); [`DecoderConfig::validate`]
//! checks it without I/O and returns [`DecoderSettings`], the only form the decoder accepts.

use serde::{Deserialize, Serialize};

use crate::cidr::Cidr;
use crate::template::EnterpriseMap;

/// Decoder settings as written in the config file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DecoderConfig {
    /// Seconds after which a template that was not refreshed is forgotten.
    #[serde(default = "default_template_ttl_secs")]
    pub template_ttl_secs: u64,
    /// Most templates (data plus options) one exporter scope (address, domain) may hold.
    #[serde(default = "default_max_templates_per_exporter")]
    pub max_templates_per_exporter: usize,
    /// Most fields one template may have; larger templates are rejected.
    #[serde(default = "default_max_fields_per_template")]
    pub max_fields_per_template: usize,
    /// Bytes of template state across all exporters; past it the least recently used exporter's
    /// state is evicted (counted as `template_budget`).
    #[serde(default = "default_template_memory_bytes")]
    pub template_memory_bytes: usize,
    /// Bytes of data held per exporter scope while its template is missing.
    #[serde(default = "default_pending_bytes_per_exporter")]
    pub pending_bytes_per_exporter: usize,
    /// Bytes of data held across all exporters while templates are missing.
    #[serde(default = "default_pending_bytes_total")]
    pub pending_bytes_total: usize,
    /// Seconds data waits for its template before it is dropped (counted as `pending_dropped`).
    #[serde(default = "default_pending_ttl_secs")]
    pub pending_ttl_secs: u64,
    /// Records whose end is further than this from the export time are flagged (not dropped).
    #[serde(default = "default_max_time_skew_secs")]
    pub max_time_skew_secs: u64,
    /// Sampling rate for records whose exporter says nothing about sampling. Unset: such records are
    /// kept with rate 1 and marked `unknown`.
    #[serde(default)]
    pub default_sampling_rate: Option<u32>,
    /// Sampling rates that override whatever the exporter says, by exporter address prefix.
    #[serde(default)]
    pub sampling_overrides: Vec<SamplingOverride>,
    /// Vendor (enterprise) fields to decode as a standard information element.
    #[serde(default)]
    pub enterprise_fields: Vec<EnterpriseField>,
}

/// A sampling rate forced for exporters in a prefix.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SamplingOverride {
    /// Exporter address prefix, e.g. `192.0.2.0/24` or `2001:db8::1`.
    pub cidr: String,
    /// The rate (1 in N) to apply.
    pub rate: u32,
}

/// A vendor field mapped onto a standard information element.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EnterpriseField {
    /// Private enterprise number.
    pub pen: u32,
    /// The vendor's element id.
    pub id: u16,
    /// The IANA information element to decode it as (e.g. 1 for octetDeltaCount).
    pub as_ie: u16,
}

fn default_template_ttl_secs() -> u64 {
    1800
}
fn default_max_templates_per_exporter() -> usize {
    1024
}
fn default_max_fields_per_template() -> usize {
    256
}
fn default_template_memory_bytes() -> usize {
    64 << 20
}
fn default_pending_bytes_per_exporter() -> usize {
    1 << 20
}
fn default_pending_bytes_total() -> usize {
    64 << 20
}
fn default_pending_ttl_secs() -> u64 {
    120
}
fn default_max_time_skew_secs() -> u64 {
    3600
}

impl Default for DecoderConfig {
    fn default() -> Self {
        DecoderConfig {
            template_ttl_secs: default_template_ttl_secs(),
            max_templates_per_exporter: default_max_templates_per_exporter(),
            max_fields_per_template: default_max_fields_per_template(),
            template_memory_bytes: default_template_memory_bytes(),
            pending_bytes_per_exporter: default_pending_bytes_per_exporter(),
            pending_bytes_total: default_pending_bytes_total(),
            pending_ttl_secs: default_pending_ttl_secs(),
            max_time_skew_secs: default_max_time_skew_secs(),
            default_sampling_rate: None,
            sampling_overrides: Vec::new(),
            enterprise_fields: Vec::new(),
        }
    }
}

/// A configuration error: the field path and why.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{path}: {reason}")]
pub struct ConfigError {
    /// Dotted path of the offending field, e.g. `decoder.sampling_overrides[1].cidr`.
    pub path: String,
    /// What is wrong with it.
    pub reason: String,
}

impl ConfigError {
    pub(crate) fn new(path: impl Into<String>, reason: impl Into<String>) -> Self {
        ConfigError {
            path: path.into(),
            reason: reason.into(),
        }
    }
}

/// Validated decoder settings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DecoderSettings {
    /// Template time to live, ms.
    pub template_ttl_ms: i64,
    /// See [`DecoderConfig::max_templates_per_exporter`].
    pub max_templates_per_exporter: usize,
    /// See [`DecoderConfig::max_fields_per_template`].
    pub max_fields_per_template: usize,
    /// See [`DecoderConfig::template_memory_bytes`].
    pub template_memory_bytes: usize,
    /// See [`DecoderConfig::pending_bytes_per_exporter`].
    pub pending_bytes_per_exporter: usize,
    /// See [`DecoderConfig::pending_bytes_total`].
    pub pending_bytes_total: usize,
    /// Pending data time to live, ms.
    pub pending_ttl_ms: i64,
    /// Time skew tolerance, ms.
    pub max_time_skew_ms: i64,
    /// See [`DecoderConfig::default_sampling_rate`].
    pub default_sampling_rate: Option<u32>,
    /// Parsed overrides, first match wins.
    pub sampling_overrides: Vec<(Cidr, u32)>,
    /// Parsed enterprise mappings.
    pub enterprise_fields: Vec<EnterpriseMap>,
}

impl Default for DecoderSettings {
    fn default() -> Self {
        DecoderConfig::default()
            .validate("decoder")
            .expect("defaults are valid")
    }
}

impl DecoderConfig {
    /// Check every field (no I/O). `prefix` is the path of this section, for error messages.
    pub fn validate(&self, prefix: &str) -> Result<DecoderSettings, ConfigError> {
        let p = |f: &str| format!("{prefix}.{f}");
        if self.template_ttl_secs == 0 {
            return Err(ConfigError::new(
                p("template_ttl_secs"),
                "must be at least 1",
            ));
        }
        if self.max_templates_per_exporter == 0 {
            return Err(ConfigError::new(
                p("max_templates_per_exporter"),
                "must be at least 1",
            ));
        }
        if !(1..=4096).contains(&self.max_fields_per_template) {
            return Err(ConfigError::new(
                p("max_fields_per_template"),
                "must be 1 to 4096",
            ));
        }
        if self.template_memory_bytes < 64 << 10 {
            return Err(ConfigError::new(
                p("template_memory_bytes"),
                "must be at least 65536",
            ));
        }
        if self.default_sampling_rate == Some(0) {
            return Err(ConfigError::new(
                p("default_sampling_rate"),
                "must be at least 1",
            ));
        }
        let mut overrides = Vec::with_capacity(self.sampling_overrides.len());
        for (i, o) in self.sampling_overrides.iter().enumerate() {
            let cidr = o.cidr.parse::<Cidr>().map_err(|e| {
                ConfigError::new(p(&format!("sampling_overrides[{i}].cidr")), e.to_string())
            })?;
            if o.rate == 0 {
                return Err(ConfigError::new(
                    p(&format!("sampling_overrides[{i}].rate")),
                    "must be at least 1",
                ));
            }
            overrides.push((cidr, o.rate));
        }
        let mut enterprise = Vec::with_capacity(self.enterprise_fields.len());
        for (i, e) in self.enterprise_fields.iter().enumerate() {
            if e.pen == 0 {
                return Err(ConfigError::new(
                    p(&format!("enterprise_fields[{i}].pen")),
                    "0 is IANA, not an enterprise",
                ));
            }
            if e.id > 0x7fff || e.as_ie > 0x7fff {
                return Err(ConfigError::new(
                    p(&format!("enterprise_fields[{i}]")),
                    "element ids are 15 bits",
                ));
            }
            enterprise.push(EnterpriseMap {
                pen: e.pen,
                id: e.id,
                as_ie: e.as_ie,
            });
        }
        let secs = |s: u64| i64::try_from(s.saturating_mul(1000)).unwrap_or(i64::MAX);
        Ok(DecoderSettings {
            template_ttl_ms: secs(self.template_ttl_secs),
            max_templates_per_exporter: self.max_templates_per_exporter,
            max_fields_per_template: self.max_fields_per_template,
            template_memory_bytes: self.template_memory_bytes,
            pending_bytes_per_exporter: self.pending_bytes_per_exporter,
            pending_bytes_total: self.pending_bytes_total,
            pending_ttl_ms: secs(self.pending_ttl_secs),
            max_time_skew_ms: secs(self.max_time_skew_secs),
            default_sampling_rate: self.default_sampling_rate,
            sampling_overrides: overrides,
            enterprise_fields: enterprise,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_validate() {
        let s = DecoderConfig::default().validate("decoder").unwrap();
        assert_eq!(s.template_ttl_ms, 1_800_000);
        assert_eq!(s.default_sampling_rate, None);
    }

    #[test]
    fn errors_name_the_field_path() {
        let cfg = DecoderConfig {
            sampling_overrides: vec![
                SamplingOverride {
                    cidr: "10.0.0.0/8".into(),
                    rate: 100,
                },
                SamplingOverride {
                    cidr: "10.0.0.1/8".into(),
                    rate: 10,
                },
            ],
            ..Default::default()
        };
        let e = cfg.validate("decoder").unwrap_err();
        assert_eq!(e.path, "decoder.sampling_overrides[1].cidr");
        assert!(e.reason.contains("host bits"), "{e}");
    }

    #[test]
    fn unknown_fields_are_rejected() {
        let e = serde_json::from_str::<DecoderConfig>(r#"{"template_ttl": 5}"#).unwrap_err();
        assert!(e.to_string().contains("unknown field"), "{e}");
    }
}
