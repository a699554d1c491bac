//! Bytes -> records. CSV and TSV (RFC 4180: quoted fields with delimiters, `""` quotes and
//! line breaks; CRLF or LF), a JSON array of objects, JSONL. UTF-8 with or without BOM.
//! Every malformed input is an [`Error::Dataset`] naming the file, the line (or record) and
//! the problem; nothing here panics on input.

use crate::error::{Error, Result};

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    Csv,
    Tsv,
    Json,
    Jsonl,
}

impl Format {
    /// From the file name's extension, else sniffed from the content: `[` -> JSON, `{` ->
    /// JSONL, a tab and no comma in the first line -> TSV, otherwise CSV.
    pub fn detect(name: &str, bytes: &[u8]) -> Format {
        let lower = name.to_ascii_lowercase();
        let ext = lower.rsplit_once('.').map(|(_, e)| e).unwrap_or("");
        match ext {
            "csv" => return Format::Csv,
            "tsv" | "tab" => return Format::Tsv,
            "json" => return Format::Json,
            "jsonl" | "ndjson" => return Format::Jsonl,
            _ => {}
        }
        let body = strip_bom(bytes);
        match body.iter().find(|b| !b.is_ascii_whitespace()) {
            Some(b'[') => Format::Json,
            Some(b'{') => Format::Jsonl,
            _ => {
                let first = body.split(|&b| b == b'\n').next().unwrap_or(&[]);
                if first.contains(&b'\t') && !first.contains(&b',') {
                    Format::Tsv
                } else {
                    Format::Csv
                }
            }
        }
    }
}

fn strip_bom(bytes: &[u8]) -> &[u8] {
    bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes)
}

/// A parsed table: column names, string cells, and each row's 1-based source line.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Table {
    pub format: Format,
    pub columns: Vec<String>,
    pub rows: Vec<Vec<String>>,
    pub lines: Vec<usize>,
}

/// Parses a whole file; `name` is used in messages and for format detection.
pub fn parse_table(bytes: &[u8], name: &str, format: Option<Format>) -> Result<Table> {
    let format = format.unwrap_or_else(|| Format::detect(name, bytes));
    let body = strip_bom(bytes);
    if body.iter().all(|b| b.is_ascii_whitespace()) {
        return Err(Error::dataset(name, None, "file is empty"));
    }
    let table = match format {
        Format::Csv => parse_delimited(body, name, b',', format)?,
        Format::Tsv => parse_delimited(body, name, b'\t', format)?,
        Format::Json => parse_json(body, name)?,
        Format::Jsonl => parse_jsonl(body, name)?,
    };
    if table.rows.is_empty() {
        return Err(Error::dataset(
            name,
            None,
            "has a header but no records",
        ));
    }
    Ok(table)
}

/// Line number (1-based) of the first invalid UTF-8 byte in `bytes`, and the byte offset.
fn utf8_error_line(bytes: &[u8]) -> Option<(usize, usize)> {
    std::str::from_utf8(bytes).err().map(|e| {
        let at = e.valid_up_to();
        (bytes[..at].iter().filter(|&&b| b == b'\n').count() + 1, at)
    })
}

fn invalid_utf8(name: &str, bytes: &[u8]) -> Error {
    let (line, offset) = utf8_error_line(bytes).unwrap_or((1, 0));
    Error::dataset(
        name,
        Some(line),
        format!("invalid UTF-8 at byte {offset} (is the file UTF-8? re-save it as UTF-8)"),
    )
}

fn parse_delimited(body: &[u8], name: &str, delimiter: u8, format: Format) -> Result<Table> {
    if std::str::from_utf8(body).is_err() {
        return Err(invalid_utf8(name, body));
    }
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .has_headers(true)
        .flexible(true)
        .from_reader(body);
    let line_of = |e: &csv::Error| e.position().map(|p| p.line() as usize);
    let columns: Vec<String> = reader
        .headers()
        .map_err(|e| Error::dataset(name, line_of(&e).or(Some(1)), format!("bad header: {e}")))?
        .iter()
        .map(|h| h.trim().to_string())
        .collect();
    check_columns(&columns, name)?;
    let mut rows = Vec::new();
    let mut lines = Vec::new();
    for record in reader.records() {
        let record = record.map_err(|e| {
            Error::dataset(name, line_of(&e), format!("cannot read record: {e}"))
        })?;
        let line = record.position().map_or(0, |p| p.line() as usize);
        // a blank line (one empty field) is skipped, as spreadsheet exports often end so
        if record.len() == 1 && record.get(0) == Some("") && columns.len() > 1 {
            continue;
        }
        if record.len() != columns.len() {
            return Err(Error::dataset(
                name,
                Some(line),
                format!(
                    "expected {} fields ({}), found {}",
                    columns.len(),
                    columns.join(", "),
                    record.len()
                ),
            ));
        }
        rows.push(record.iter().map(str::to_string).collect());
        lines.push(line);
    }
    Ok(Table {
        format,
        columns,
        rows,
        lines,
    })
}

fn check_columns(columns: &[String], name: &str) -> Result<()> {
    if columns.is_empty() || columns.iter().all(|c| c.is_empty()) {
        return Err(Error::dataset(name, Some(1), "the header row names no columns"));
    }
    let mut seen = std::collections::HashSet::new();
    let dups: Vec<&str> = columns
        .iter()
        .filter(|c| !seen.insert(c.as_str()))
        .map(String::as_str)
        .collect();
    if !dups.is_empty() {
        return Err(Error::dataset(
            name,
            Some(1),
            format!("duplicate column name(s): {}", dups.join(", ")),
        ));
    }
    Ok(())
}

/// Builds a table from JSON objects; `where_` names each object's place for errors.
fn table_from_objects(
    objects: Vec<(usize, serde_json::Value)>,
    name: &str,
    format: Format,
    what: &str,
) -> Result<Table> {
    let mut columns: Vec<String> = Vec::new();
    let mut maps = Vec::with_capacity(objects.len());
    for (place, value) in objects {
        let serde_json::Value::Object(map) = value else {
            return Err(Error::dataset(
                name,
                Some(place),
                format!("{what} {place} is not an object ({{\"column\": value, ...}})"),
            ));
        };
        for key in map.keys() {
            if !columns.iter().any(|c| c == key) {
                columns.push(key.clone());
            }
        }
        maps.push((place, map));
    }
    let mut rows = Vec::with_capacity(maps.len());
    let mut lines = Vec::with_capacity(maps.len());
    for (place, map) in maps {
        let mut row = Vec::with_capacity(columns.len());
        for c in &columns {
            row.push(match map.get(c) {
                None | Some(serde_json::Value::Null) => String::new(),
                Some(serde_json::Value::String(s)) => s.clone(),
                Some(v @ (serde_json::Value::Number(_) | serde_json::Value::Bool(_))) => {
                    v.to_string()
                }
                Some(_) => {
                    return Err(Error::dataset(
                        name,
                        Some(place),
                        format!("field \"{c}\" of {what} {place} is a nested array/object; flatten it to text"),
                    ))
                }
            });
        }
        rows.push(row);
        lines.push(place);
    }
    if columns.is_empty() {
        return Err(Error::dataset(name, None, "the records have no fields"));
    }
    Ok(Table {
        format,
        columns,
        rows,
        lines,
    })
}

fn parse_json(body: &[u8], name: &str) -> Result<Table> {
    let text = std::str::from_utf8(body).map_err(|_| invalid_utf8(name, body))?;
    let value: serde_json::Value = serde_json::from_str(text)
        .map_err(|e| Error::dataset(name, Some(e.line()), format!("invalid JSON: {e}")))?;
    let serde_json::Value::Array(items) = value else {
        return Err(Error::dataset(
            name,
            None,
            "a JSON file must hold an array of records ([{...}, {...}])",
        ));
    };
    // places are 1-based record numbers for JSON arrays
    let objects = items.into_iter().enumerate().map(|(i, v)| (i + 1, v)).collect();
    let mut t = table_from_objects(objects, name, Format::Json, "record")?;
    t.format = Format::Json;
    Ok(t)
}

fn parse_jsonl(body: &[u8], name: &str) -> Result<Table> {
    let mut objects = Vec::new();
    for (i, line) in body.split(|&b| b == b'\n').enumerate() {
        let line_no = i + 1;
        let text = std::str::from_utf8(line).map_err(|e| {
            Error::dataset(
                name,
                Some(line_no),
                format!(
                    "invalid UTF-8 at byte {} of the line (is the file UTF-8? re-save it as UTF-8)",
                    e.valid_up_to()
                ),
            )
        })?;
        if text.trim().is_empty() {
            continue;
        }
        let value: serde_json::Value = serde_json::from_str(text)
            .map_err(|e| Error::dataset(name, Some(line_no), format!("invalid JSON: {e}")))?;
        objects.push((line_no, value));
    }
    table_from_objects(objects, name, Format::Jsonl, "line")
}

impl Table {
    pub fn column_index(&self, name: &str) -> Option<usize> {
        self.columns.iter().position(|c| c == name)
    }

    /// The text column a person most likely wants: the column with the longest mean cell
    /// length among those that are not purely numeric (ties: the leftmost).
    pub fn detect_text_column(&self) -> Result<String> {
        let mut best: Option<(f64, usize)> = None;
        for (j, _) in self.columns.iter().enumerate() {
            let cells = self.rows.iter().filter_map(|r| r.get(j));
            let (mut total, mut numeric, mut n) = (0usize, 0usize, 0usize);
            for c in cells {
                total += c.chars().count();
                n += 1;
                if c.trim().parse::<f64>().is_ok() {
                    numeric += 1;
                }
            }
            if n == 0 || numeric == n {
                continue;
            }
            let mean = total as f64 / n as f64;
            if best.is_none_or(|(m, _)| mean > m) {
                best = Some((mean, j));
            }
        }
        best.map(|(_, j)| self.columns[j].clone()).ok_or_else(|| {
            Error::dataset(
                "input",
                None,
                "no text column found (every column is empty or numeric)",
            )
        })
    }

    fn require(&self, column: &str, name: &str) -> Result<usize> {
        self.column_index(column).ok_or_else(|| {
            Error::dataset(
                name,
                None,
                format!(
                    "column \"{column}\" not found; columns are: {}",
                    self.columns.join(", ")
                ),
            )
        })
    }
}

#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct LoadOptions {
    /// File name, for messages and format detection.
    pub name: String,
    pub format: Option<Format>,
    /// Columns joined into the text; empty = detect one.
    pub text_columns: Vec<String>,
    /// Separator when several text columns are joined (default ". ", as Kern's
    /// `Title + ". " + Description`).
    pub join: Option<String>,
    /// Optional label column; empty or whitespace-only cells mean "unlabelled".
    pub label_column: Option<String>,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Dataset {
    pub texts: Vec<String>,
    /// One per record when a label column was chosen; None = unlabelled record.
    pub labels: Option<Vec<Option<String>>>,
    pub text_columns: Vec<String>,
    pub label_column: Option<String>,
}

/// Parses `bytes` and picks the text (and label) columns.
pub fn load(bytes: &[u8], options: &LoadOptions) -> Result<Dataset> {
    let name = if options.name.is_empty() {
        "input"
    } else {
        &options.name
    };
    let table = parse_table(bytes, name, options.format)?;
    from_table(&table, name, options)
}

/// Picks the text (and label) columns of a parsed table.
pub fn from_table(table: &Table, name: &str, options: &LoadOptions) -> Result<Dataset> {
    let text_columns = if options.text_columns.is_empty() {
        vec![table.detect_text_column().map_err(|_| {
            Error::dataset(name, None, "no text column found (every column is empty or numeric)")
        })?]
    } else {
        options.text_columns.clone()
    };
    let text_idx = text_columns
        .iter()
        .map(|c| table.require(c, name))
        .collect::<Result<Vec<_>>>()?;
    let label_idx = options
        .label_column
        .as_deref()
        .map(|c| table.require(c, name))
        .transpose()?;
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
    })
}

impl Dataset {
    pub fn len(&self) -> usize {
        self.texts.len()
    }

    pub fn is_empty(&self) -> bool {
        self.texts.is_empty()
    }

    /// Sorted distinct label names; class ids everywhere are indices into this.
    pub fn classes(&self) -> Vec<String> {
        let mut c: Vec<String> = self
            .labels
            .iter()
            .flatten()
            .flatten()
            .cloned()
            .collect();
        c.sort();
        c.dedup();
        c
    }

    /// Per record: Some(index into classes()) or None when unlabelled / no label column.
    pub fn class_ids(&self) -> Vec<Option<usize>> {
        let classes = self.classes();
        match &self.labels {
            None => vec![None; self.len()],
            Some(labels) => labels
                .iter()
                .map(|l| l.as_ref().and_then(|l| classes.binary_search(l).ok()))
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(name: &str, text: &[&str], label: Option<&str>) -> LoadOptions {
        LoadOptions {
            name: name.into(),
            text_columns: text.iter().map(|s| s.to_string()).collect(),
            label_column: label.map(String::from),
            ..Default::default()
        }
    }

    #[test]
    fn csv_with_quotes_newlines_crlf_and_bom() {
        let csv = "\u{feff}text,label\r\n\"a, b\",x\r\n\"say \"\"hi\"\"\nthere\",\r\nplain,y\r\n";
        let ds = load(csv.as_bytes(), &opts("f.csv", &["text"], Some("label"))).unwrap();
        assert_eq!(ds.texts, vec!["a, b", "say \"hi\"\nthere", "plain"]);
        assert_eq!(
            ds.labels,
            Some(vec![Some("x".into()), None, Some("y".into())])
        );
        assert_eq!(ds.classes(), vec!["x", "y"]);
        assert_eq!(ds.class_ids(), vec![Some(0), None, Some(1)]);
    }

    #[test]
    fn tsv_json_jsonl_and_joined_columns() {
        let tsv = "title\tbody\nA\tone\nB\ttwo\n";
        let ds = load(tsv.as_bytes(), &opts("f.tsv", &["title", "body"], None)).unwrap();
        assert_eq!(ds.texts, vec!["A. one", "B. two"]);
        let json = r#"[{"t": "x", "n": 3, "l": "a"}, {"t": "y", "l": null}]"#;
        let ds = load(json.as_bytes(), &opts("f.json", &["t"], Some("l"))).unwrap();
        assert_eq!(ds.texts, vec!["x", "y"]);
        assert_eq!(ds.labels, Some(vec![Some("a".into()), None]));
        let jsonl = "{\"t\": \"x\"}\n\n{\"t\": \"y\", \"extra\": true}\n";
        let t = parse_table(jsonl.as_bytes(), "f.jsonl", None).unwrap();
        assert_eq!(t.columns, vec!["t", "extra"]);
        assert_eq!(t.rows[1], vec!["y", "true"]);
        assert_eq!(t.lines, vec![1, 3]);
    }

    #[test]
    fn format_detection_and_text_column_detection() {
        assert_eq!(Format::detect("a.TSV", b""), Format::Tsv);
        assert_eq!(Format::detect("a", b"  [{}]"), Format::Json);
        assert_eq!(Format::detect("a", b"{\"a\":1}"), Format::Jsonl);
        assert_eq!(Format::detect("a", b"x\ty\n"), Format::Tsv);
        assert_eq!(Format::detect("a", b"x,y\n"), Format::Csv);
        let t = parse_table(b"id,text,label\n1,a long sentence,x\n2,another one,y\n", "f.csv", None)
            .unwrap();
        assert_eq!(t.detect_text_column().unwrap(), "text");
        let ds = load(b"id,text\n1,hello there\n", &opts("f.csv", &[], None)).unwrap();
        assert_eq!(ds.text_columns, vec!["text"]);
    }

    fn err(bytes: &[u8], o: &LoadOptions) -> String {
        load(bytes, o).err().unwrap().to_string()
    }

    #[test]
    fn bad_input_names_file_line_and_problem() {
        let o = opts("data.csv", &["text"], Some("label"));
        assert_eq!(err(b"", &o), "data.csv: file is empty");
        assert_eq!(err(b"\xEF\xBB\xBF \n", &o), "data.csv: file is empty");
        assert!(err(b"text,label\r\n", &o).contains("header but no records"));
        let e = err(b"text,label\na,b\nc,d,e\n", &o);
        assert!(e.contains("data.csv, line 3") && e.contains("expected 2 fields"), "{e}");
        let e = err(b"txt,label\na,b\n", &o);
        assert!(e.contains("\"text\" not found; columns are: txt, label"), "{e}");
        let e = err(b"text,label\nok,b\nbad \xff byte,c\n", &o);
        assert!(e.contains("line 3") && e.contains("UTF-8"), "{e}");
        let e = err(b"text,text\na,b\n", &o);
        assert!(e.contains("duplicate") && e.contains("text"), "{e}");
        let jo = opts("d.json", &["text"], None);
        let e = err(b"{\"text\": 1}", &LoadOptions { format: Some(Format::Json), ..jo.clone() });
        assert!(e.contains("array"), "{e}");
        let e = err(b"[{\"text\": \"a\"}, 3]", &jo);
        assert!(e.contains("record 2") && e.contains("not an object"), "{e}");
        let e = err(b"[{\"text\": [1]}]", &jo);
        assert!(e.contains("record 1") && e.contains("nested"), "{e}");
        let e = err(b"[{\"text\": \"a\"},", &jo);
        assert!(e.contains("d.json, line 1") && e.contains("invalid JSON"), "{e}");
        let lo = opts("d.jsonl", &["text"], None);
        let e = err(b"{\"text\": \"a\"}\n{oops}\n", &lo);
        assert!(e.contains("d.jsonl, line 2"), "{e}");
    }

    #[test]
    fn long_records_and_single_class_load() {
        let long = "word ".repeat(10_000);
        let csv = format!("text,label\n{long},a\nshort,a\n");
        let ds = load(csv.as_bytes(), &opts("f.csv", &["text"], Some("label"))).unwrap();
        assert_eq!(ds.texts[0].len(), long.len());
        assert_eq!(ds.classes(), vec!["a"]);
    }
}
