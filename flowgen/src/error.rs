//! The one error type of the load tools.

use crate::encode::EncodeError;

/// What the load tools report.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An argument out of range, or a target the tool refuses.
    #[error("{0}")]
    Invalid(String),
    /// A file or socket operation failed.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// A capture could not be read.
    #[error(transparent)]
    Capture(#[from] collector::capture::CaptureError),
    /// The encoder refused the traffic.
    #[error("encoding: {0}")]
    Encode(#[from] EncodeError),
}

/// Adds what was being done to an I/O error.
pub(crate) trait IoContext<T> {
    fn context_with(self, f: impl FnOnce() -> String) -> Result<T, Error>;
}

impl<T> IoContext<T> for std::io::Result<T> {
    fn context_with(self, f: impl FnOnce() -> String) -> Result<T, Error> {
        self.map_err(|source| Error::Io {
            context: f(),
            source,
        })
    }
}

/// `Err(Error::Invalid(..))` from a format string.
macro_rules! invalid {
    ($($t:tt)*) => { return Err($crate::Error::Invalid(format!($($t)*))) };
}
pub(crate) use invalid;
