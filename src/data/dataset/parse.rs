//! Bytes -> a [`Table`]: column names, string cells and each row's source line. CSV and TSV
//! (RFC 4180: quoted fields with delimiters, `""` quotes and line breaks; CRLF or LF), a
//! JSON array of objects (or one object holding that array, or a pandas DataFrame's
//! `to_json()`), JSONL; nested fields flattened to dotted columns ([`flatten`]). UTF-8 with or without BOM, or UTF-16 with its BOM (what
//! Excel's "Unicode text" writes), decoded to UTF-8 first; a CSV or TSV that is not UTF-8 is
//! read as Windows-1252 (Excel's "CSV" on Western Windows; Latin-1's printable characters are
//! the same), unless it is UTF-8 with damaged bytes. Spreadsheets, PDFs and archives
//! renamed .csv are recognised by their first bytes. Every malformed input is an
//! [`Error::Dataset`] naming the file, the line (or record) and the problem.

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
    /// JSONL, a header line whose delimiter is a tab ([`csv_delimiter`]) -> TSV, otherwise CSV.
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
            _ if csv_delimiter(body).0 == b'\t' => Format::Tsv,
            _ => Format::Csv,
        }
    }
}

/// More columns than this is a data matrix, not text records (and would swamp the page's
/// column picker): refused with a message.
pub const MAX_COLUMNS: usize = 1000;

fn strip_bom(bytes: &[u8]) -> &[u8] {
    bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes)
}

/// What a file that is not text is, from its first bytes (None: it may be text).
fn binary_kind(bytes: &[u8]) -> Option<&'static str> {
    let kinds: [(&[u8], &str); 5] = [
        (b"%PDF-", "a PDF document; export its table as CSV first"),
        (b"PK\x03\x04", "a ZIP archive (an Excel .xlsx or OpenDocument spreadsheet?); save it as CSV (UTF-8) first"),
        (b"\xD0\xCF\x11\xE0", "an old Office file (Excel .xls?); save it as CSV (UTF-8) first"),
        (b"\x1F\x8B", "a gzip archive; unpack it first"),
        (b"\x89PNG", "a PNG image, not a table"),
    ];
    let what = kinds
        .iter()
        .find(|(magic, _)| bytes.starts_with(magic))
        .map(|(_, what)| *what)?;
    // Office files are ZIP archives: their entry names (local headers at the start, the
    // central directory at the end) say which
    if bytes.starts_with(b"PK\x03\x04") {
        let ends = [
            &bytes[..bytes.len().min(65_536)],
            &bytes[bytes.len().saturating_sub(65_536)..],
        ];
        let holds = |name: &[u8]| {
            ends.iter()
                .any(|part| part.windows(name.len()).any(|w| w == name))
        };
        if holds(b"word/") {
            return Some("a Word document (.docx): copy its table into a spreadsheet and save that as CSV (UTF-8)");
        }
        if holds(b"xl/") {
            return Some("an Excel spreadsheet (.xlsx): save it as CSV (UTF-8) first (File, Save As, CSV UTF-8)");
        }
        if holds(b"ppt/") {
            return Some("a PowerPoint file (.pptx)");
        }
    }
    Some(what)
}

/// UTF-16 (with its BOM) decoded to UTF-8; None when the bytes do not start with one.
fn decode_utf16(bytes: &[u8], name: &str) -> Option<Result<Vec<u8>>> {
    let little = match bytes {
        [0xFF, 0xFE, ..] => true,
        [0xFE, 0xFF, ..] => false,
        _ => return None,
    };
    let body = &bytes[2..];
    let units = body.chunks(2).map(|c| match (c, little) {
        ([a, b], true) => u16::from_le_bytes([*a, *b]),
        ([a, b], false) => u16::from_be_bytes([*a, *b]),
        _ => 0xFFFF, // an odd trailing byte: reported below as a bad character
    });
    let mut out = String::with_capacity(body.len() / 2);
    let mut line = 1;
    for (i, c) in char::decode_utf16(units).enumerate() {
        match c {
            Ok('\u{FFFF}') | Err(_) => {
                return Some(Err(Error::dataset(
                    name,
                    Some(line),
                    format!(
                        "bad UTF-16 near byte {} (the file starts with a UTF-16 byte order mark but is cut or mixed)",
                        2 + 2 * i
                    ),
                )))
            }
            Ok(c) => {
                line += usize::from(c == '\n');
                out.push(c);
            }
        }
    }
    Some(Ok(out.into_bytes()))
}

/// A parsed table: column names, string cells, and each row's 1-based source line.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Table {
    pub format: Format,
    /// The field delimiter CSV and TSV were read with (`None` for JSON and JSONL).
    pub delimiter: Option<char>,
    /// The encoding the file was decoded from where it was not UTF-8: "UTF-16" (with its byte
    /// order mark) or "Windows-1252" (a CSV or TSV that is not UTF-8, [`windows_1252`]).
    pub decoded_from: Option<&'static str>,
    pub columns: Vec<String>,
    pub rows: Vec<Vec<String>>,
    pub lines: Vec<usize>,
    /// Where a CSV or TSV file has no header line: its first line read as a record, the
    /// columns numbered ("column 1", ...), and why ([`headerless`]).
    pub headerless: Option<Headerless>,
    /// Where a JSON file holds one object whose array holds the records (`{"data": [...]}`,
    /// as APIs and dataset exports write): that key ([`parse_json`]).
    pub records_under: Option<String>,
    /// Where a JSON file is a pandas DataFrame as `df.to_json()` writes it: its `orient`,
    /// "columns" (pandas' default, one object per column keyed by the row index) or "index"
    /// (one object per row, keyed by the index) ([`pandas_orient`]).
    pub pandas_orient: Option<&'static str>,
}

impl Table {
    /// Rows as read, with no remark yet (delimiter, encoding, header or JSON layout).
    fn read(
        format: Format,
        columns: Vec<String>,
        rows: Vec<Vec<String>>,
        lines: Vec<usize>,
    ) -> Self {
        Self {
            format,
            delimiter: None,
            decoded_from: None,
            columns,
            rows,
            lines,
            headerless: None,
            records_under: None,
            pandas_orient: None,
        }
    }
}

/// Why a delimited file's first line was read as a record, not as column names: a value of
/// it is also a value of its column further down (a label such as "CRIME"), and it holds a
/// sentence, which column names rarely are.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Headerless {
    /// 0-based column of the repeated value
    pub column: usize,
    pub value: String,
    /// a later line where the column holds it
    pub line: usize,
}

/// Rows read after the first line when deciding whether it is a header ([`headerless`]),
/// those that start in the file's first [`HEADER_CHECK_BYTES`].
const HEADER_CHECK_ROWS: usize = 1000;
/// The page previews a big file from its first megabyte: rows that start in the first half
/// of it are in the preview, so it decides as the load of the whole file does.
const HEADER_CHECK_BYTES: usize = 512 << 10;

/// Parses a whole file; `name` is used in messages and for format detection.
pub fn parse_table(bytes: &[u8], name: &str, format: Option<Format>) -> Result<Table> {
    if let Some(what) = binary_kind(bytes) {
        return Err(Error::dataset(
            name,
            None,
            format!("is not a text table: it is {what}"),
        ));
    }
    let decoded = decode_utf16(bytes, name).transpose()?;
    let mut decoded_from = decoded.as_ref().map(|_| "UTF-16");
    let bytes = decoded.as_deref().unwrap_or(bytes);
    let format = format.unwrap_or_else(|| Format::detect(name, bytes));
    let body = strip_bom(bytes);
    if body.iter().all(|b| b.is_ascii_whitespace()) {
        return Err(Error::dataset(name, None, "file is empty"));
    }
    if let Some(at) = body.iter().position(|&b| b == 0) {
        return Err(Error::dataset(
            name,
            Some(count_newlines(&body[..at]) + 1),
            format!(
                "holds a NUL byte (byte {}): is it a binary file? text records never contain one",
                at + (bytes.len() - body.len())
            ),
        ));
    }
    let western;
    let body = match std::str::from_utf8(body) {
        Ok(_) => body,
        // a table that is not UTF-8 and not mostly UTF-8 with damaged bytes: what Excel
        // writes as "CSV" on Western Windows (and Latin-1, whose printable characters
        // Windows-1252 shares)
        Err(_) if matches!(format, Format::Csv | Format::Tsv) && !mostly_utf8(body) => {
            western = windows_1252(body);
            decoded_from = Some("Windows-1252");
            western.as_bytes()
        }
        Err(e) => {
            let at = e.valid_up_to();
            let line = body.get(..at).map_or(0, count_newlines) + 1;
            let offset = at + (bytes.len() - body.len());
            let byte = body.get(at).copied().unwrap_or(0);
            let why = if matches!(format, Format::Json | Format::Jsonl) {
                "JSON is UTF-8: re-save the file as UTF-8"
            } else {
                "the rest of the file reads as UTF-8, so this byte is damaged: fix or remove it"
            };
            return Err(Error::dataset(
                name,
                Some(line),
                format!("invalid UTF-8 at byte {offset} (byte 0x{byte:02X}; {why})"),
            ));
        }
    };
    let table = match format {
        Format::Csv => {
            let (d, header_end) = csv_delimiter(body);
            let sniffed = match d {
                b'\t' => parse_tsv(body, name),
                _ => parse_csv(body, name, d),
            };
            match sniffed {
                // a one-column header with a `;` in its name, and no record holding one
                Err(e) if d != b',' && !body[header_end..].contains(&d) => {
                    parse_csv(body, name, b',').map_err(|_| e)?
                }
                // the header line's delimiter does not read the file (a headerless TSV whose
                // first record holds a comma): another that gives two columns or more
                Err(e) => other_delimiter(body, name, d).ok_or(e)?,
                t => t?,
            }
        }
        Format::Tsv => parse_tsv(body, name)?,
        Format::Json => parse_json(body, name)?,
        Format::Jsonl => parse_jsonl(body, name)?,
    };
    if table.rows.is_empty() {
        // CSV/TSV report a header-only file themselves (with the header's line)
        return Err(Error::dataset(name, None, "has no records"));
    }
    let last_line = count_newlines(&body[..body.len().min(HEADER_CHECK_BYTES)]) + 1;
    let table = match (table.delimiter, headerless(&table, last_line)) {
        (Some(_), Some(why)) => {
            // blank lines before the header are skipped, as the reader does
            let start = body.iter().position(|b| !matches!(b, b'\r' | b'\n'));
            let line = count_newlines(&body[..start.unwrap_or(0)]) + 1;
            first_line_as_record(table, why, line)
        }
        _ => table,
    };
    Ok(Table {
        decoded_from,
        ..table
    })
}

/// A delimiter other than `tried` (tab, `;`, `|`, comma) that reads the file into two columns
/// or more, if one does.
fn other_delimiter(body: &[u8], name: &str, tried: u8) -> Option<Table> {
    [b'\t', b';', b'|', b',']
        .into_iter()
        .filter(|&d| d != tried)
        .find_map(|d| {
            let t = match d {
                b'\t' => parse_tsv(body, name),
                _ => parse_csv(body, name, d),
            };
            t.ok().filter(|t| t.columns.len() >= 2)
        })
}

/// Whether a delimited table's "header" is a record: one of its values is also a value of
/// its column in one of the next [`HEADER_CHECK_ROWS`] rows up to line `last_line` (not a
/// header line repeated whole, as concatenated exports hold), and one of its values has
/// three words or more.
fn headerless(table: &Table, last_line: usize) -> Option<Headerless> {
    let names = &table.columns;
    if names.len() < 2 || !names.iter().any(|c| c.split_whitespace().count() >= 3) {
        return None;
    }
    let rows = table
        .rows
        .iter()
        .zip(&table.lines)
        .take(HEADER_CHECK_ROWS)
        .take_while(|(_, &line)| line <= last_line);
    let repeated_header = |r: &Vec<String>| r.iter().zip(names).all(|(v, c)| v.trim() == c);
    if rows.clone().any(|(r, _)| repeated_header(r)) {
        return None;
    }
    rows.flat_map(|(r, &line)| {
        r.iter()
            .zip(names)
            .enumerate()
            .filter(|(_, (v, c))| !c.is_empty() && v.trim() == c.as_str())
            .map(move |(column, (_, c))| Headerless {
                column,
                value: c.clone(),
                line,
            })
    })
    .next()
}

/// The table with its header line (`line`) as its first record, its cells trimmed as the
/// names were, and numbered columns.
fn first_line_as_record(mut table: Table, why: Headerless, line: usize) -> Table {
    let record = std::mem::take(&mut table.columns);
    table.columns = (1..=record.len()).map(|i| format!("column {i}")).collect();
    table.rows.insert(0, record);
    table.lines.insert(0, line);
    table.headerless = Some(why);
    table
}

/// Whether bytes that are not valid UTF-8 hold at least as many UTF-8 characters beyond ASCII
/// (valid multi-byte sequences) as invalid sequences, and one at least: then it is a UTF-8
/// file with damaged bytes, not a file in a one-byte encoding (where a valid multi-byte
/// sequence is a rare accident, such as "Ã©").
fn mostly_utf8(bytes: &[u8]) -> bool {
    let (mut valid, mut invalid) = (0usize, 0usize);
    for chunk in bytes.utf8_chunks() {
        valid += chunk.valid().chars().filter(|c| !c.is_ascii()).count();
        invalid += usize::from(!chunk.invalid().is_empty());
    }
    valid > 0 && valid >= invalid
}

/// Windows-1252 decoded as the WHATWG Encoding Standard does (index-windows-1252): bytes below
/// 0x80 and from 0xA0 are the same code points (as in Latin-1); 0x80-0x9F are its letters and
/// punctuation (€, ‘ ’ “ ” – — …), the five it leaves undefined map to the C1 controls.
pub fn windows_1252(bytes: &[u8]) -> String {
    const HIGH: [char; 32] = [
        '\u{20AC}', '\u{81}', '\u{201A}', '\u{192}', '\u{201E}', '\u{2026}', '\u{2020}',
        '\u{2021}', '\u{2C6}', '\u{2030}', '\u{160}', '\u{2039}', '\u{152}', '\u{8D}', '\u{17D}',
        '\u{8F}', '\u{90}', '\u{2018}', '\u{2019}', '\u{201C}', '\u{201D}', '\u{2022}', '\u{2013}',
        '\u{2014}', '\u{2DC}', '\u{2122}', '\u{161}', '\u{203A}', '\u{153}', '\u{9D}', '\u{17E}',
        '\u{178}',
    ];
    bytes
        .iter()
        .map(|&b| match b {
            0x80..=0x9F => HIGH[usize::from(b - 0x80)],
            _ => char::from(b),
        })
        .collect()
}

/// The delimiter of a file read as CSV, from its header line (outside quotes): a comma where
/// the header holds one; else the most frequent of `;` (what spreadsheets write as "CSV"
/// where the decimal mark is a comma), tab and `|`; a comma where it holds none (one column).
/// Also where the header line ends. Where the file does not read with that delimiter and no
/// record holds it, `parse_table` reads commas (it was part of a column's name).
fn csv_delimiter(body: &[u8]) -> (u8, usize) {
    const OTHERS: [u8; 3] = [b';', b'\t', b'|'];
    let (mut commas, mut others, mut quoted) = (0usize, [0usize; 3], false);
    // blank lines before the header are skipped, as the reader does
    let start = body
        .iter()
        .position(|b| !matches!(b, b'\r' | b'\n'))
        .unwrap_or(body.len());
    let mut end = body.len();
    for (i, &b) in body.iter().enumerate().skip(start) {
        match b {
            b'"' => quoted = !quoted,
            _ if quoted => {}
            b'\r' | b'\n' => {
                end = i;
                break;
            }
            b',' => commas += 1,
            _ => {
                if let Some(k) = OTHERS.iter().position(|&d| d == b) {
                    others[k] += 1;
                }
            }
        }
    }
    let (mut best, mut most) = (b',', 0);
    if commas == 0 {
        for (&d, &n) in OTHERS.iter().zip(&others) {
            if n > most {
                (best, most) = (d, n);
            }
        }
    }
    (best, end)
}

fn count_newlines(bytes: &[u8]) -> usize {
    bytes.iter().filter(|&&b| b == b'\n').count()
}

/// CSV as RFC 4180 quotes it, unless a stray quote (one opening a field, closed only by a
/// quote on a later line that text follows) would join lines into one record: then each line
/// is a record where every line reads as one of the header's width (two columns or more),
/// else the error names the lines.
fn parse_csv(body: &[u8], name: &str, delimiter: u8) -> Result<Table> {
    let quoted = parse_delimited(body, name, delimiter, Format::Csv, true);
    let Some((open, close)) = run_on_quote(body, delimiter) else {
        return quoted;
    };
    let fewer = |l: &Table| {
        quoted
            .as_ref()
            .map_or(true, |q| q.rows.len() < l.rows.len())
    };
    match parse_delimited(body, name, delimiter, Format::Csv, false) {
        Ok(l) if l.columns.len() > 1 && fewer(&l) => Ok(l),
        _ => Err(Error::dataset(
            name,
            Some(open),
            format!(
                "a quote opens a field here that closes only on line {close}, inside other text, so lines {open}–{close} would read as one record: double a quote that is part of the text (\"\") or quote the whole field"
            ),
        )),
    }
}

/// The lines (1-based) where the first quote that opens a field closes on a later line with
/// text right after it (`"a,b` ... `c "d" e`): no quoted field as RFC 4180 writes one, but a
/// stray quote that a quoting reader runs on with, across the records between.
fn run_on_quote(body: &[u8], delimiter: u8) -> Option<(usize, usize)> {
    let (mut line, mut open_line) = (1usize, 0usize);
    let (mut field_start, mut quoted) = (true, false);
    let mut i = 0;
    while i < body.len() {
        let b = body[i];
        if quoted {
            if b == b'"' {
                match body.get(i + 1) {
                    Some(b'"') => i += 1,
                    None | Some(b'\r' | b'\n') => quoted = false,
                    Some(&c) if c == delimiter => quoted = false,
                    Some(_) if line > open_line => return Some((open_line, line)),
                    Some(_) => quoted = false,
                }
            } else if b == b'\n' {
                line += 1;
            }
        } else if b == b'"' && field_start {
            quoted = true;
            open_line = line;
        } else {
            field_start = b == delimiter || b == b'\n' || b == b'\r';
            if b == b'\n' {
                line += 1;
            }
        }
        if quoted || b == b'"' {
            field_start = false;
        }
        i += 1;
    }
    None
}

/// TSV as spreadsheets and pandas write it (CSV-style quotes around fields that hold a quote,
/// tab or line break), unless its quotes are literal text, as plain TSV writers leave them
/// (IANA text/tab-separated-values has no quoting): then each line is a record, quotes kept.
/// The quotes are literal where the quoted reading fails (a quote opened and never closed),
/// where, with every record on one line, a field opens with a quote but is no quoted field
/// (`"Sure," he said`, which the quoted reading turns into `Sure, he said`), or where such a
/// quote would join lines that are each a record of the header's width up to the next quote
/// in the file.
fn parse_tsv(body: &[u8], name: &str) -> Result<Table> {
    let quoted = parse_delimited(body, name, b'\t', Format::Tsv, true);
    // quoting only acts on a field that opens with a quote: without one, both readings agree
    let opens_quoted = body.first() == Some(&b'"')
        || body
            .windows(2)
            .any(|w| matches!(w[0], b'\t' | b'\n' | b'\r') && w[1] == b'"');
    if !opens_quoted {
        return quoted;
    }
    let literal = parse_delimited(body, name, b'\t', Format::Tsv, false);
    match (quoted, literal) {
        (Err(e), Err(_)) => Err(e),
        (Err(_), Ok(l)) => Ok(l),
        (Ok(q), Err(_)) => Ok(q),
        (Ok(q), Ok(l)) => {
            let stray = |f: &String| f.starts_with('"') && !is_quoted_field(f);
            // a stray quote read as opening a field runs on to the next quote in the file,
            // swallowing the lines between into one field: where every line is a record of
            // the header's width (two columns or more, so a line break inside a field would
            // show), the lines are the records
            let merged = q.rows.len() < l.rows.len() && l.columns.len() > 1;
            if (q.rows.len() == l.rows.len() || merged) && l.rows.iter().flatten().any(stray) {
                Ok(l)
            } else {
                Ok(q)
            }
        }
    }
}

/// `"..."` with every inner quote doubled: a field as a CSV-style writer quotes it.
fn is_quoted_field(f: &str) -> bool {
    f.len() >= 2 && f.ends_with('"') && !f[1..f.len() - 1].replace("\"\"", "").contains('"')
}

fn parse_delimited(
    body: &[u8],
    name: &str,
    delimiter: u8,
    format: Format,
    quoting: bool,
) -> Result<Table> {
    // csv's own line numbers run one short after CRLF and blank lines (the position is taken
    // before the terminator is consumed), so lines come from byte offsets: skip the line
    // breaks at the offset, then count the newlines before it (incrementally: offsets grow).
    let mut counted = (0usize, 1usize); // (byte offset, its line)
    let mut line_at = |byte: u64| -> usize {
        let mut at = usize::try_from(byte).unwrap_or(usize::MAX).min(body.len());
        while matches!(body.get(at), Some(b'\r' | b'\n')) {
            at += 1;
        }
        if at < counted.0 {
            counted = (0, 1);
        }
        let between = body.get(counted.0..at).unwrap_or(&[]);
        counted = (at, counted.1 + count_newlines(between));
        counted.1
    };
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .quoting(quoting)
        .has_headers(true)
        .flexible(true)
        .from_reader(body);
    let header = reader
        .headers()
        .map_err(|e| Error::dataset(name, Some(1), format!("bad header: {e}")))?
        .clone();
    // blank lines before the header are skipped by the reader, so it may not be line 1
    let header_line = header.position().map_or(1, |p| line_at(p.byte()));
    // header names are trimmed (cells never are)
    let columns: Vec<String> = header.iter().map(|h| h.trim().to_string()).collect();
    check_columns(&columns, name, Some(header_line))?;
    let mut rows = Vec::new();
    let mut lines = Vec::new();
    let mut record = csv::StringRecord::new();
    loop {
        let more = reader.read_record(&mut record).map_err(|e| {
            let line = e.position().map(|p| line_at(p.byte()));
            Error::dataset(name, line, format!("cannot read record: {e}"))
        })?;
        if !more {
            break;
        }
        let start = record.position().map_or(0, |p| p.byte() as usize);
        let line = record.position().map_or(0, |p| line_at(p.byte()));
        // an unclosed quote swallows the rest of the file into this, the last, record
        let rest = body.get(start..).unwrap_or(&[]);
        if reader.position().byte() as usize >= body.len()
            && record.iter().any(|f| f.contains('\n'))
            && rest.iter().filter(|&&b| b == b'"').count() % 2 == 1
        {
            return Err(Error::dataset(
                name,
                Some(line),
                "a quote (\") opened in this record is never closed: the rest of the file would be one field",
            ));
        }
        // a blank line (one empty field) is skipped, as spreadsheet exports often end so
        if record.len() == 1 && record.get(0) == Some("") && columns.len() > 1 {
            continue;
        }
        if record.len() != columns.len() {
            return Err(Error::dataset(
                name,
                Some(line),
                format!(
                    "expected {} fields ({}), found {}{}{}",
                    columns.len(),
                    columns.join(", "),
                    record.len(),
                    match delimiter {
                        b',' | b'\t' => String::new(),
                        d => format!(
                            " (fields separated by \"{}\", as in the header line)",
                            d as char
                        ),
                    },
                    if has_lone_cr(body) {
                        " (the file holds a lone carriage return, which ends a record in CSV: quote fields that contain one)"
                    } else {
                        ""
                    }
                ),
            ));
        }
        rows.push(record.iter().map(str::to_string).collect());
        lines.push(line);
    }
    if rows.is_empty() {
        return Err(Error::dataset(
            name,
            Some(header_line),
            format!("has a header ({}) but no records", columns.join(", ")),
        ));
    }
    Ok(Table {
        delimiter: Some(delimiter as char),
        ..Table::read(format, columns, rows, lines)
    })
}

/// A CR not followed by LF (old Mac line ends, or a stray one inside a field).
fn has_lone_cr(body: &[u8]) -> bool {
    body.windows(2).any(|w| w[0] == b'\r' && w[1] != b'\n') || body.last() == Some(&b'\r')
}

fn check_columns(columns: &[String], name: &str, line: Option<usize>) -> Result<()> {
    if columns.len() > MAX_COLUMNS {
        return Err(Error::dataset(
            name,
            line,
            format!(
                "has {} columns; simtune reads at most {MAX_COLUMNS} (text records need a few: is this a data matrix?)",
                columns.len()
            ),
        ));
    }
    if columns.is_empty() || columns.iter().all(|c| c.is_empty()) {
        return Err(Error::dataset(
            name,
            line,
            "the header row names no columns (the first row must hold the column names)",
        ));
    }
    let mut seen = std::collections::HashSet::new();
    let mut dups: Vec<String> = Vec::new();
    for c in columns {
        let quoted = format!("\"{c}\"");
        if !seen.insert(c.as_str()) && !dups.contains(&quoted) {
            dups.push(quoted);
        }
    }
    if !dups.is_empty() {
        return Err(Error::dataset(
            name,
            line,
            format!(
                "duplicate column name(s) in the header: {}; every column needs its own name",
                dups.join(", ")
            ),
        ));
    }
    Ok(())
}

/// A JSON value as a table cell: text as it is, null empty, numbers and booleans as written.
fn cell(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::Null => String::new(),
        serde_json::Value::String(s) => s.clone(),
        v => v.to_string(),
    }
}

/// One field of a JSON record as columns: a nested object's fields under dotted names
/// ("meta.title", as pandas' `json_normalize` names them), an array of text, numbers or
/// booleans as one text joined by ", " (tags), any other array as its JSON text. Nothing is
/// refused, so a record's other fields still load; an empty object is an empty value.
fn flatten(key: String, v: serde_json::Value, out: &mut Vec<(String, serde_json::Value)>) {
    use serde_json::Value;
    match v {
        Value::Object(fields) if !fields.is_empty() => {
            for (k, v) in fields {
                flatten(format!("{key}.{k}"), v, out);
            }
        }
        Value::Object(_) => out.push((key, Value::Null)),
        Value::Array(items) => {
            let scalar = |v: &Value| !matches!(v, Value::Array(_) | Value::Object(_));
            let text = if items.iter().all(scalar) {
                let parts: Vec<String> = items
                    .iter()
                    .filter(|v| !v.is_null())
                    .map(|v| match v {
                        Value::String(s) => s.clone(),
                        v => v.to_string(),
                    })
                    .collect();
                parts.join(", ")
            } else {
                Value::Array(items).to_string()
            };
            out.push((key, Value::String(text)));
        }
        v => out.push((key, v)),
    }
}

/// Builds a table from JSON objects. Each object comes with the 1-based source line it
/// starts on and a name for messages ("record 3" in a JSON array; JSONL, whose
/// line already names it: "the record").
fn table_from_objects(
    objects: Vec<(usize, String, Record)>,
    name: &str,
    format: Format,
) -> Result<Table> {
    let mut columns: Vec<String> = Vec::new();
    let mut maps = Vec::with_capacity(objects.len());
    for (line, what, value) in objects {
        let Record::Object(pairs) = value else {
            let kind = match value {
                Record::Object(_) => "an object",
                Record::Other(kind) => kind,
            };
            return Err(Error::dataset(
                name,
                Some(line),
                format!(
                    "{what} is {kind}, not an object; each record must be {{\"column\": value, ...}}"
                ),
            ));
        };
        let mut flat = Vec::with_capacity(pairs.len());
        for (key, v) in pairs {
            flatten(key, v, &mut flat);
        }
        let mut map = std::collections::HashMap::with_capacity(flat.len());
        for (key, v) in flat {
            if !map.contains_key(&key) && !columns.contains(&key) {
                columns.push(key.clone());
            }
            map.insert(key, v); // a repeated key: the last value wins, as in serde_json
        }
        maps.push((line, map));
    }
    let mut rows = Vec::with_capacity(maps.len());
    let mut lines = Vec::with_capacity(maps.len());
    for (line, map) in maps {
        let mut row = Vec::with_capacity(columns.len());
        for c in &columns {
            // flatten() leaves text, numbers, booleans and null only
            row.push(map.get(c).map_or_else(String::new, cell));
        }
        rows.push(row);
        lines.push(line);
    }
    if columns.is_empty() && !rows.is_empty() {
        return Err(Error::dataset(
            name,
            lines.first().copied(),
            "the records have no fields (every object is {})",
        ));
    }
    Ok(Table::read(format, columns, rows, lines))
}

fn parse_json(body: &[u8], name: &str) -> Result<Table> {
    let invalid =
        |e: serde_json::Error| Error::dataset(name, Some(e.line()), format!("invalid JSON: {e}"));
    let value: serde_json::Value = serde_json::from_slice(body).map_err(invalid)?;
    let under = match &value {
        serde_json::Value::Array(_) => None,
        // one object: the records are the array it holds ({"data": [...]}), where exactly one
        // of its values is an array of objects
        serde_json::Value::Object(map) => match (records_key(map), pandas_orient(map)) {
            (Some(key), _) => Some(key.clone()),
            (None, Some(orient)) => return parse_pandas(body, name, orient),
            (None, None) => return Err(not_records(body, name, &value)),
        },
        _ => return Err(not_records(body, name, &value)),
    };
    let fields: std::collections::HashMap<String, &serde_json::value::RawValue>;
    let items_bytes = match &under {
        // the array's own bytes inside the file, so lines still count from the file's start
        Some(key) => {
            fields = serde_json::from_slice(body).map_err(invalid)?;
            match fields.get(key) {
                Some(raw) => raw.get().as_bytes(),
                None => return Err(not_records(body, name, &value)),
            }
        }
        None => body,
    };
    // parsed again, keeping each object's keys in file order (serde_json's map sorts them)
    let items: Vec<Record> = serde_json::from_slice(items_bytes).map_err(invalid)?;
    // each record's source line, from where it starts in the text (the record number if
    // the scan and the parse ever disagree, which valid JSON should not allow); counted
    // incrementally, as the offsets grow
    let offset = items_bytes.as_ptr() as usize - body.as_ptr() as usize;
    let starts: Vec<usize> = array_element_starts(items_bytes)
        .into_iter()
        .map(|o| o + offset)
        .collect();
    let scanned = starts.len() == items.len();
    let mut counted = (0usize, 1usize);
    let mut line_at = |offset: usize| {
        let between = body.get(counted.0..offset).unwrap_or(&[]);
        counted = (offset.max(counted.0), counted.1 + count_newlines(between));
        counted.1
    };
    let objects = items
        .into_iter()
        .enumerate()
        .map(|(i, v)| {
            let line = match starts.get(i) {
                Some(&o) if scanned => line_at(o),
                _ => i + 1,
            };
            (line, format!("record {}", i + 1), v)
        })
        .collect();
    let table = table_from_objects(objects, name, Format::Json)?;
    Ok(Table {
        records_under: under,
        ..table
    })
}

/// The key of the one value of `map` that is a non-empty array of objects, if exactly one is.
fn records_key(map: &serde_json::Map<String, serde_json::Value>) -> Option<&String> {
    let mut keys = map.iter().filter(|(_, v)| match v {
        serde_json::Value::Array(items) => {
            !items.is_empty() && items.iter().all(serde_json::Value::is_object)
        }
        _ => false,
    });
    match (keys.next(), keys.next()) {
        (Some((key, _)), None) => Some(key),
        _ => None,
    }
}

/// Whether `map` is a pandas DataFrame as `df.to_json()` writes it, and in which `orient`:
/// every value an object of text, numbers, booleans or null, and the row index (integer
/// labels, pandas' default) either the inner keys ("columns": `{"text": {"0": ...}}`) or the
/// outer ones ("index": `{"0": {"text": ...}}`). Other indexes are too ambiguous to read.
fn pandas_orient(map: &serde_json::Map<String, serde_json::Value>) -> Option<&'static str> {
    if !objects_of_values(map) {
        return None;
    }
    let index = |k: &String| !k.is_empty() && k.bytes().all(|b| b.is_ascii_digit());
    let inner_index = map
        .values()
        .filter_map(serde_json::Value::as_object)
        .all(|fields| fields.keys().all(index));
    match (map.keys().all(index), inner_index) {
        (false, true) => Some("columns"),
        (true, false) => Some("index"),
        _ => None,
    }
}

/// Whether `map` has values and each is a non-empty object of text, numbers, booleans or null:
/// the shape of a pandas DataFrame's `to_json()` in its "columns" and "index" layouts.
fn objects_of_values(map: &serde_json::Map<String, serde_json::Value>) -> bool {
    !map.is_empty()
        && map.values().all(|v| {
            v.as_object().is_some_and(|fields| {
                !fields.is_empty() && fields.values().all(|c| !c.is_object() && !c.is_array())
            })
        })
}

/// A pandas DataFrame's JSON ([`pandas_orient`]) as a table, rows in the file's order. pandas
/// writes it on one line; a row's line is where its first value (orient "columns") or its
/// record (orient "index") starts.
fn parse_pandas(body: &[u8], name: &str, orient: &'static str) -> Result<Table> {
    let invalid =
        |e: serde_json::Error| Error::dataset(name, Some(e.line()), format!("invalid JSON: {e}"));
    // the outer object's values in file order, each an object in file order
    let outer: Pairs<Record> = serde_json::from_slice(body).map_err(invalid)?;
    let starts = array_element_starts(body);
    let line_of = |i: usize| starts.get(i).map_or(1, |&o| count_newlines(&body[..o]) + 1);
    let table = if orient == "index" {
        let objects = outer
            .0
            .into_iter()
            .enumerate()
            .map(|(i, (key, record))| (line_of(i), format!("record \"{key}\""), record))
            .collect();
        table_from_objects(objects, name, Format::Json)?
    } else {
        let Some(Record::Object(first)) = outer.0.first().map(|(_, r)| r) else {
            return Err(Error::dataset(name, Some(1), "has no records"));
        };
        let index: Vec<String> = first.iter().map(|(k, _)| k.clone()).collect();
        let at: std::collections::HashMap<&str, usize> = index
            .iter()
            .enumerate()
            .map(|(i, k)| (k.as_str(), i))
            .collect();
        let columns: Vec<String> = outer.0.iter().map(|(c, _)| c.clone()).collect();
        let mut rows = vec![vec![String::new(); columns.len()]; index.len()];
        for (c, (_, column)) in outer.0.into_iter().enumerate() {
            let Record::Object(cells) = column else {
                continue; // pandas_orient() saw objects only
            };
            for (k, v) in cells {
                // a label missing from the first column's index: a row of its own
                let r = match at.get(k.as_str()) {
                    Some(&r) => r,
                    None => {
                        rows.push(vec![String::new(); columns.len()]);
                        rows.len() - 1
                    }
                };
                rows[r][c] = cell(&v);
            }
        }
        check_columns(&columns, name, Some(1))?;
        let lines = vec![line_of(0); rows.len()];
        Table::read(Format::Json, columns, rows, lines)
    };
    Ok(Table {
        pandas_orient: Some(orient),
        ..table
    })
}

/// A JSON object's (key, value) pairs in file order (serde_json's map sorts its keys).
struct Pairs<T>(Vec<(String, T)>);

impl<'de, T: serde::Deserialize<'de>> serde::Deserialize<'de> for Pairs<T> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct V<T>(std::marker::PhantomData<T>);
        impl<'de, T: serde::Deserialize<'de>> serde::de::Visitor<'de> for V<T> {
            type Value = Pairs<T>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                m: A,
            ) -> std::result::Result<Pairs<T>, A::Error> {
                ordered_pairs(m).map(Pairs)
            }
        }
        d.deserialize_map(V(std::marker::PhantomData))
    }
}

/// A map's entries in the order the file holds them.
fn ordered_pairs<'de, A: serde::de::MapAccess<'de>, T: serde::Deserialize<'de>>(
    mut m: A,
) -> std::result::Result<Vec<(String, T)>, A::Error> {
    let mut pairs = Vec::new();
    while let Some(pair) = m.next_entry::<String, T>()? {
        pairs.push(pair);
    }
    Ok(pairs)
}

/// A JSON file that holds no array of records.
fn not_records(body: &[u8], name: &str, value: &serde_json::Value) -> Error {
    let first = body.iter().take_while(|b| b.is_ascii_whitespace());
    let line = first.filter(|&&b| b == b'\n').count() + 1;
    let what = match value {
        serde_json::Value::Object(map) => {
            let arrays: Vec<String> = map
                .iter()
                .filter(|(_, v)| {
                    v.as_array()
                        .is_some_and(|a| a.iter().any(|r| r.is_object()))
                })
                .map(|(k, _)| format!("\"{k}\""))
                .collect();
            // pandas' `df.to_json()` whose index is not row numbers ([`pandas_orient`] reads
            // the others): {"text": {"a": ...}, ...}
            match arrays.len() {
                0 if objects_of_values(map) => {
                    return Error::dataset(
                        name,
                        Some(line),
                        "the file holds one object per column ({\"text\": {\"0\": ...}, ...}: \
                         pandas' df.to_json() layout), but a JSON file must hold an array of \
                         records: save it with df.to_json(path, orient=\"records\"), or \
                         lines=True as .jsonl",
                    )
                }
                0 => "an object with no array of records in it".to_string(),
                // records_key() wants every element an object
                1 => format!(
                    "an object whose array {} holds values that are not records",
                    arrays[0]
                ),
                n => format!(
                    "an object with {n} arrays of records ({})",
                    arrays.join(", ")
                ),
            }
        }
        v => json_kind(v).to_string(),
    };
    Error::dataset(
        name,
        Some(line),
        format!(
            "the file holds {what}, but a JSON file must hold an array of records \
             ([{{\"text\": ...}}, ...] or {{\"data\": [{{\"text\": ...}}, ...]}}); for one object per \
             line, name it .jsonl"
        ),
    )
}

/// Byte offsets where the elements of a top-level JSON array start (`body` already parsed
/// as valid JSON). Tracks strings (with escapes) and nesting depth.
fn array_element_starts(body: &[u8]) -> Vec<usize> {
    let mut starts = Vec::new();
    let (mut depth, mut in_string, mut escaped, mut expect) = (0usize, false, false, false);
    for (i, &b) in body.iter().enumerate() {
        if in_string {
            if escaped {
                escaped = false;
            } else if b == b'\\' {
                escaped = true;
            } else if b == b'"' {
                in_string = false;
            }
            continue;
        }
        if b.is_ascii_whitespace() {
            continue;
        }
        if depth == 1 && expect && b != b']' {
            starts.push(i);
            expect = false;
        }
        match b {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                if depth == 1 {
                    expect = true;
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            b',' if depth == 1 => expect = true,
            _ => {}
        }
    }
    starts
}

/// One element of a JSON array or one JSONL line: an object's (key, value) pairs in file
/// order, or the kind of the non-object found instead.
enum Record {
    Object(Vec<(String, serde_json::Value)>),
    Other(&'static str),
}

impl<'de> serde::Deserialize<'de> for Record {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = Record;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a JSON value")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                m: A,
            ) -> std::result::Result<Record, A::Error> {
                ordered_pairs(m).map(Record::Object)
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut s: A,
            ) -> std::result::Result<Record, A::Error> {
                while s.next_element::<serde::de::IgnoredAny>()?.is_some() {}
                Ok(Record::Other("an array"))
            }
            fn visit_bool<E>(self, _: bool) -> std::result::Result<Record, E> {
                Ok(Record::Other("a boolean"))
            }
            fn visit_i64<E>(self, _: i64) -> std::result::Result<Record, E> {
                Ok(Record::Other("a number"))
            }
            fn visit_u64<E>(self, _: u64) -> std::result::Result<Record, E> {
                Ok(Record::Other("a number"))
            }
            fn visit_f64<E>(self, _: f64) -> std::result::Result<Record, E> {
                Ok(Record::Other("a number"))
            }
            fn visit_str<E>(self, _: &str) -> std::result::Result<Record, E> {
                Ok(Record::Other("a string"))
            }
            fn visit_unit<E>(self) -> std::result::Result<Record, E> {
                Ok(Record::Other("null"))
            }
            fn visit_none<E>(self) -> std::result::Result<Record, E> {
                Ok(Record::Other("null"))
            }
        }
        d.deserialize_any(V)
    }
}

fn json_kind(v: &serde_json::Value) -> &'static str {
    match v {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "a boolean",
        serde_json::Value::Number(_) => "a number",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Array(_) => "an array",
        serde_json::Value::Object(_) => "an object",
    }
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
        let value: Record = serde_json::from_str(text).map_err(|e| {
            // serde counts lines within this one line: say the column only
            let what = e.to_string();
            let what = what.split(" at line ").next().unwrap_or(&what);
            Error::dataset(
                name,
                Some(line_no),
                format!("invalid JSON at column {}: {what}", e.column()),
            )
        })?;
        objects.push((line_no, "the record".to_string(), value));
    }
    table_from_objects(objects, name, Format::Jsonl)
}
