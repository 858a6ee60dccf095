//! The users CSV import: parsing and checking every row, with errors
//! numbered by the line where a record starts.

use super::{check_name, ImportRowError, MAX_IMPORT_ROWS};
use crate::domain::{Email, Groups, Invalid, PhoneNumber};
use crate::service::Error;
use std::collections::HashSet;

pub(super) struct ImportRow {
    pub email: Email,
    pub phone: PhoneNumber,
    /// None when the file has no name column: an existing name is kept.
    pub name: Option<String>,
    /// None when the file has no groups column: existing groups are kept.
    pub groups: Option<Groups>,
}

/// The optional columns after `email,phone`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Column {
    Name,
    Groups,
}

impl Column {
    fn as_str(self) -> &'static str {
        match self {
            Column::Name => "name",
            Column::Groups => "groups",
        }
    }
}

/// Without a header line: `email,phone,name,groups`.
const DEFAULT_COLUMNS: [Column; 2] = [Column::Name, Column::Groups];

/// A header line names the columns: `email,phone`, then `name` and `groups`
/// in either order, each optional.
fn header_columns(cells: &[&str]) -> Result<Vec<Column>, String> {
    let expected = "the header must be email,phone followed by name and/or groups";
    if cells.len() < 2 || !cells[1].eq_ignore_ascii_case("phone") {
        return Err(expected.to_string());
    }
    let mut cols = Vec::new();
    for c in &cells[2..] {
        let col = if c.eq_ignore_ascii_case("name") {
            Column::Name
        } else if c.eq_ignore_ascii_case("groups") {
            Column::Groups
        } else {
            return Err(format!(
                "{expected}; unknown column {:?}",
                c.chars().take(40).collect::<String>()
            ));
        };
        if cols.contains(&col) {
            return Err(format!("{expected}; {} appears twice", col.as_str()));
        }
        cols.push(col);
    }
    Ok(cols)
}

/// Bad rows listed in one refusal; the rest are only counted.
pub(super) const MAX_REPORTED_ERRORS: usize = 100;

/// Parses and checks the whole CSV; every bad row is reported.
/// The 1-based line of a byte offset (the csv crate's own line count
/// does not count blank lines).
/// Records come in order, so the newlines are counted once, from where the
/// previous record's count stopped (a count from the start for every record
/// made a 100,000-row import quadratic).
#[derive(Default)]
struct LineCounter {
    /// Bytes counted so far and the newlines among them.
    pos: usize,
    newlines: usize,
}

impl LineCounter {
    fn line_of(&mut self, body: &[u8], byte: u64) -> usize {
        // A record's position is where reading it began, before blank lines.
        let mut end = (byte as usize).min(body.len());
        while end < body.len() && matches!(body[end], b'\r' | b'\n') {
            end += 1;
        }
        if end < self.pos {
            // Not in order after all: count from the start.
            *self = Self::default();
        }
        self.newlines += body[self.pos..end].iter().filter(|b| **b == b'\n').count();
        self.pos = end;
        self.newlines + 1
    }
}

pub(super) fn parse_csv(body: &[u8]) -> Result<Vec<ImportRow>, Error> {
    let mut rdr = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(body);
    let mut rows = Vec::new();
    let mut errors = Vec::new();
    let mut seen = HashSet::new();
    let mut columns = DEFAULT_COLUMNS.to_vec();
    let mut lines = LineCounter::default();
    for (i, rec) in rdr.records().enumerate() {
        // Every record counts (bad ones too), so the error list stays bounded.
        if i > MAX_IMPORT_ROWS {
            return Err(
                Invalid::new("csv", format!("at most {MAX_IMPORT_ROWS} rows per import")).into(),
            );
        }
        // The line where the record starts (a quoted field may span lines).
        let line = rec
            .as_ref()
            .ok()
            .and_then(|r| r.position())
            .map_or(i + 1, |p| lines.line_of(body, p.byte()));
        let bad = |field: &str, message: String| ImportRowError {
            row: line,
            field: field.into(),
            message,
        };
        let rec = match rec {
            Ok(r) => r,
            Err(e) => {
                errors.push(bad("row", format!("not valid CSV: {e}")));
                continue;
            }
        };
        let cells: Vec<&str> = rec.iter().collect();
        if line == 1
            && cells
                .first()
                .is_some_and(|c| c.eq_ignore_ascii_case("email"))
        {
            // A wrong header would make every row's report misleading.
            columns = header_columns(&cells).map_err(|m| Error::Import(vec![bad("row", m)]))?;
            continue;
        }
        if cells.iter().all(|c| c.is_empty()) {
            continue;
        }
        if cells.len() < 2 || cells.len() > 2 + columns.len() {
            let names: Vec<&str> = ["email", "phone"]
                .into_iter()
                .chain(columns.iter().map(|c| c.as_str()))
                .collect();
            errors.push(bad(
                "row",
                format!("expected the columns {}", names.join(",")),
            ));
            continue;
        }
        let mut invalid = Vec::new();
        let email = Email::parse(cells[0]).map_err(|e| invalid.push(e)).ok();
        let phone = PhoneNumber::parse(cells[1])
            .map_err(|e| invalid.push(e))
            .ok();
        let (mut name, mut groups) = (None, None);
        // A column the row stops short of is absent: its value is kept.
        for (col, cell) in columns.iter().zip(&cells[2..]) {
            match col {
                Column::Name => match check_name(cell) {
                    Ok(n) => name = Some(n),
                    Err(e) => invalid.push(e),
                },
                Column::Groups => match Groups::parse_csv_cell(cell, "groups") {
                    Ok(g) => groups = Some(g),
                    Err(e) => invalid.push(e),
                },
            }
        }
        match (email, phone) {
            (Some(email), Some(phone)) if invalid.is_empty() => {
                if !seen.insert(email.clone()) {
                    errors.push(bad("email", format!("{email} appears more than once")));
                } else {
                    rows.push(ImportRow {
                        email,
                        phone,
                        name,
                        groups,
                    });
                }
            }
            _ => {
                for inv in invalid {
                    errors.push(bad(inv.field, inv.message));
                }
            }
        }
    }
    if !errors.is_empty() {
        let more = errors.len().saturating_sub(MAX_REPORTED_ERRORS);
        errors.truncate(MAX_REPORTED_ERRORS);
        if more > 0 {
            errors.push(ImportRowError {
                row: 0,
                field: "csv".into(),
                message: format!("{more} more errors not listed"),
            });
        }
        return Err(Error::Import(errors));
    }
    Ok(rows)
}
