//! The filter language: `src_addr = 10.0.0.0/8 and proto = tcp and not dst_port in (53, 123)`.
//! One language for `sluice report --filter`, the JSON API and the web console.
//!
//! Owns: parsing a filter ([`FilterExpr::parse`], grammar in `filter.pest`) into a typed AST whose
//! values are checked against the field's [`FieldType`] at parse time, the limits that keep hostile
//! input cheap (checked before the grammar runs), errors with a position and what was expected
//! ([`FilterError`]), the canonical text ([`FilterExpr::to_text`]) and the SQL ([`FilterExpr::to_sql`]).
//!
//! Must never: put a caller's text into SQL. [`FilterExpr::to_sql`] writes fixed fragments, column
//! names from [`Field::column`] and `?` marks only; every value is an [`Arg`] bound by the client.
//! Addresses are bound as the hex of their 16 stored bytes (IPv4 is stored IPv4-mapped), which
//! orders like the bytes, so a prefix is a `BETWEEN` of its first and last address. When the
//! caller knows the server's address type ([`AddrType`]: FixedString(16) on 18.16, IPv6 on modern
//! servers) the bare column is compared with a constant of that type, which lets the server use the
//! sort key and builds no string per row; otherwise `hex(col)` is compared with the hex, which
//! works on every server. Over 24 h of `flows_5m` the first took 0.19 s where the second took
//! 0.46 s on 18.16 (`benches/reports.sh` with `SLUICE_BENCH_LAYOUT=1`).

use std::fmt;
use std::net::{IpAddr, Ipv6Addr};

use pest::Parser;
use pest::iterators::Pair;

use crate::fields::{Field, FieldType, PROTOCOLS, protocol_number};
use crate::library::Arg;

/// Longest filter, in bytes.
pub const MAX_LEN: usize = 2048;
/// Deepest parenthesis nesting.
pub const MAX_DEPTH: usize = 32;
/// Most values in one `in (...)` list.
pub const MAX_LIST: usize = 256;
/// Most comparisons in one filter.
pub const MAX_COMPARISONS: usize = 128;
/// Longest text value, in characters.
pub const MAX_TEXT: usize = 256;

#[derive(pest_derive::Parser)]
#[grammar = "filter.pest"]
struct Grammar;

/// A filter that cannot be used: where, what was expected there, and a sentence saying both.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FilterError {
    /// 0-based character offset into the input.
    pub position: usize,
    /// What would have been accepted there, in words (`a field name`, `)`).
    pub expected: Vec<String>,
    /// What is wrong, without the position (Display adds it).
    pub message: String,
}

impl fmt::Display for FilterError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "at character {}: {}", self.position, self.message)
    }
}

impl std::error::Error for FilterError {}

/// A comparison operator.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CmpOp {
    /// `=`
    Eq,
    /// `!=`
    Ne,
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `>`
    Gt,
    /// `>=`
    Ge,
}

impl CmpOp {
    /// The operator as written in filters and in SQL.
    pub fn as_str(self) -> &'static str {
        match self {
            CmpOp::Eq => "=",
            CmpOp::Ne => "!=",
            CmpOp::Lt => "<",
            CmpOp::Le => "<=",
            CmpOp::Gt => ">",
            CmpOp::Ge => ">=",
        }
    }

    fn from_text(s: &str) -> Option<CmpOp> {
        Some(match s {
            "=" => CmpOp::Eq,
            "!=" => CmpOp::Ne,
            "<" => CmpOp::Lt,
            "<=" => CmpOp::Le,
            ">" => CmpOp::Gt,
            ">=" => CmpOp::Ge,
            _ => return None,
        })
    }
}

/// A value, typed by the field it is compared with.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Literal {
    /// An address prefix, host bits cleared (a bare address has the full length: 32 or 128).
    Net {
        /// First address of the prefix.
        addr: IpAddr,
        /// Prefix length (at most 32 for IPv4, 128 for IPv6).
        prefix: u8,
    },
    /// An IP protocol number.
    Proto(u8),
    /// An unsigned number within the field's [`FieldType::max`].
    UInt(u64),
    /// An AS number.
    Asn(u32),
    /// Text (country codes upper-cased), at most [`MAX_TEXT`] characters.
    Text(String),
}

/// A node of the AST.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Node {
    /// Both.
    And(Box<Node>, Box<Node>),
    /// Either.
    Or(Box<Node>, Box<Node>),
    /// Not.
    Not(Box<Node>),
    /// `field op value`.
    Compare {
        /// The field.
        field: Field,
        /// The operator (only `=` and `!=` for addresses and text).
        op: CmpOp,
        /// The value, of the field's type.
        value: Literal,
    },
    /// `field in (values)` or `field not in (values)`.
    In {
        /// The field.
        field: Field,
        /// The values (1 to [`MAX_LIST`]), of the field's type.
        values: Vec<Literal>,
        /// `not in`.
        negated: bool,
    },
}

/// A parsed, typed filter. Build it with [`FilterExpr::parse`].
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct FilterExpr {
    root: Node,
}

impl FilterExpr {
    /// Parse a filter. An empty (or whitespace-only) text is an error: callers represent "no
    /// filter" as `None`.
    pub fn parse(text: &str) -> Result<FilterExpr, FilterError> {
        check_limits(text)?;
        let mut pairs = Grammar::parse(Rule::filter, text).map_err(|e| pest_error(text, e))?;
        let filter = pairs.next().ok_or_else(|| internal(text))?;
        let or = filter
            .into_inner()
            .find(|p| p.as_rule() == Rule::or_expr)
            .ok_or_else(|| internal(text))?;
        Ok(FilterExpr {
            root: build_or(text, or)?,
        })
    }

    /// The root node.
    pub fn root(&self) -> &Node {
        &self.root
    }

    /// The fields the filter names, each once, sorted.
    pub fn fields(&self) -> Vec<Field> {
        let mut out = Vec::new();
        collect_fields(&self.root, &mut out);
        out.sort();
        out.dedup();
        out
    }

    /// The canonical text: lower-case keywords, one space around operators, text values in double
    /// quotes, parentheses only where needed. Parsing it gives an equal filter.
    pub fn to_text(&self) -> String {
        let mut s = String::new();
        write_text(&self.root, &mut s);
        s
    }

    /// The SQL condition (fixed fragments, column names and `?` marks only; every part in
    /// parentheses) and the values of its marks, in order. Addresses go through `hex(col)`, which
    /// every server takes; [`FilterExpr::to_sql_for`] compares the bare column.
    pub fn to_sql(&self) -> (String, Vec<Arg>) {
        self.to_sql_for(None)
    }

    /// [`FilterExpr::to_sql`] for a server whose address columns are `addr` (`None`: unknown).
    pub fn to_sql_for(&self, addr: Option<AddrType>) -> (String, Vec<Arg>) {
        let mut sql = String::new();
        let mut args = Vec::new();
        write_sql(&self.root, addr, &mut sql, &mut args);
        (sql, args)
    }
}

impl fmt::Display for FilterExpr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_text())
    }
}

impl std::str::FromStr for FilterExpr {
    type Err = FilterError;
    fn from_str(s: &str) -> Result<FilterExpr, FilterError> {
        FilterExpr::parse(s)
    }
}

// ---------------------------------------------------------------------------------------------
// Errors

/// The character offset of byte offset `at` (clamped to the text).
fn char_pos(text: &str, at: usize) -> usize {
    let mut at = at.min(text.len());
    while !text.is_char_boundary(at) {
        at -= 1;
    }
    text[..at].chars().count()
}

/// What stands at byte `at`, for "found ...": a word, one other character, or the end.
fn found(text: &str, at: usize) -> String {
    let rest = text.get(at..).unwrap_or("");
    let word: String = rest
        .chars()
        .take_while(|c| c.is_alphanumeric() || "_.:-/".contains(*c))
        .take(24)
        .collect();
    if !word.is_empty() {
        return format!("{word:?}");
    }
    match rest.chars().next() {
        Some(c) => format!("{:?}", c.to_string()),
        None => "the end of the filter".into(),
    }
}

fn error_at(text: &str, at: usize, expected: &[&str], what: Option<String>) -> FilterError {
    let expected: Vec<String> = expected.iter().map(|s| s.to_string()).collect();
    let message = match what {
        Some(w) => format!("{w}; expected {}", join_or(&expected)),
        None => format!("expected {}, found {}", join_or(&expected), found(text, at)),
    };
    FilterError {
        position: char_pos(text, at),
        expected,
        message,
    }
}

fn internal(text: &str) -> FilterError {
    error_at(
        text,
        0,
        &[EXP_FILTER],
        Some("the filter could not be read".into()),
    )
}

/// `a`, `a or b`, `a, b or c`.
fn join_or(items: &[String]) -> String {
    match items {
        [] => String::new(),
        [one] => one.clone(),
        [rest @ .., last] => format!("{} or {last}", rest.join(", ")),
    }
}

const EXP_OP: &str = "a comparison operator (=, !=, <, <=, >, >=, in, not in)";
const EXP_FIELD: &str = "a field name";
const EXP_VALUE: &str = "a value";
const EXP_END: &str = "the end of the filter";
const EXP_FILTER: &str = "a comparison such as `proto = tcp`";

const EXP_ESCAPE: &str = "an escape (\\\\, \\\", \\', \\n, \\t, \\r, \\0, \\u{...})";

/// What a rule of the grammar is called in an error.
fn rule_names(r: Rule) -> &'static [&'static str] {
    match r {
        Rule::field => &[EXP_FIELD],
        Rule::cmp_op | Rule::compare | Rule::in_list | Rule::not_in | Rule::kw_in => &[EXP_OP],
        Rule::value | Rule::bare | Rule::quoted => &[EXP_VALUE],
        Rule::dq_text | Rule::sq_text | Rule::escape => &[EXP_ESCAPE],
        Rule::lparen => &["\"(\""],
        Rule::rparen => &["\")\""],
        Rule::comma => &["\",\""],
        Rule::kw_and => &["\"and\""],
        Rule::kw_or => &["\"or\""],
        Rule::kw_not => &["\"not\""],
        Rule::EOI => &[EXP_END],
        _ => &[EXP_FIELD, "\"not\"", "\"(\""],
    }
}

/// A quote the grammar could not read from byte `at`: an escape it does not know, or no closing
/// quote.
fn quote_error(text: &str, at: usize) -> Option<FilterError> {
    let q = *text.as_bytes().get(at)?;
    if q != b'"' && q != b'\'' {
        return None;
    }
    let mut it = text[at + 1..].char_indices();
    while let Some((i, c)) = it.next() {
        if c == q as char {
            return None;
        }
        if c == '\\' {
            let ok = match it.next() {
                Some((_, e)) => "\"'\\ntr0u".contains(e),
                None => false,
            };
            if !ok {
                return Some(error_at(text, at + 1 + i, &[EXP_ESCAPE], None));
            }
        }
    }
    Some(error_at(
        text,
        text.len(),
        &[if q == b'"' {
            "a closing '\"'"
        } else {
            "a closing \"'\""
        }],
        Some(format!(
            "the string opened at character {} is not closed",
            char_pos(text, at)
        )),
    ))
}

fn pest_error(text: &str, e: pest::error::Error<Rule>) -> FilterError {
    let at = match e.location {
        pest::error::InputLocation::Pos(p) => p,
        pest::error::InputLocation::Span((p, _)) => p,
    };
    if let Some(q) = quote_error(text, at) {
        return q;
    }
    let mut names: Vec<&str> = match &e.variant {
        pest::error::ErrorVariant::ParsingError { positives, .. } => positives
            .iter()
            .flat_map(|r| rule_names(*r).iter().copied())
            .collect(),
        pest::error::ErrorVariant::CustomError { .. } => Vec::new(),
    };
    let mut seen = std::collections::HashSet::new();
    names.retain(|n| seen.insert(*n));
    if names.is_empty() {
        names.push(EXP_FILTER);
    }
    // The end of the filter reads best last.
    names.sort_by_key(|n| *n == EXP_END);
    error_at(text, at, &names, None)
}

// ---------------------------------------------------------------------------------------------
// Limits, checked on the raw text before the grammar runs

/// Walk the text outside quotes: parenthesis depth, comparisons, list lengths. Inside a quote a
/// backslash escapes the next character; an unterminated quote ends the walk (the grammar
/// reports it, and cannot read past it).
fn check_limits(text: &str) -> Result<(), FilterError> {
    if text.len() > MAX_LEN {
        return Err(error_at(
            text,
            MAX_LEN,
            &[EXP_END],
            Some(format!("the filter is longer than {MAX_LEN} bytes")),
        ));
    }
    if text.trim().is_empty() {
        return Err(error_at(
            text,
            text.len(),
            &[EXP_FILTER],
            Some("the filter is empty".into()),
        ));
    }
    let b = text.as_bytes();
    let mut i = 0;
    let mut depth = 0usize;
    let mut comparisons = 0usize;
    // Per open parenthesis: whether it opens an `in` list, and the values seen in it.
    let mut lists: Vec<Option<usize>> = Vec::new();
    // The last word outside quotes ended at this byte (for `in (`).
    let mut last_word: (usize, usize) = (0, 0);
    let too_many_comparisons = |at: usize| {
        error_at(
            text,
            at,
            &["\"and\"", "\"or\"", EXP_END],
            Some(format!("more than {MAX_COMPARISONS} comparisons")),
        )
    };
    while i < b.len() {
        let c = b[i];
        match c {
            b'"' | b'\'' => {
                let mut j = i + 1;
                while j < b.len() && b[j] != c {
                    j += if b[j] == b'\\' { 2 } else { 1 };
                }
                if j >= b.len() {
                    return Ok(());
                }
                i = j + 1;
                continue;
            }
            b'(' => {
                depth += 1;
                if depth > MAX_DEPTH {
                    return Err(error_at(
                        text,
                        i,
                        &[EXP_FIELD],
                        Some(format!("parentheses nested deeper than {MAX_DEPTH}")),
                    ));
                }
                let (ws, we) = last_word;
                let opens_list = text[ws..we].eq_ignore_ascii_case("in")
                    && text[we..i].trim().is_empty()
                    && we > ws;
                if opens_list {
                    comparisons += 1;
                    if comparisons > MAX_COMPARISONS {
                        return Err(too_many_comparisons(ws));
                    }
                }
                lists.push(opens_list.then_some(1));
            }
            b')' => {
                depth = depth.saturating_sub(1);
                lists.pop();
            }
            b',' => {
                if let Some(Some(n)) = lists.last_mut() {
                    *n += 1;
                    if *n > MAX_LIST {
                        return Err(error_at(
                            text,
                            i,
                            &["\")\""],
                            Some(format!("more than {MAX_LIST} values in one list")),
                        ));
                    }
                }
            }
            b'=' | b'<' | b'>' | b'!' => {
                // `!=`, `<=`, `>=` are one operator; a lone `!` is not one but counts the same.
                comparisons += 1;
                if comparisons > MAX_COMPARISONS {
                    return Err(too_many_comparisons(i));
                }
                if b.get(i + 1) == Some(&b'=') && c != b'=' {
                    i += 1;
                }
            }
            c if c.is_ascii_alphanumeric() || c == b'_' => {
                let start = i;
                while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_') {
                    i += 1;
                }
                last_word = (start, i);
                continue;
            }
            _ => {}
        }
        i += 1;
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Pairs to AST

fn build_or(text: &str, p: Pair<'_, Rule>) -> Result<Node, FilterError> {
    let mut node: Option<Node> = None;
    for q in p.into_inner().filter(|q| q.as_rule() == Rule::and_expr) {
        let n = build_and(text, q)?;
        node = Some(match node {
            None => n,
            Some(l) => Node::Or(Box::new(l), Box::new(n)),
        });
    }
    node.ok_or_else(|| internal(text))
}

fn build_and(text: &str, p: Pair<'_, Rule>) -> Result<Node, FilterError> {
    let mut node: Option<Node> = None;
    for q in p.into_inner().filter(|q| q.as_rule() == Rule::not_expr) {
        let n = build_not(text, q)?;
        node = Some(match node {
            None => n,
            Some(l) => Node::And(Box::new(l), Box::new(n)),
        });
    }
    node.ok_or_else(|| internal(text))
}

fn build_not(text: &str, p: Pair<'_, Rule>) -> Result<Node, FilterError> {
    let mut nots = 0usize;
    let mut inner = None;
    for q in p.into_inner() {
        match q.as_rule() {
            Rule::kw_not => nots += 1,
            Rule::or_expr => inner = Some(build_or(text, q)?),
            Rule::comparison => inner = Some(build_comparison(text, q)?),
            _ => {}
        }
    }
    let mut node = inner.ok_or_else(|| internal(text))?;
    for _ in 0..nots {
        node = Node::Not(Box::new(node));
    }
    Ok(node)
}

fn build_comparison(text: &str, p: Pair<'_, Rule>) -> Result<Node, FilterError> {
    let mut inner = p.into_inner();
    let fp = inner.next().ok_or_else(|| internal(text))?;
    let field = parse_field(text, &fp)?;
    let rest = inner.next().ok_or_else(|| internal(text))?;
    let ty = field.ty();
    let ordered = !matches!(ty, FieldType::Addr | FieldType::Text);
    match rest.as_rule() {
        Rule::compare => {
            let mut it = rest.into_inner();
            let op_pair = it.next().ok_or_else(|| internal(text))?;
            let op = CmpOp::from_text(op_pair.as_str()).ok_or_else(|| internal(text))?;
            if !ordered && !matches!(op, CmpOp::Eq | CmpOp::Ne) {
                return Err(error_at(
                    text,
                    op_pair.as_span().start(),
                    &["=", "!=", "in", "not in"],
                    Some(format!(
                        "{field} is {} and cannot be compared with {}",
                        type_words(ty),
                        op.as_str()
                    )),
                ));
            }
            let vp = it.next().ok_or_else(|| internal(text))?;
            let value = parse_value(text, field, vp)?;
            Ok(Node::Compare { field, op, value })
        }
        Rule::in_list => {
            let mut negated = false;
            let mut values = Vec::new();
            for q in rest.into_inner() {
                match q.as_rule() {
                    Rule::not_in => negated = true,
                    Rule::value => values.push(parse_value(text, field, q)?),
                    _ => {}
                }
            }
            Ok(Node::In {
                field,
                values,
                negated,
            })
        }
        _ => Err(internal(text)),
    }
}

fn type_words(ty: FieldType) -> &'static str {
    match ty {
        FieldType::Addr => "an address",
        FieldType::Proto => "a protocol",
        FieldType::UInt(_) => "a number",
        FieldType::Asn => "an AS number",
        FieldType::Text => "text",
    }
}

fn parse_field(text: &str, p: &Pair<'_, Rule>) -> Result<Field, FilterError> {
    let name = p.as_str();
    name.parse::<Field>().map_err(|_| {
        let all: Vec<&str> = Field::ALL.iter().map(|f| f.name()).collect();
        error_at(
            text,
            p.as_span().start(),
            &[EXP_FIELD],
            Some(format!(
                "unknown field {:?} (fields: {})",
                crate::truncate(name),
                all.join(", ")
            )),
        )
    })
}

/// The text of a `value` pair: a bare word as written, a quoted string unescaped.
fn value_text(text: &str, p: &Pair<'_, Rule>) -> Result<String, FilterError> {
    let inner = p
        .clone()
        .into_inner()
        .next()
        .ok_or_else(|| internal(text))?;
    match inner.as_rule() {
        Rule::bare => Ok(inner.as_str().to_string()),
        Rule::quoted => {
            let body = inner.into_inner().next().ok_or_else(|| internal(text))?;
            unescape(text, body.as_span().start(), body.as_str())
        }
        _ => Err(internal(text)),
    }
}

/// Undo the escapes the grammar allows (`\\ \" \' \n \t \r \0 \u{...}`); `at` is the byte offset
/// of `s` in `text`, for errors.
fn unescape(text: &str, at: usize, s: &str) -> Result<String, FilterError> {
    let mut out = String::with_capacity(s.len());
    let mut it = s.char_indices();
    while let Some((i, c)) = it.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        let Some((_, e)) = it.next() else { break };
        out.push(match e {
            'n' => '\n',
            't' => '\t',
            'r' => '\r',
            '0' => '\0',
            'u' => {
                let mut hex = String::new();
                for (_, h) in it.by_ref() {
                    match h {
                        '{' => {}
                        '}' => break,
                        h => hex.push(h),
                    }
                }
                u32::from_str_radix(&hex, 16)
                    .ok()
                    .and_then(char::from_u32)
                    .ok_or_else(|| {
                        error_at(
                            text,
                            at + i,
                            &["a Unicode scalar value in \\u{...}"],
                            Some(format!("\\u{{{hex}}} is not a character")),
                        )
                    })?
            }
            other => other,
        });
    }
    Ok(out)
}

fn parse_value(text: &str, field: Field, p: Pair<'_, Rule>) -> Result<Literal, FilterError> {
    let at = p.as_span().start();
    let v = value_text(text, &p)?;
    let bad = |expected: &[&str], why: String| error_at(text, at, expected, Some(why));
    let shown = crate::truncate(&v);
    match field.ty() {
        FieldType::Addr => parse_net(&v).map_err(|why| {
            bad(
                &["an IPv4 or IPv6 address or prefix (192.0.2.1, 10.0.0.0/8, 2001:db8::/32)"],
                format!("{shown:?} for {field}: {why}"),
            )
        }),
        FieldType::Proto => {
            if let Some(n) = protocol_number(&v) {
                return Ok(Literal::Proto(n));
            }
            let names: Vec<&str> = PROTOCOLS.iter().map(|(n, _)| *n).collect();
            let exp = format!("a protocol number (0..=255) or name ({})", names.join(", "));
            parse_number(&v, 255)
                .map(|n| Literal::Proto(n as u8))
                .map_err(|why| bad(&[exp.as_str()], format!("{shown:?} for {field}: {why}")))
        }
        FieldType::Asn => {
            let digits = v
                .strip_prefix("AS")
                .or_else(|| v.strip_prefix("as"))
                .or_else(|| v.strip_prefix("As"))
                .or_else(|| v.strip_prefix("aS"))
                .unwrap_or(&v);
            parse_number(digits, u64::from(u32::MAX))
                .map(|n| Literal::Asn(n as u32))
                .map_err(|why| {
                    bad(
                        &["an AS number (13335 or AS13335)"],
                        format!("{shown:?} for {field}: {why}"),
                    )
                })
        }
        FieldType::UInt(_) => {
            let max = field.ty().max();
            parse_number(&v, max).map(Literal::UInt).map_err(|why| {
                bad(
                    &[format!("a number (0..={max})").as_str()],
                    format!("{shown:?} for {field}: {why}"),
                )
            })
        }
        FieldType::Text => {
            let n = v.chars().count();
            if n > MAX_TEXT {
                return Err(bad(
                    &[format!("text of at most {MAX_TEXT} characters").as_str()],
                    format!("the value for {field} has {n} characters"),
                ));
            }
            if matches!(field, Field::SrcCountry | Field::DstCountry) {
                let up = v.to_ascii_uppercase();
                if !(up.is_empty() || (up.len() == 2 && up.bytes().all(|c| c.is_ascii_uppercase())))
                {
                    return Err(bad(
                        &["a two-letter country code (FR, US), or \"\" for unknown"],
                        format!("{shown:?} is not a country code"),
                    ));
                }
                return Ok(Literal::Text(up));
            }
            Ok(Literal::Text(v))
        }
    }
}

/// Decimal digits only, at most `max`.
fn parse_number(s: &str, max: u64) -> Result<u64, String> {
    if s.is_empty() || !s.bytes().all(|c| c.is_ascii_digit()) {
        return Err("not a whole number".into());
    }
    match s.parse::<u64>() {
        Ok(n) if n <= max => Ok(n),
        _ => Err(format!("larger than {max}")),
    }
}

/// An address or prefix, host bits cleared.
fn parse_net(s: &str) -> Result<Literal, String> {
    let (a, p) = match s.split_once('/') {
        Some((a, p)) => (a, Some(p)),
        None => (s, None),
    };
    let addr: IpAddr = a.parse().map_err(|_| "not an IP address".to_string())?;
    let full = if addr.is_ipv4() { 32 } else { 128 };
    let prefix = match p {
        None => full,
        Some(p) => {
            if p.is_empty() || !p.bytes().all(|c| c.is_ascii_digit()) || p.len() > 3 {
                return Err("the prefix length is not a number".into());
            }
            let n: u32 = p.parse().map_err(|_| "bad prefix length".to_string())?;
            if n > full {
                return Err(format!("prefix length {n} is longer than {full}"));
            }
            n
        }
    };
    Ok(Literal::Net {
        addr: mask(addr, prefix),
        prefix: prefix as u8,
    })
}

fn mask(a: IpAddr, prefix: u32) -> IpAddr {
    match a {
        IpAddr::V4(v4) => {
            let m = if prefix == 0 {
                0
            } else {
                u32::MAX << (32 - prefix)
            };
            IpAddr::V4((u32::from(v4) & m).into())
        }
        IpAddr::V6(v6) => {
            let m = if prefix == 0 {
                0
            } else {
                u128::MAX << (128 - prefix)
            };
            IpAddr::V6((u128::from(v6) & m).into())
        }
    }
}

/// First and last stored address (16 bytes, IPv4-mapped) of a prefix.
fn net_range(addr: IpAddr, prefix: u8) -> (u128, u128) {
    let (v6, bits) = match addr {
        IpAddr::V4(v4) => (v4.to_ipv6_mapped(), 96 + u32::from(prefix)),
        IpAddr::V6(v6) => (v6, u32::from(prefix)),
    };
    let first = u128::from(v6);
    let host = if bits >= 128 { 0 } else { u128::MAX >> bits };
    (first & !host, first | host)
}

fn full_prefix(addr: IpAddr, prefix: u8) -> bool {
    u32::from(prefix) == if addr.is_ipv4() { 32 } else { 128 }
}

/// The type of the stored address columns, which decides how an address value is written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AddrType {
    /// 18.16 and other legacy servers: `FixedString(16)`.
    FixedString,
    /// Modern servers: `IPv6` (which will not compare with a `FixedString` in a key condition).
    Ipv6,
}

impl AddrType {
    /// The address type of a server tier.
    pub fn of(tier: schema::Tier) -> AddrType {
        match tier {
            schema::Tier::Legacy => AddrType::FixedString,
            schema::Tier::Modern => AddrType::Ipv6,
        }
    }

    /// The bind mark of an address (its 16 bytes as 32 hex digits): a constant of the column's
    /// type.
    pub fn mark(self) -> &'static str {
        match self {
            AddrType::FixedString => "toFixedString(unhex(?), 16)",
            AddrType::Ipv6 => "CAST(toFixedString(unhex(?), 16) AS IPv6)",
        }
    }
}

/// How an address column and its value are written: the column and a constant of its type when
/// the type is known, `hex(col)` and the bare hex otherwise.
pub fn addr_compare(col: &str, addr: Option<AddrType>) -> (String, &'static str) {
    match addr {
        Some(a) => (col.to_string(), a.mark()),
        None => (format!("hex({col})"), "?"),
    }
}

fn hex16(v: u128) -> String {
    crate::names::addr_hex(IpAddr::V6(Ipv6Addr::from(v)))
}

// ---------------------------------------------------------------------------------------------
// Walks

fn collect_fields(n: &Node, out: &mut Vec<Field>) {
    match n {
        Node::And(l, r) | Node::Or(l, r) => {
            collect_fields(l, out);
            collect_fields(r, out);
        }
        Node::Not(x) => collect_fields(x, out),
        Node::Compare { field, .. } | Node::In { field, .. } => out.push(*field),
    }
}

fn literal_text(v: &Literal, out: &mut String) {
    match v {
        Literal::Net { addr, prefix } => {
            if full_prefix(*addr, *prefix) {
                out.push_str(&addr.to_string());
            } else {
                out.push_str(&format!("{addr}/{prefix}"));
            }
        }
        Literal::Proto(p) => match PROTOCOLS.iter().find(|(_, n)| n == p) {
            Some((name, _)) => out.push_str(name),
            None => out.push_str(&p.to_string()),
        },
        Literal::UInt(n) => out.push_str(&n.to_string()),
        Literal::Asn(a) => out.push_str(&format!("AS{a}")),
        Literal::Text(s) => {
            out.push('"');
            for c in s.chars() {
                match c {
                    '"' => out.push_str("\\\""),
                    '\\' => out.push_str("\\\\"),
                    '\n' => out.push_str("\\n"),
                    '\t' => out.push_str("\\t"),
                    '\r' => out.push_str("\\r"),
                    '\0' => out.push_str("\\0"),
                    c if c.is_control() => out.push_str(&format!("\\u{{{:x}}}", c as u32)),
                    c => out.push(c),
                }
            }
            out.push('"');
        }
    }
}

fn write_text(n: &Node, out: &mut String) {
    let paren = |n: &Node, needed: bool, out: &mut String| {
        if needed {
            out.push('(');
            write_text(n, out);
            out.push(')');
        } else {
            write_text(n, out);
        }
    };
    match n {
        // Left-associative: a left child of the same operator needs no parentheses.
        Node::And(l, r) => {
            paren(l, matches!(**l, Node::Or(..)), out);
            out.push_str(" and ");
            paren(r, matches!(**r, Node::Or(..) | Node::And(..)), out);
        }
        Node::Or(l, r) => {
            paren(l, false, out);
            out.push_str(" or ");
            paren(r, matches!(**r, Node::Or(..)), out);
        }
        Node::Not(x) => {
            out.push_str("not ");
            paren(x, matches!(**x, Node::Or(..) | Node::And(..)), out);
        }
        Node::Compare { field, op, value } => {
            out.push_str(field.name());
            out.push(' ');
            out.push_str(op.as_str());
            out.push(' ');
            literal_text(value, out);
        }
        Node::In {
            field,
            values,
            negated,
        } => {
            out.push_str(field.name());
            out.push_str(if *negated { " not in (" } else { " in (" });
            for (i, v) in values.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                literal_text(v, out);
            }
            out.push(')');
        }
    }
}

/// The column expression a field is compared through ([`addr_compare`] for addresses,
/// `toString(col)` for text (LowCardinality on modern servers), the column itself otherwise) and
/// the bind mark of its values.
fn column_sql(field: Field, addr: Option<AddrType>, sql: &mut String) -> &'static str {
    match field.ty() {
        FieldType::Addr => {
            let (col, mark) = addr_compare(field.column(), addr);
            sql.push_str(&col);
            return mark;
        }
        FieldType::Text => {
            sql.push_str("toString(");
            sql.push_str(field.column());
            sql.push(')');
        }
        _ => sql.push_str(field.column()),
    }
    "?"
}

fn literal_arg(v: &Literal) -> Arg {
    match v {
        Literal::Net { addr, prefix } => Arg::Str(hex16(net_range(*addr, *prefix).0)),
        Literal::Proto(p) => Arg::U64(u64::from(*p)),
        Literal::UInt(n) => Arg::U64(*n),
        Literal::Asn(a) => Arg::U64(u64::from(*a)),
        Literal::Text(s) => Arg::Str(s.clone()),
    }
}

fn write_sql(n: &Node, ty: Option<AddrType>, sql: &mut String, args: &mut Vec<Arg>) {
    match n {
        Node::And(l, r) | Node::Or(l, r) => {
            sql.push('(');
            write_sql(l, ty, sql, args);
            sql.push_str(if matches!(n, Node::And(..)) {
                " AND "
            } else {
                " OR "
            });
            write_sql(r, ty, sql, args);
            sql.push(')');
        }
        Node::Not(x) => {
            sql.push_str("(NOT ");
            write_sql(x, ty, sql, args);
            sql.push(')');
        }
        Node::Compare { field, op, value } => {
            sql.push('(');
            match value {
                Literal::Net { addr, prefix } if !full_prefix(*addr, *prefix) => {
                    let (first, last) = net_range(*addr, *prefix);
                    if *op == CmpOp::Ne {
                        sql.push_str("NOT (");
                    }
                    let m = column_sql(*field, ty, sql);
                    sql.push_str(&format!(" BETWEEN {m} AND {m}"));
                    if *op == CmpOp::Ne {
                        sql.push(')');
                    }
                    args.push(Arg::Str(hex16(first)));
                    args.push(Arg::Str(hex16(last)));
                }
                v => {
                    let m = column_sql(*field, ty, sql);
                    sql.push(' ');
                    sql.push_str(op.as_str());
                    sql.push(' ');
                    sql.push_str(m);
                    args.push(literal_arg(v));
                }
            }
            sql.push(')');
        }
        Node::In {
            field,
            values,
            negated,
        } => {
            // Single values in one IN list, each prefix its own BETWEEN; OR-ed when several.
            let is_range = |v: &Literal| matches!(v, Literal::Net { addr, prefix } if !full_prefix(*addr, *prefix));
            let mut parts: Vec<String> = Vec::new();
            let singles: Vec<&Literal> = values.iter().filter(|v| !is_range(v)).collect();
            if !singles.is_empty() {
                let mut p = String::new();
                let m = column_sql(*field, ty, &mut p);
                p.push_str(" IN (");
                for (i, v) in singles.iter().enumerate() {
                    if i > 0 {
                        p.push_str(", ");
                    }
                    p.push_str(m);
                    args.push(literal_arg(v));
                }
                p.push(')');
                parts.push(p);
            }
            for v in values {
                if let Literal::Net { addr, prefix } = v
                    && is_range(v)
                {
                    let (first, last) = net_range(*addr, *prefix);
                    let mut p = String::new();
                    let m = column_sql(*field, ty, &mut p);
                    p.push_str(&format!(" BETWEEN {m} AND {m}"));
                    args.push(Arg::Str(hex16(first)));
                    args.push(Arg::Str(hex16(last)));
                    parts.push(p);
                }
            }
            let body = if parts.len() == 1 {
                parts.swap_remove(0)
            } else {
                format!("({})", parts.join(") OR ("))
            };
            if *negated {
                sql.push_str("(NOT (");
                sql.push_str(&body);
                sql.push_str("))");
            } else {
                sql.push('(');
                sql.push_str(&body);
                sql.push(')');
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn parse(s: &str) -> Node {
        FilterExpr::parse(s)
            .unwrap_or_else(|e| panic!("{s}: {e}"))
            .root
    }

    fn err(s: &str) -> FilterError {
        match FilterExpr::parse(s) {
            Ok(f) => panic!("{s:?} parsed as {}", f.to_text()),
            Err(e) => e,
        }
    }

    fn cmp(field: Field, op: CmpOp, value: Literal) -> Node {
        Node::Compare { field, op, value }
    }

    fn net(a: &str, prefix: u8) -> Literal {
        Literal::Net {
            addr: a.parse().unwrap(),
            prefix,
        }
    }

    fn and(l: Node, r: Node) -> Node {
        Node::And(Box::new(l), Box::new(r))
    }

    fn or(l: Node, r: Node) -> Node {
        Node::Or(Box::new(l), Box::new(r))
    }

    fn not(x: Node) -> Node {
        Node::Not(Box::new(x))
    }

    #[test]
    fn parses_the_documented_example() {
        let f = "src_addr = 10.0.0.0/8 and proto = tcp and not dst_port in (53, 123)";
        assert_eq!(
            parse(f),
            and(
                and(
                    cmp(Field::SrcAddr, CmpOp::Eq, net("10.0.0.0", 8)),
                    cmp(Field::Proto, CmpOp::Eq, Literal::Proto(6))
                ),
                not(Node::In {
                    field: Field::DstPort,
                    values: vec![Literal::UInt(53), Literal::UInt(123)],
                    negated: false
                })
            )
        );
        let e = FilterExpr::parse(f).unwrap();
        assert_eq!(
            e.fields(),
            vec![Field::SrcAddr, Field::DstPort, Field::Proto]
        );
        assert_eq!(e.to_text(), f);
        assert_eq!(
            parse("dst_port not in (53,123)"),
            Node::In {
                field: Field::DstPort,
                values: vec![Literal::UInt(53), Literal::UInt(123)],
                negated: true
            }
        );
    }

    #[test]
    fn and_binds_tighter_than_or_and_parentheses_override() {
        let a = || cmp(Field::Tos, CmpOp::Eq, Literal::UInt(1));
        let b = || cmp(Field::Tos, CmpOp::Eq, Literal::UInt(2));
        let c = || cmp(Field::Tos, CmpOp::Eq, Literal::UInt(3));
        assert_eq!(
            parse("tos = 1 or tos = 2 and tos = 3"),
            or(a(), and(b(), c()))
        );
        assert_eq!(
            parse("tos = 1 AND tos = 2 Or tos = 3"),
            or(and(a(), b()), c())
        );
        assert_eq!(
            parse("(tos = 1 or tos = 2) and tos = 3"),
            and(or(a(), b()), c())
        );
        assert_eq!(parse("not tos = 1 and tos = 2"), and(not(a()), b()));
        assert_eq!(parse("NOT (tos = 1 and tos = 2)"), not(and(a(), b())));
        assert_eq!(parse("not not tos=1"), not(not(a())));
        assert_eq!(parse("((tos=1))"), a());
        assert_eq!(
            parse("tos = 1 or tos = 2 or tos = 3"),
            or(or(a(), b()), c())
        );
    }

    #[test]
    fn every_operator_on_numbers() {
        for (t, op) in [
            ("=", CmpOp::Eq),
            ("!=", CmpOp::Ne),
            ("<", CmpOp::Lt),
            ("<=", CmpOp::Le),
            (">", CmpOp::Gt),
            (">=", CmpOp::Ge),
        ] {
            assert_eq!(
                parse(&format!("src_port {t} 1024")),
                cmp(Field::SrcPort, op, Literal::UInt(1024))
            );
            assert_eq!(
                parse(&format!("vlan{t}7")),
                cmp(Field::Vlan, op, Literal::UInt(7))
            );
        }
        // Addresses and text: equality and lists only.
        for bad in ["src_addr < 10.0.0.1", "src_net >= x", "exporter > ::1"] {
            let e = err(bad);
            assert_eq!(e.expected, ["=", "!=", "in", "not in"], "{bad}");
        }
        assert!(FilterExpr::parse("src_net != x and next_hop != ::1").is_ok());
        assert!(FilterExpr::parse("in_if_name not in (a, b)").is_ok());
    }

    #[test]
    fn prefixes_are_masked_and_checked() {
        assert_eq!(
            parse("src_addr = 10.1.2.3/8"),
            cmp(Field::SrcAddr, CmpOp::Eq, net("10.0.0.0", 8))
        );
        assert_eq!(
            parse("dst_addr = 2001:db8:ffff::1/32"),
            cmp(Field::DstAddr, CmpOp::Eq, net("2001:db8::", 32))
        );
        assert_eq!(
            parse("dst_addr = 192.0.2.1"),
            cmp(Field::DstAddr, CmpOp::Eq, net("192.0.2.1", 32))
        );
        assert_eq!(
            parse("dst_addr = ::1"),
            cmp(Field::DstAddr, CmpOp::Eq, net("::1", 128))
        );
        assert_eq!(
            parse("dst_addr = 1.2.3.4/0"),
            cmp(Field::DstAddr, CmpOp::Eq, net("0.0.0.0", 0))
        );
        for bad in [
            "src_addr = 10.0.0.0/33",
            "src_addr = ::/129",
            "src_addr = 10.0.0.0/",
            "src_addr = 10.0.0.0/-1",
            "src_addr = 10.0.0.0/8/8",
            "src_addr = 10.0.0",
            "src_addr = 10.0.0.256",
            "src_addr = tcp",
        ] {
            let e = err(bad);
            assert_eq!(e.position, 11, "{bad}: {e}");
        }
        // A prefix is the range of its first and last stored (IPv4-mapped) address.
        let (sql, args) = FilterExpr::parse("src_addr = 10.1.0.0/16")
            .unwrap()
            .to_sql();
        assert_eq!(sql, "(hex(src_addr) BETWEEN ? AND ?)");
        assert_eq!(
            args,
            [
                Arg::Str("00000000000000000000FFFF0A010000".into()),
                Arg::Str("00000000000000000000FFFF0A01FFFF".into())
            ]
        );
        let (sql, args) = FilterExpr::parse("dst_addr != 2001:db8::/32")
            .unwrap()
            .to_sql();
        assert_eq!(sql, "(NOT (hex(dst_addr) BETWEEN ? AND ?))");
        assert_eq!(
            args,
            [
                Arg::Str("20010DB8000000000000000000000000".into()),
                Arg::Str("20010DB8FFFFFFFFFFFFFFFFFFFFFFFF".into())
            ]
        );
        let (sql, args) = FilterExpr::parse("exporter = 192.0.2.1").unwrap().to_sql();
        assert_eq!(sql, "(hex(exporter) = ?)");
        assert_eq!(args, [Arg::Str("00000000000000000000FFFFC0000201".into())]);
    }

    #[test]
    fn a_known_address_type_compares_the_bare_column_with_the_same_values() {
        let f =
            FilterExpr::parse("exporter = 192.0.2.1 and src_addr in (10.0.0.0/8, ::1)").unwrap();
        let (_, hex_args) = f.to_sql();
        let (sql, args) = f.to_sql_for(Some(AddrType::FixedString));
        assert_eq!(
            sql,
            "((exporter = toFixedString(unhex(?), 16)) AND ((src_addr IN (toFixedString(unhex(?), \
             16))) OR (src_addr BETWEEN toFixedString(unhex(?), 16) AND toFixedString(unhex(?), 16))))"
        );
        assert_eq!(args, hex_args);
        let (sql, args) = f.to_sql_for(Some(AddrType::Ipv6));
        assert!(sql.starts_with("((exporter = CAST(toFixedString(unhex(?), 16) AS IPv6)) AND"));
        assert!(!sql.contains("hex(exporter)") && !sql.contains("hex(src_addr)"));
        assert_eq!(crate::library::bind_marks(&sql), args.len());
        assert_eq!(args, hex_args);
        // Other types are untouched.
        let f = FilterExpr::parse("proto = tcp").unwrap();
        assert_eq!(f.to_sql_for(Some(AddrType::Ipv6)), f.to_sql());
    }

    #[test]
    fn as_numbers_protocols_and_countries() {
        for s in ["src_as = 13335", "src_as = AS13335", "src_as = as13335"] {
            assert_eq!(parse(s), cmp(Field::SrcAs, CmpOp::Eq, Literal::Asn(13335)));
        }
        assert_eq!(
            parse("dst_as >= 4294967295"),
            cmp(Field::DstAs, CmpOp::Ge, Literal::Asn(u32::MAX))
        );
        assert_eq!(err("src_as = 4294967296").position, 9);
        assert_eq!(err("src_as = AS").position, 9);
        assert_eq!(err("src_as = ASN1").position, 9);
        for (s, n) in [
            ("tcp", 6),
            ("UDP", 17),
            ("icmpv6", 58),
            ("47", 47),
            ("0", 0),
        ] {
            assert_eq!(
                parse(&format!("proto = {s}")),
                cmp(Field::Proto, CmpOp::Eq, Literal::Proto(n))
            );
        }
        assert_eq!(err("proto = 256").position, 8);
        assert_eq!(err("proto = tcpx").position, 8);
        assert_eq!(
            parse("src_country = fr"),
            cmp(Field::SrcCountry, CmpOp::Eq, Literal::Text("FR".into()))
        );
        assert_eq!(
            parse("dst_country in ('us', \"\")"),
            Node::In {
                field: Field::DstCountry,
                values: vec![Literal::Text("US".into()), Literal::Text(String::new())],
                negated: false
            }
        );
        assert_eq!(err("src_country = FRA").position, 14);
        assert_eq!(err("src_country = 'F1'").position, 14);
        // Limits of the numeric types.
        assert!(FilterExpr::parse("tos = 255").is_ok());
        assert_eq!(err("tos = 256").position, 6);
        assert_eq!(err("in_if = 99999999999999999999999").position, 8);
        assert_eq!(err("vlan = -1").position, 7);
        assert_eq!(err("vlan = 0x10").position, 7);
    }

    #[test]
    fn strings_are_quoted_or_bare_with_escapes_and_unicode() {
        let t = |s: &str| match parse(s) {
            Node::Compare {
                value: Literal::Text(t),
                ..
            } => t,
            n => panic!("{n:?}"),
        };
        assert_eq!(t(r#"src_net = "a \"b\" \\ c""#), r#"a "b" \ c"#);
        assert_eq!(t(r"src_net = 'it\'s'"), "it's");
        assert_eq!(t(r#"src_net = 'say "hi"'"#), r#"say "hi""#);
        assert_eq!(t(r#"src_net = "tab\there\nnl\r\0""#), "tab\there\nnl\r\0");
        assert_eq!(t(r#"src_net = "\u{e9}t\u{1F600}""#), "ét😀");
        assert_eq!(t("src_net = \"Zürich — 東京\""), "Zürich — 東京");
        assert_eq!(t("in_if_name = ge-0/0/1.100"), "ge-0/0/1.100");
        assert_eq!(t("in_if_provider = Level3_transit:a"), "Level3_transit:a");
        assert_eq!(t("src_net = ''"), "");
        let e = err(r#"src_net = "\u{d800}""#);
        assert_eq!(e.position, 11);
        let e = err(r#"src_net = "a\qb""#);
        assert_eq!(e.position, 12);
        assert_eq!(e.expected, [EXP_ESCAPE]);
        let e = err("src_net = \"abc");
        assert_eq!(e.position, 14);
        assert!(e.message.contains("not closed"), "{e}");
        let long = "x".repeat(257);
        assert_eq!(err(&format!("src_net = \"{long}\"")).position, 10);
        assert!(FilterExpr::parse(&format!("src_net = \"{}\"", &long[1..])).is_ok());
        // Characters: 256 of them even when they are several bytes each.
        assert!(FilterExpr::parse(&format!("src_net = \"{}\"", "é".repeat(256))).is_ok());
    }

    #[test]
    fn errors_say_where_and_what_was_expected() {
        let e = err("src_addr = 1 ;");
        assert_eq!(e.position, 13, "{e}");
        let e = err("src_addr ;");
        assert_eq!(
            e.to_string(),
            "at character 9: expected a comparison operator (=, !=, <, <=, >, >=, in, not in), \
             found \";\""
        );
        assert_eq!(e.expected, [EXP_OP]);
        for (input, pos, expected) in [
            ("proto = tcp ;", 12, vec!["\"and\"", "\"or\"", EXP_END]),
            ("proto = tcp and", 15, vec![EXP_FIELD, "\"not\"", "\"(\""]),
            ("proto = tcp or or", 15, vec![EXP_FIELD, "\"not\"", "\"(\""]),
            ("(proto = tcp", 12, vec!["\")\"", "\"and\"", "\"or\""]),
            ("proto = tcp)", 11, vec!["\"and\"", "\"or\"", EXP_END]),
            ("dst_port in ()", 13, vec![EXP_VALUE]),
            ("dst_port in (1,)", 15, vec![EXP_VALUE]),
            ("dst_port in 53", 12, vec!["\"(\""]),
            ("dst_port =", 10, vec![EXP_VALUE]),
            ("= 1", 0, vec![EXP_FIELD, "\"not\"", "\"(\""]),
            ("x", 1, vec![EXP_OP]),
            (
                "tos = 1 and ; DROP TABLE flows",
                12,
                vec![EXP_FIELD, "\"not\"", "\"(\""],
            ),
            ("   ", 3, vec![EXP_FILTER]),
            ("", 0, vec![EXP_FILTER]),
        ] {
            let e = err(input);
            assert_eq!(
                (e.position, &e.expected),
                (pos, &expected.iter().map(|s| s.to_string()).collect()),
                "{input:?}: {e}"
            );
            assert!(e.to_string().starts_with(&format!("at character {pos}: ")));
        }
        let e = err("proto = tcp and srcaddr = 10.0.0.1");
        assert_eq!(e.position, 16);
        assert!(e.message.contains("unknown field \"srcaddr\""), "{e}");
        assert!(e.message.contains("src_addr"), "{e}");
        // Positions count characters, not bytes.
        assert_eq!(err("src_net = 'é' ;").position, 14);
    }

    #[test]
    fn limits_are_checked_before_the_grammar() {
        let long = format!("tos = 1 or {}", "tos = 1 or ".repeat(300));
        let e = err(&long);
        assert_eq!(e.position, 2048, "{e}");
        let deep = format!("{}tos = 1{}", "(".repeat(33), ")".repeat(33));
        let e = err(&deep);
        assert_eq!(e.position, 32, "{e}");
        let ok = format!("{}tos = 1{}", "(".repeat(32), ")".repeat(32));
        assert!(FilterExpr::parse(&ok).is_ok());
        let list = |n: usize| {
            format!(
                "tos in ({})",
                (0..n)
                    .map(|i| (i % 256).to_string())
                    .collect::<Vec<_>>()
                    .join(",")
            )
        };
        assert!(FilterExpr::parse(&list(256)).is_ok());
        let e = err(&list(257));
        assert!(e.message.contains("more than 256 values"), "{e}");
        let many = |n: usize| vec!["tos=1"; n].join(" or ");
        assert!(FilterExpr::parse(&many(128)).is_ok());
        let e = err(&many(129));
        assert!(e.message.contains("more than 128 comparisons"), "{e}");
        assert_eq!(e.position, 128 * 9 + 3);
        // Parentheses inside strings do not count.
        let s = format!("src_net = '{}'", "(".repeat(100));
        assert!(FilterExpr::parse(&s).is_ok());
    }

    #[test]
    fn hostile_inputs_are_errors_not_panics() {
        let nested = format!("{}tos = 1{}", "(".repeat(5000), ")".repeat(5000));
        let nots = format!("{}tos = 1", "not ".repeat(500));
        let ten_kb = format!("src_net = '{}'", "a".repeat(10_000));
        let nested_list = format!("tos in {}1{}", "(".repeat(5000), ")".repeat(5000));
        let unclosed = format!("src_net = '{}", "(".repeat(5000));
        for bad in [
            "src_net = 'x' OR '1'='1'",
            "src_net = x' OR '1'='1",
            "src_net = \"x\\\"; DROP TABLE flows; --",
            "tos = 1; DROP TABLE flows",
            "tos = 1 -- comment",
            "tos = 1 /* comment */",
            "/* */ tos = 1",
            "tos = 1e999",
            "tos = 1.0",
            "tos = 99999999999999999999",
            "src_as = 99999999999999999999999",
            "tos = ١",
            "tös = 1",
            "src_net = 東京 and",
            "\u{0}",
            "tos = \u{202e}1",
            "src_addr = 10.0.0.1%eth0",
            nested.as_str(),
            ten_kb.as_str(),
            nested_list.as_str(),
            unclosed.as_str(),
        ] {
            let e = err(bad);
            assert!(!e.expected.is_empty(), "{bad:?}");
            assert!(e.position <= bad.chars().count(), "{bad:?}: {e}");
        }
        // Many nots in a row are a loop, not recursion.
        assert!(FilterExpr::parse(&nots).is_ok());
    }

    #[test]
    fn sql_is_fixed_text_and_marks() {
        let f = FilterExpr::parse(
            "src_addr in (10.0.0.0/8, 192.0.2.1, 2001:db8::1) and proto = udp or \
             not (src_net = \"x'); DROP TABLE flows; --\" or src_as not in (AS1, 2))",
        )
        .unwrap();
        let (sql, args) = f.to_sql();
        assert_eq!(
            sql,
            "((((hex(src_addr) IN (?, ?)) OR (hex(src_addr) BETWEEN ? AND ?)) AND (protocol = ?)) \
             OR (NOT ((toString(src_net_name) = ?) OR (NOT (src_as IN (?, ?))))))"
        );
        assert_eq!(crate::library::bind_marks(&sql), args.len());
        assert_eq!(args[4], Arg::U64(17));
        assert_eq!(args[5], Arg::Str("x'); DROP TABLE flows; --".into()));
    }

    /// The characters SQL from a filter may contain: letters of keywords and columns, `_`,
    /// parentheses, commas, spaces, operators and marks. No digit, quote, dash or slash.
    fn sql_chars_ok(sql: &str) -> bool {
        sql.chars()
            .all(|c| c.is_ascii_alphabetic() || " _(),?=!<>".contains(c))
    }

    fn literal_for(field: Field) -> BoxedStrategy<Literal> {
        match field.ty() {
            FieldType::Addr => prop_oneof![
                (any::<u32>(), 0u8..=32).prop_map(|(a, p)| Literal::Net {
                    addr: mask(IpAddr::V4(a.into()), p.into()),
                    prefix: p
                }),
                (any::<u128>(), 0u8..=128).prop_map(|(a, p)| Literal::Net {
                    addr: mask(IpAddr::V6(a.into()), p.into()),
                    prefix: p
                }),
            ]
            .boxed(),
            FieldType::Proto => any::<u8>().prop_map(Literal::Proto).boxed(),
            FieldType::Asn => any::<u32>().prop_map(Literal::Asn).boxed(),
            FieldType::UInt(_) => (0..=field.ty().max()).prop_map(Literal::UInt).boxed(),
            FieldType::Text if matches!(field, Field::SrcCountry | Field::DstCountry) => {
                "([A-Z]{2})?".prop_map(Literal::Text).boxed()
            }
            FieldType::Text => any::<String>()
                .prop_map(|s| Literal::Text(s.chars().take(12).collect()))
                .boxed(),
        }
    }

    fn leaf() -> impl Strategy<Value = Node> {
        (0..Field::ALL.len()).prop_flat_map(|i| {
            let field = Field::ALL[i];
            let ordered = !matches!(field.ty(), FieldType::Addr | FieldType::Text);
            let ops: Vec<CmpOp> = if ordered {
                vec![
                    CmpOp::Eq,
                    CmpOp::Ne,
                    CmpOp::Lt,
                    CmpOp::Le,
                    CmpOp::Gt,
                    CmpOp::Ge,
                ]
            } else {
                vec![CmpOp::Eq, CmpOp::Ne]
            };
            prop_oneof![
                (proptest::sample::select(ops), literal_for(field))
                    .prop_map(move |(op, value)| Node::Compare { field, op, value }),
                (
                    proptest::collection::vec(literal_for(field), 1..4),
                    any::<bool>()
                )
                    .prop_map(move |(values, negated)| Node::In {
                        field,
                        values,
                        negated
                    }),
            ]
        })
    }

    fn tree() -> impl Strategy<Value = Node> {
        leaf().prop_recursive(4, 12, 2, |inner| {
            prop_oneof![
                (inner.clone(), inner.clone()).prop_map(|(l, r)| and(l, r)),
                (inner.clone(), inner.clone()).prop_map(|(l, r)| or(l, r)),
                inner.prop_map(not),
            ]
        })
    }

    proptest! {
        #[test]
        fn canonical_text_parses_to_the_same_filter(root in tree()) {
            let f = FilterExpr { root };
            let text = f.to_text();
            let again = FilterExpr::parse(&text)
                .map_err(|e| TestCaseError::fail(format!("{text}: {e}")))?;
            prop_assert_eq!(&again, &f, "{}", text);
            prop_assert_eq!(again.to_text(), text);
            let (sql, args) = f.to_sql();
            prop_assert!(sql_chars_ok(&sql), "{}", sql);
            prop_assert_eq!(crate::library::bind_marks(&sql), args.len());
        }

        #[test]
        fn any_text_is_a_filter_or_an_error(s in ".{0,200}") {
            if let Ok(f) = FilterExpr::parse(&s) {
                let (sql, args) = f.to_sql();
                prop_assert!(sql_chars_ok(&sql), "{}", sql);
                prop_assert_eq!(sql.matches('?').count(), args.len());
            }
        }

        #[test]
        fn filter_like_text_never_puts_values_in_sql(
            parts in proptest::collection::vec(
                prop_oneof![
                    Just("src_addr"), Just("proto"), Just("src_net"), Just("src_as"), Just("="),
                    Just("!="), Just("<"), Just(" in "), Just(" not "), Just(" and "), Just(" or "),
                    Just("("), Just(")"), Just(","), Just("10.0.0.0/8"), Just("tcp"), Just("AS1"),
                    Just("'x;--'"), Just("\"a\\\"b\""), Just("2001:db8::/32"), Just("7"), Just(" "),
                ],
                1..24,
            )
        ) {
            let s: String = parts.concat();
            if let Ok(f) = FilterExpr::parse(&s) {
                let (sql, args) = f.to_sql();
                prop_assert!(sql_chars_ok(&sql), "{} -> {}", s, sql);
                prop_assert_eq!(sql.matches('?').count(), args.len());
                prop_assert_eq!(FilterExpr::parse(&f.to_text()).unwrap(), f);
            }
        }
    }
}
