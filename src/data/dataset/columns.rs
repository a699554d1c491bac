//! Which column is the text and which the label: detecting the text column a person most
//! likely wants, and picking the chosen columns of a parsed [`Table`] into a [`Dataset`].

use super::parse::{Format, Table};
use super::{Dataset, LoadOptions};
use crate::error::{Error, Result};

const NO_TEXT_COLUMN: &str =
    "no text column found (every column is empty or numeric); name the text column(s)";

impl Table {
    pub fn column_index(&self, name: &str) -> Option<usize> {
        self.columns.iter().position(|c| c == name)
    }

    /// The text column a person most likely wants: among string columns (those with at
    /// least one non-empty cell that is not a number), the one with the longest mean cell
    /// length in characters (ties: the leftmost). Error if there is no such column.
    pub fn detect_text_column(&self) -> Result<String> {
        self.detect_text_column_except(None)
            .ok_or_else(|| Error::dataset("input", None, NO_TEXT_COLUMN))
    }

    /// [`Table::detect_text_column`], never choosing column `skip` (the label column).
    fn detect_text_column_except(&self, skip: Option<usize>) -> Option<String> {
        let mut best: Option<(f64, usize)> = None;
        for (j, column) in self.columns.iter().enumerate() {
            if Some(j) == skip || column.is_empty() && self.columns.len() > 1 {
                continue;
            }
            let (mut total, mut n, mut textual) = (0usize, 0usize, false);
            for cell in self.rows.iter().filter_map(|r| r.get(j)) {
                total += cell.chars().count();
                n += 1;
                let t = cell.trim();
                textual |= !t.is_empty() && t.parse::<f64>().is_err();
            }
            if n == 0 || !textual {
                continue;
            }
            let mean = total as f64 / n as f64;
            if best.is_none_or(|(m, _)| mean > m) {
                best = Some((mean, j));
            }
        }
        best.and_then(|(_, j)| self.columns.get(j).cloned())
    }

    fn require(&self, column: &str, name: &str) -> Result<usize> {
        self.column_index(column).ok_or_else(|| {
            // CSV/TSV name their columns in the header (line 1 unless blank lines precede it)
            let line = match self.format {
                Format::Csv | Format::Tsv => Some(1),
                Format::Json | Format::Jsonl => None,
            };
            Error::dataset(
                name,
                line,
                format!(
                    "column \"{column}\" not found; columns are: {}",
                    self.columns.join(", ")
                ),
            )
        })
    }
}

/// Picks the text (and label) columns of a parsed table.
pub fn from_table(table: &Table, name: &str, options: &LoadOptions) -> Result<Dataset> {
    let label_idx = options
        .label_column
        .as_deref()
        .map(|c| table.require(c, name))
        .transpose()?;
    let text_columns = if options.text_columns.is_empty() {
        let detected = table
            .detect_text_column_except(label_idx)
            .ok_or_else(|| Error::dataset(name, None, NO_TEXT_COLUMN))?;
        vec![detected]
    } else {
        options.text_columns.clone()
    };
    let text_idx = text_columns
        .iter()
        .map(|c| table.require(c, name))
        .collect::<Result<Vec<_>>>()?;
    let join = options.join.as_deref().unwrap_or(". ");
    let texts = table
        .rows
        .iter()
        .map(|row| {
            text_idx
                .iter()
                .map(|&j| row.get(j).map(String::as_str).unwrap_or(""))
                .collect::<Vec<_>>()
                .join(join)
        })
        .collect();
    let labels = label_idx.map(|j| {
        table
            .rows
            .iter()
            .map(|row| {
                row.get(j)
                    .map(|l| l.trim())
                    .filter(|l| !l.is_empty())
                    .map(str::to_string)
            })
            .collect()
    });
    Ok(Dataset {
        texts,
        labels,
        text_columns,
        label_column: options.label_column.clone(),
        decoded_from: table.decoded_from,
        headerless: table.headerless.clone(),
        records_under: table.records_under.clone(),
        pandas_orient: table.pandas_orient,
    })
}
