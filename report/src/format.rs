//! The output formats of a report, and which renderer makes each.
//!
//! Owns: [`Format`]: its names (the CLI values), file extensions and the dispatch to the text
//! renderers ([`crate::render`]) and the HTML page ([`crate::html`]).
//! Must never: format anything itself.

use crate::Report;
use crate::html::html;
use crate::render::{csv, json_value, table};

/// The output formats.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Format {
    /// Aligned columns for a terminal.
    Table,
    /// CSV, raw numbers.
    Csv,
    /// JSON, raw numbers.
    Json,
    /// A self-contained HTML page.
    Html,
}

impl Format {
    /// Every format.
    pub const ALL: [Format; 4] = [Format::Table, Format::Csv, Format::Json, Format::Html];

    /// Name, also the CLI value.
    pub fn as_str(self) -> &'static str {
        match self {
            Format::Table => "table",
            Format::Csv => "csv",
            Format::Json => "json",
            Format::Html => "html",
        }
    }

    /// File extension.
    pub fn extension(self) -> &'static str {
        match self {
            Format::Table => "txt",
            other => other.as_str(),
        }
    }

    /// Render a report.
    pub fn render(self, r: &Report) -> String {
        match self {
            Format::Table => table(r),
            Format::Csv => csv(r),
            Format::Json => {
                let mut s = serde_json::to_string_pretty(&json_value(r)).unwrap_or_default();
                s.push('\n');
                s
            }
            Format::Html => html(r),
        }
    }
}

impl std::str::FromStr for Format {
    type Err = crate::ReportError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Format::ALL
            .into_iter()
            .find(|f| f.as_str() == s)
            .ok_or_else(|| {
                crate::invalid(
                    "format",
                    format!(
                        "{:?} is not one of table, csv, json, html",
                        crate::truncate(s)
                    ),
                )
            })
    }
}
