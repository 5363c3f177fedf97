//! Decode errors: small `Copy` values that never allocate, and the kinds they are counted by.
//!
//! Owns: [`DecodeError`] (what went wrong, with static context) and [`ErrorKind`] (the label it is
//! counted under, per exporter, in metrics and in `sluice decode`'s summary).
//! Must never: carry owned data or formatting work on the hot path.

/// Why a datagram, a set, a template or a record was rejected.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// Fewer bytes than the structure needs.
    #[error("truncated: {0}")]
    Truncated(&'static str),
    /// A length field that cannot be right.
    #[error("bad length: {0}")]
    BadLength(&'static str),
    /// A count field that cannot be right.
    #[error("bad count: {0}")]
    BadCount(&'static str),
    /// The version is not 5, 9 or 10.
    #[error("unsupported version {0}")]
    UnsupportedVersion(u16),
    /// A set id that is reserved or unknown.
    #[error("bad set id {0}")]
    BadSetId(u16),
    /// A template that is malformed or absurd.
    #[error("invalid template: {0}")]
    InvalidTemplate(&'static str),
    /// A template refused because its scope already holds the configured number of templates.
    #[error("template limit per exporter reached")]
    TemplateLimit,
    /// Template state evicted to keep within the global byte budget.
    #[error("template budget exceeded, state evicted")]
    TemplateBudget,
    /// Data held for a missing template that was dropped (buffer full or expired).
    #[error("pending data dropped: {0}")]
    PendingDropped(&'static str),
    /// A field value whose length the decoder cannot interpret (e.g. a 5-byte address).
    #[error("field length not supported: {0}")]
    FieldLength(&'static str),
}

/// The label a rejection is counted under.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub enum ErrorKind {
    /// See [`DecodeError::Truncated`].
    Truncated,
    /// See [`DecodeError::BadLength`].
    BadLength,
    /// See [`DecodeError::BadCount`].
    BadCount,
    /// See [`DecodeError::UnsupportedVersion`].
    UnsupportedVersion,
    /// See [`DecodeError::BadSetId`].
    BadSetId,
    /// See [`DecodeError::InvalidTemplate`].
    InvalidTemplate,
    /// See [`DecodeError::TemplateLimit`].
    TemplateLimit,
    /// See [`DecodeError::TemplateBudget`].
    TemplateBudget,
    /// See [`DecodeError::PendingDropped`].
    PendingDropped,
    /// See [`DecodeError::FieldLength`].
    FieldLength,
}

impl ErrorKind {
    /// How many kinds there are (the size of a per-kind counter array).
    pub const COUNT: usize = 10;
    /// Every kind, in counter-array order.
    pub const ALL: [ErrorKind; Self::COUNT] = [
        ErrorKind::Truncated,
        ErrorKind::BadLength,
        ErrorKind::BadCount,
        ErrorKind::UnsupportedVersion,
        ErrorKind::BadSetId,
        ErrorKind::InvalidTemplate,
        ErrorKind::TemplateLimit,
        ErrorKind::TemplateBudget,
        ErrorKind::PendingDropped,
        ErrorKind::FieldLength,
    ];

    /// Stable snake_case name for metrics labels and summaries.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::Truncated => "truncated",
            ErrorKind::BadLength => "bad_length",
            ErrorKind::BadCount => "bad_count",
            ErrorKind::UnsupportedVersion => "unsupported_version",
            ErrorKind::BadSetId => "bad_set_id",
            ErrorKind::InvalidTemplate => "invalid_template",
            ErrorKind::TemplateLimit => "template_limit",
            ErrorKind::TemplateBudget => "template_budget",
            ErrorKind::PendingDropped => "pending_dropped",
            ErrorKind::FieldLength => "field_length",
        }
    }
}

impl DecodeError {
    /// The kind this error is counted under.
    pub fn kind(self) -> ErrorKind {
        match self {
            DecodeError::Truncated(_) => ErrorKind::Truncated,
            DecodeError::BadLength(_) => ErrorKind::BadLength,
            DecodeError::BadCount(_) => ErrorKind::BadCount,
            DecodeError::UnsupportedVersion(_) => ErrorKind::UnsupportedVersion,
            DecodeError::BadSetId(_) => ErrorKind::BadSetId,
            DecodeError::InvalidTemplate(_) => ErrorKind::InvalidTemplate,
            DecodeError::TemplateLimit => ErrorKind::TemplateLimit,
            DecodeError::TemplateBudget => ErrorKind::TemplateBudget,
            DecodeError::PendingDropped(_) => ErrorKind::PendingDropped,
            DecodeError::FieldLength(_) => ErrorKind::FieldLength,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_are_in_counter_order_and_named_uniquely() {
        for (i, k) in ErrorKind::ALL.iter().enumerate() {
            assert_eq!(*k as usize, i);
        }
        let mut names: Vec<_> = ErrorKind::ALL.iter().map(|k| k.as_str()).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), ErrorKind::COUNT);
        assert_eq!(DecodeError::BadSetId(3).kind(), ErrorKind::BadSetId);
        assert!(std::mem::size_of::<DecodeError>() <= 24);
    }
}
