//! Bytes -> records: parsed into a [`Table`] ([`parse`]: CSV, TSV, JSON, JSONL, in UTF-8 or
//! UTF-16, CSV and TSV also in Windows-1252), then the text and label columns picked into a [`Dataset`] ([`columns`]). Every
//! malformed input is an [`Error::Dataset`](crate::error::Error::Dataset) naming the file,
//! the line (or record) and the problem; nothing here panics on input.

pub mod columns;
pub mod parse;

pub use columns::from_table;
pub use parse::{parse_table, Format, Headerless, Table, MAX_COLUMNS};

use crate::error::Result;

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
    /// The file's encoding where it was not UTF-8 ([`Table::decoded_from`]).
    pub decoded_from: Option<&'static str>,
    /// Where the file had no header line ([`Table::headerless`]).
    pub headerless: Option<Headerless>,
    /// The key whose array held a JSON file's records ([`Table::records_under`]).
    pub records_under: Option<String>,
    /// pandas' `orient` where the file is a DataFrame's `to_json()` ([`Table::pandas_orient`]).
    pub pandas_orient: Option<&'static str>,
}

impl Dataset {
    /// Records whose text the encoder reads as nothing ([`has_no_text`]): each embeds as
    /// the empty sentence.
    pub fn without_text(&self) -> Vec<usize> {
        (0..self.texts.len())
            .filter(|&i| has_no_text(&self.texts[i]))
            .collect()
    }
}

/// Whether `text` is only white space, control characters and the invisible format
/// characters (zero-width space and joiners, BOM, soft hyphen, direction marks) that BERT's
/// normaliser drops: such a text embeds as the empty sentence. The page gets the records
/// from `loadDataset` (`src/wasm.rs`).
pub fn has_no_text(text: &str) -> bool {
    text.chars().all(|c| {
        c.is_whitespace()
            || c.is_control()
            || matches!(c, '\u{ad}' | '\u{200b}'..='\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2060}'..='\u{2064}' | '\u{feff}')
    })
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

impl Dataset {
    pub fn len(&self) -> usize {
        self.texts.len()
    }

    pub fn is_empty(&self) -> bool {
        self.texts.is_empty()
    }

    /// Sorted distinct label names; class ids everywhere are indices into this.
    pub fn classes(&self) -> Vec<String> {
        let mut c: Vec<String> = self.labels.iter().flatten().flatten().cloned().collect();
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
    fn texts_the_encoder_reads_as_nothing() {
        for blank in [
            "",
            " \t",
            "\u{200b}",
            "\u{feff}",
            "\u{85}",
            "\u{200b} \u{2060}",
            "\u{ad}",
        ] {
            assert!(has_no_text(blank), "{blank:?}");
        }
        for text in ["a", "\u{200b}a", "😀", "。"] {
            assert!(!has_no_text(text), "{text:?}");
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

    /// Four records, the first opening with a stray quote that only the third's text closes.
    const STRAY_RECORDS: [&str; 4] = [
        "\"Dimming the aura",
        "Pigskin picks",
        "Lyrics to \"Molly\" here",
        "last",
    ];

    /// [`STRAY_RECORDS`] as a file with a label column, fields separated by `delimiter`.
    fn stray_file(delimiter: char) -> String {
        let mut file = format!("text{delimiter}label\n");
        for (text, label) in STRAY_RECORDS.iter().zip(["x", "y", "z", "w"]) {
            file.push_str(&format!("{text}{delimiter}{label}\n"));
        }
        file
    }

    #[test]
    fn csv_stray_quote_never_joins_records() {
        let o = opts("f.csv", &["text"], Some("label"));
        // a quote that opens a field and closes only in a later line's text: each line is a
        // record (a quoting reader made one of the first three)
        let ds = load(stray_file(',').as_bytes(), &o).unwrap();
        assert_eq!(ds.texts, STRAY_RECORDS);
        // where the lines do not read so (a quoted comma elsewhere), the error names them
        let csv = "text,label\n\"Dimming the aura,x\n\"a, b\",y\nto \"Molly\" here,z\n";
        let e = err(csv.as_bytes(), &o);
        assert!(
            e.starts_with("f.csv, line 2: a quote opens a field here that closes only on line 3"),
            "{e}"
        );
        // a quote closed on its own line with text after it stays the lenient reading, and a
        // quoted field over two lines stays one field
        let csv = "text,label\n\"Sure,\" he said,x\n\"two\nlines, really\",y\n";
        let ds = load(csv.as_bytes(), &o).unwrap();
        assert_eq!(ds.texts, vec!["Sure, he said", "two\nlines, really"]);
        // the same rule where the header line's delimiter does not read the file: a headerless
        // file of `;` whose first record holds a comma reads as `;`, each line a record
        let semi = format!(
            "Two shootings, one on TV;w\n{}",
            stray_file(';').split_once('\n').unwrap().1
        );
        let t = parse_table(semi.as_bytes(), "s.csv", None).unwrap();
        assert_eq!(t.delimiter, Some(';'));
        let texts: Vec<&str> = t.rows.iter().map(|r| r[0].as_str()).collect();
        assert_eq!(texts[0], "Two shootings, one on TV");
        assert_eq!(texts[1..], STRAY_RECORDS);
        // and a one-column file (a `;` in its header's name): no line break can show there,
        // so the error names the lines
        let one = "Title (A; B)\n\"Dimming the aura\nPigskin picks\nLyrics to \"Molly\" here\n";
        let e = parse_table(one.as_bytes(), "one.csv", None)
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("one.csv, line 2: a quote opens a field here that closes only on line 4"),
            "{e}"
        );
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
    fn csv_delimiter_comes_from_the_header_line() {
        // what a spreadsheet writes as CSV where the decimal mark is a comma
        let semi = "id;intent;text\n1;alarm;\"wake me at 7, please\"\n2;weather;rain, today?\n";
        let t = parse_table(semi.as_bytes(), "hwu.csv", None).unwrap();
        assert_eq!((t.format, t.delimiter), (Format::Csv, Some(';')));
        assert_eq!(t.columns, vec!["id", "intent", "text"]);
        assert_eq!(t.rows[0], vec!["1", "alarm", "wake me at 7, please"]);
        assert_eq!(t.rows[1], vec!["2", "weather", "rain, today?"]);
        // a comma in the header wins, whatever the cells hold; quoted header text is no delimiter
        let comma = "\"a;b\",text\n1;2,x;y\n";
        let t = parse_table(comma.as_bytes(), "c.csv", None).unwrap();
        assert_eq!(
            (t.delimiter, t.columns.clone()),
            (Some(','), vec!["a;b".into(), "text".into()])
        );
        assert_eq!(t.rows[0], vec!["1;2", "x;y"]);
        // one column: commas in the records stay text only if quoted, as before
        let one = "\n\ntext\n\"hello, world\"\n";
        let t = parse_table(one.as_bytes(), "one.csv", None).unwrap();
        assert_eq!(
            (t.delimiter, t.rows.clone()),
            (Some(','), vec![vec!["hello, world".to_string()]])
        );
        // pipes; and tabs in a file named .csv read as TSV
        let t = parse_table(b"a|b\nx|y\n", "p.csv", None).unwrap();
        assert_eq!(
            (t.delimiter, t.rows[0].clone()),
            (Some('|'), vec!["x".into(), "y".into()])
        );
        let t = parse_table(b"a\tb\nx, 1\ty\n", "t.csv", None).unwrap();
        assert_eq!((t.format, t.delimiter), (Format::Tsv, Some('\t')));
        assert_eq!(t.rows[0], vec!["x, 1", "y"]);
        // a one-column header with a `;` in its name: the records say it is no delimiter
        let named = "Review (1-5; higher is better)\ngood\n\"fine, really\"\n";
        let t = parse_table(named.as_bytes(), "r.csv", None).unwrap();
        assert_eq!(t.delimiter, Some(','));
        assert_eq!(t.columns, vec!["Review (1-5; higher is better)"]);
        assert_eq!(
            t.rows,
            vec![vec!["good".to_string()], vec!["fine, really".to_string()]]
        );
        // a record with the wrong field count still names its line
        let bad = "id;text\n1;a\n2;b;c\n";
        let e = parse_table(bad.as_bytes(), "bad.csv", None)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("bad.csv")
                && e.contains("line 3")
                && e.contains("expected 2 fields")
                && e.contains("separated by \";\""),
            "{e}"
        );
    }

    #[test]
    fn a_file_without_a_header_line_keeps_its_first_record() {
        // a headerless TSV named .csv whose first record holds a comma (as the News Category
        // file of a public repository is): the comma does not read it, tabs do, and its first
        // line is a record, as its label "CRIME" is a value of that column further down
        let tsv = "\nThere were 2 shootings, but 1 on TV\tCRIME\nHugh Grant marries\tENTERTAINMENT\nA robbery downtown\tCRIME\n";
        let t = parse_table(tsv.as_bytes(), "news_category.csv", None).unwrap();
        assert_eq!((t.format, t.delimiter), (Format::Tsv, Some('\t')));
        assert_eq!(t.columns, vec!["column 1", "column 2"]);
        assert_eq!(t.rows.len(), 3);
        assert_eq!(
            t.rows[0],
            vec!["There were 2 shootings, but 1 on TV", "CRIME"]
        );
        assert_eq!(t.lines, vec![2, 3, 4]);
        let why = t.headerless.unwrap();
        assert_eq!((why.column, why.value.as_str(), why.line), (1, "CRIME", 4));
        let ds = load(
            tsv.as_bytes(),
            &opts("n.csv", &["column 1"], Some("column 2")),
        )
        .unwrap();
        assert_eq!(ds.len(), 3);
        assert!(ds.headerless.is_some());

        // a header is kept: names of a few words whose values never come back in their column,
        // names of one or two words (a repeat alone is no evidence), and a header line that a
        // concatenated export repeats whole
        let headed = [
            "How did you hear about us,Which plan are you on\na friend,basic\nan ad,basic\n",
            "text,label\nlabel,label\nsome text,x\n",
            "review text here,label\ngood,pos\nreview text here,label\nbad,label\n",
        ];
        for csv in headed {
            let t = parse_table(csv.as_bytes(), "h.csv", None).unwrap();
            assert!(t.headerless.is_none(), "{csv}");
            assert!(!t.columns[0].starts_with("column "), "{csv}");
        }
        // a ragged CSV that no other delimiter reads still names its line
        let e = parse_table(b"a,b\nx,y\nz\n", "r.csv", None)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("line 3") && e.contains("expected 2 fields"),
            "{e}"
        );
    }

    #[test]
    fn format_detection_and_text_column_detection() {
        assert_eq!(Format::detect("a.TSV", b""), Format::Tsv);
        assert_eq!(Format::detect("a", b"  [{}]"), Format::Json);
        assert_eq!(Format::detect("a", b"{\"a\":1}"), Format::Jsonl);
        assert_eq!(Format::detect("a", b"x\ty\n"), Format::Tsv);
        assert_eq!(Format::detect("a", b"x,y\n"), Format::Csv);
        let t = parse_table(
            b"id,text,label\n1,a long sentence,x\n2,another one,y\n",
            "f.csv",
            None,
        )
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
        assert!(err(b"text,label\r\n", &o).contains("but no records"));
        let e = err(b"text,label\na,b\nc,d,e\n", &o);
        assert!(
            e.contains("data.csv, line 3") && e.contains("expected 2 fields"),
            "{e}"
        );
        let e = err(b"txt,label\na,b\n", &o);
        assert!(
            e.contains("\"text\" not found; columns are: txt, label"),
            "{e}"
        );
        let e = err(b"text,label\nok \xc3\xa9,b\nbad \xff byte,c\n", &o);
        assert!(e.contains("line 3") && e.contains("UTF-8"), "{e}");
        let e = err(b"text,text\na,b\n", &o);
        assert!(e.contains("duplicate") && e.contains("text"), "{e}");
        let jo = opts("d.json", &["text"], None);
        let e = err(
            b"{\"text\": 1}",
            &LoadOptions {
                format: Some(Format::Json),
                ..jo.clone()
            },
        );
        assert!(e.contains("array"), "{e}");
        let e = err(b"[{\"text\": \"a\"}, 3]", &jo);
        assert!(e.contains("record 2") && e.contains("not an object"), "{e}");
        // an array field is one text now (json_nested_fields_flatten_and_wrapped_records_load)
        assert_eq!(load(b"[{\"text\": [1]}]", &jo).unwrap().texts, vec!["1"]);
        let e = err(b"[{\"text\": \"a\"},", &jo);
        assert!(
            e.contains("d.json, line 1") && e.contains("invalid JSON"),
            "{e}"
        );
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

    #[test]
    fn csv_lines_follow_multiline_records() {
        let csv = "text,label\r\n\"two\r\nlines\",a\r\nnext,b\r\n\r\nlast,c\r\n";
        let t = parse_table(csv.as_bytes(), "f.csv", None).unwrap();
        assert_eq!(t.lines, vec![2, 4, 6]);
        assert_eq!(t.rows[0], vec!["two\r\nlines", "a"]);
        let o = opts("m.csv", &["text"], None);
        let e = err(b"text,label\n\"x\ny\",a\nshort\n", &o);
        assert_eq!(e, "m.csv, line 4: expected 2 fields (text, label), found 1");
        let e = err(b"text,label\na,b\nc,d\ne,f,g\n", &o);
        assert_eq!(e, "m.csv, line 4: expected 2 fields (text, label), found 3");
    }

    #[test]
    fn header_errors_name_line_and_columns() {
        let o = opts("h.csv", &["text"], Some("label"));
        assert_eq!(
            err(b"text,label\r\n", &o),
            "h.csv, line 1: has a header (text, label) but no records"
        );
        assert_eq!(
            err(b"\n\ntext,label\n", &o),
            "h.csv, line 3: has a header (text, label) but no records"
        );
        assert_eq!(
            err(b"txt,label\na,b\n", &o),
            "h.csv, line 1: column \"text\" not found; columns are: txt, label"
        );
        let e = err(b"text,label\na,b\n", &opts("h.csv", &["text"], Some("lbl")));
        assert!(
            e.contains("\"lbl\" not found; columns are: text, label"),
            "{e}"
        );
        let e = err(b"text,label,text,label,text\na,b,c,d,e\n", &o);
        assert!(
            e.starts_with("h.csv, line 1: duplicate column name(s)"),
            "{e}"
        );
        assert!(e.contains("\"text\", \"label\";"), "{e}");
        let e = err(b",\na,b\n", &o);
        assert!(
            e.contains("line 1") && e.contains("names no columns"),
            "{e}"
        );
    }

    #[test]
    fn tsv_quotes_and_tabs() {
        let tsv = "text\tlabel\n\"a\tb \"\"q\"\"\"\tx\nplain, with comma\ty\n";
        let ds = load(tsv.as_bytes(), &opts("f.tab", &["text"], Some("label"))).unwrap();
        assert_eq!(ds.texts, vec!["a\tb \"q\"", "plain, with comma"]);
        let e = err(b"text\tlabel\na\tb\tc\n", &opts("f.tsv", &["text"], None));
        assert_eq!(e, "f.tsv, line 2: expected 2 fields (text, label), found 3");
    }

    #[test]
    fn tsv_with_literal_quotes_keeps_them() {
        let o = opts("f.tsv", &["text"], Some("label"));
        // a field that opens with a quote but is no quoted field: read as written
        let tsv = "text\tlabel\n\"Sure,\" he said.\tx\n5\" screen\ty\n";
        let ds = load(tsv.as_bytes(), &o).unwrap();
        assert_eq!(ds.texts, vec!["\"Sure,\" he said.", "5\" screen"]);
        // a quote opened and never closed is a quote, not the rest of the file
        let tsv = "text\tlabel\n\"unclosed start\tx\nnext\ty\nthird\tz\n";
        let ds = load(tsv.as_bytes(), &o).unwrap();
        assert_eq!(ds.texts, vec!["\"unclosed start", "next", "third"]);
        // a stray quote closed only by another line's quote: the lines between stay records
        // (the quoted reading made one record of the first three)
        let ds = load(stray_file('\t').as_bytes(), &o).unwrap();
        assert_eq!(ds.texts, STRAY_RECORDS);
        // quoted fields as pandas writes them (one spanning two lines) stay quoted fields
        let tsv = "text\tlabel\n\"\"\"Hi\"\" there\"\tx\n\"two\nlines\"\ty\n\"plain\"\tz\n";
        let ds = load(tsv.as_bytes(), &o).unwrap();
        assert_eq!(ds.texts, vec!["\"Hi\" there", "two\nlines", "plain"]);
        // one line, fields quoted whole: the quoted reading
        let ds = load(b"text\tlabel\n\"a \"\"b\"\"\"\tx\n", &o).unwrap();
        assert_eq!(ds.texts, vec!["a \"b\""]);
    }

    #[test]
    fn json_values_lines_and_errors() {
        let json = "[\n  {\"text\": \"a, [b] \\\"q\\\" {c}\", \"n\": 1.5, \"ok\": false},\n  {\"text\": \"d\"}\n]";
        let t = parse_table(json.as_bytes(), "x", None).unwrap();
        assert_eq!(t.format, Format::Json);
        assert_eq!(t.columns, vec!["text", "n", "ok"]);
        assert_eq!(t.rows[0], vec!["a, [b] \"q\" {c}", "1.5", "false"]);
        assert_eq!(t.rows[1], vec!["d", "", ""]);
        assert_eq!(t.lines, vec![2, 3]);
        let jo = opts("d.json", &["text"], None);
        let e = err(b"[\n{\"text\": \"a\"},\n\"b\"\n]", &jo);
        assert_eq!(
            e,
            "d.json, line 3: record 2 is a string, not an object; each record must be {\"column\": value, ...}"
        );
        assert_eq!(err(b"[]", &jo), "d.json: has no records");
        let e = err(b"[{}, {}]", &jo);
        assert!(e.contains("line 1") && e.contains("no fields"), "{e}");
        let e = err(
            b"\n{\"text\": \"a\"}",
            &LoadOptions {
                format: Some(Format::Json),
                ..jo.clone()
            },
        );
        assert!(
            e.starts_with("d.json, line 2: the file holds an object") && e.contains(".jsonl"),
            "{e}"
        );
        let e = err(b"[\n{\"text\": \"a\"}\n{\"text\": \"b\"}]", &jo);
        assert!(e.starts_with("d.json, line 3: invalid JSON"), "{e}");
        let e = err(b"[\n{\"text\": \"\xff\"}]", &jo);
        assert!(e.starts_with("d.json, line 2: invalid UTF-8"), "{e}");
    }

    #[test]
    fn json_nested_fields_flatten_and_wrapped_records_load() {
        // nested objects as dotted columns, arrays of scalars joined, other arrays as JSON
        let json = br#"[
  {"id": 1, "meta": {"title": "card declined", "src": {"app": "ios"}}, "tags": ["a", 2, null], "label": "card"},
  {"id": 2, "meta": {"title": "where is my transfer"}, "tags": [], "pts": [{"x": 1}], "label": {}}
]"#;
        let t = parse_table(json, "n.json", None).unwrap();
        assert_eq!(
            t.columns,
            vec!["id", "meta.src.app", "meta.title", "tags", "label", "pts"]
        );
        assert_eq!(
            t.rows[0],
            vec!["1", "ios", "card declined", "a, 2", "card", ""]
        );
        assert_eq!(
            t.rows[1],
            vec!["2", "", "where is my transfer", "", "", "[{\"x\":1}]"]
        );
        assert_eq!(
            (t.lines.clone(), t.records_under.clone()),
            (vec![2, 3], None)
        );
        let ds = load(json, &opts("n.json", &["meta.title"], Some("label"))).unwrap();
        assert_eq!(ds.labels, Some(vec![Some("card".to_string()), None]));
        // one object holding the records' array: read from it, lines from the file's start
        let wrapped = b"{\"version\": 3, \"note\": [1, 2],\n \"data\": [\n  {\"text\": \"a\"},\n\n  {\"text\": \"b\"}\n]}";
        let t = parse_table(wrapped, "w.json", None).unwrap();
        assert_eq!(t.records_under.as_deref(), Some("data"));
        assert_eq!((t.rows.len(), t.lines.clone()), (2, vec![3, 5]));
        let ds = load(wrapped, &opts("w.json", &["text"], None)).unwrap();
        assert_eq!(
            (ds.texts.len(), ds.records_under.as_deref()),
            (2, Some("data"))
        );
        // none or two arrays of records: refused, naming them
        let jo = opts("w.json", &["text"], None);
        let e = err(
            b"{\"a\": [{\"text\": \"x\"}], \"b\": [{\"text\": \"y\"}]}",
            &jo,
        );
        assert!(e.contains("2 arrays of records (\"a\", \"b\")"), "{e}");
        let e = err(b"{\"text\": \"x\", \"n\": [1]}", &jo);
        assert!(e.contains("no array of records"), "{e}");
        let e = err(b"{\"data\": [{\"text\": \"x\"}, 3]}", &jo);
        assert!(
            e.contains("array \"data\" holds values that are not records"),
            "{e}"
        );
    }

    #[test]
    fn pandas_to_json_reads_in_row_order() {
        // df.to_json(): one object per column, keyed by the row number, on one line; rows
        // 0..11 in the file's order ("10" after "9", not after "1")
        let texts: Vec<String> = (0..12).map(|i| format!("record {i}")).collect();
        let column = |f: &dyn Fn(usize) -> String| {
            let cells: Vec<String> = (0..12).map(|i| format!("\"{i}\":{}", f(i))).collect();
            format!("{{{}}}", cells.join(","))
        };
        let json = format!(
            "{{\"text\":{},\"label\":{}}}",
            column(&|i| format!("\"{}\"", texts[i])),
            column(&|i| if i == 3 {
                "null".into()
            } else {
                format!("{}", i % 2)
            })
        );
        let ds = load(json.as_bytes(), &opts("p.json", &["text"], Some("label"))).unwrap();
        assert_eq!(
            (ds.texts.clone(), ds.pandas_orient),
            (texts, Some("columns"))
        );
        let labels = ds.labels.unwrap();
        assert_eq!(
            (labels[3].clone(), labels[10].as_deref()),
            (None, Some("0"))
        );
        // orient="index": one object per row, keyed by the row number; lines as written
        let json = b"{\n\"0\": {\"text\": \"a\", \"label\": \"x\"},\n\"1\": {\"text\": \"b\", \"label\": \"y\"}\n}";
        let t = parse_table(json, "i.json", None).unwrap();
        assert_eq!(
            (t.columns.clone(), t.rows.clone()),
            (
                vec!["text".to_string(), "label".into()],
                vec![
                    vec!["a".to_string(), "x".into()],
                    vec!["b".to_string(), "y".into()]
                ]
            )
        );
        assert_eq!((t.lines, t.pandas_orient), (vec![2, 3], Some("index")));
        // an index that is not row numbers is not guessed: refused, saying how to save it
        let e = err(
            b"{\"text\": {\"a\": \"x\", \"b\": \"y\"}, \"label\": {\"a\": \"p\", \"b\": null}}",
            &opts("p.json", &["text"], None),
        );
        assert!(e.contains("orient=\"records\""), "{e}");
    }

    #[test]
    fn jsonl_crlf_blank_lines_and_errors() {
        let jsonl = "\u{feff}{\"text\": \"a\", \"label\": \"x\"}\r\n\r\n   \r\n{\"text\": \"b\", \"label\": \" \"}\r\n";
        let ds = load(
            jsonl.as_bytes(),
            &opts("f.ndjson", &["text"], Some("label")),
        )
        .unwrap();
        assert_eq!(ds.texts, vec!["a", "b"]);
        assert_eq!(ds.labels, Some(vec![Some("x".into()), None]));
        let lo = opts("d.jsonl", &["text"], None);
        let e = err(b"{\"text\": \"a\"}\n\n7\n", &lo);
        assert!(
            e.starts_with("d.jsonl, line 3: the record is a number, not an object"),
            "{e}"
        );
        let ds = load(b"{\"text\": \"a\"}\n{\"text\": [\"b\", \"c\"]}\n", &lo).unwrap();
        assert_eq!(ds.texts, vec!["a", "b, c"]);
        let e = err(b"{\"text\": \"a\"}\n{\"text\": \"\xc3\"}\n", &lo);
        assert!(e.starts_with("d.jsonl, line 2: invalid UTF-8"), "{e}");
    }

    #[test]
    fn utf16_is_decoded_and_binaries_are_named() {
        let o = opts("f.csv", &["text"], Some("label"));
        let mut le = vec![0xFF, 0xFE];
        le.extend(
            "text,label\nhé,a\n"
                .encode_utf16()
                .flat_map(|u| u.to_le_bytes()),
        );
        let ds = load(&le, &o).unwrap();
        assert_eq!(
            (ds.texts, ds.decoded_from),
            (vec!["hé".to_string()], Some("UTF-16"))
        );
        le.push(0x41); // an odd trailing byte
        assert!(err(&le, &o).contains("bad UTF-16"), "{}", err(&le, &o));
        assert!(err(b"%PDF-1.4 ...", &o).contains("PDF"));
        let docx = b"PK\x03\x04\x14\x00\x06\x00[Content_Types].xml....PK\x03\x04word/document.xml";
        assert!(err(docx, &o).contains("Word document (.docx): copy its table"));
        let xlsx = b"PK\x03\x04\x14\x00\x06\x00[Content_Types].xml....PK\x03\x04xl/workbook.xml";
        assert!(err(xlsx, &o).contains("Excel spreadsheet (.xlsx): save it as CSV"));
        assert!(err(b"PK\x03\x04 other.txt", &o).contains("ZIP archive"));
        assert!(err(b"PK\x03\x04rest", &o).contains("Excel .xlsx"));
        let nul = err(b"text,label\nok,a\nb\x00ad,b\n", &o);
        assert!(nul.contains("line 3") && nul.contains("NUL"), "{nul}");
        let open = err(b"text,label\nok,a\n\"open,b\nmore,c\n", &o);
        assert!(
            open.contains("line 3") && open.contains("never closed"),
            "{open}"
        );
    }

    #[test]
    fn tables_not_in_utf8_read_as_windows_1252_unless_damaged_utf8() {
        // what Excel writes as "CSV" on Western Windows: é, smart quotes, the euro sign
        let o = opts("u.tsv", &["text"], Some("label"));
        let ds = load(b"text\tlabel\ncaf\xe9\tx\n\x93ok\x94 \x80 5\ty\n", &o).unwrap();
        assert_eq!(ds.texts, vec!["caf\u{e9}", "\u{201c}ok\u{201d} \u{20ac} 5"]);
        assert_eq!(ds.decoded_from, Some("Windows-1252"));
        let t = parse_table(b"text\ncaf\xe9\n", "w.csv", None).unwrap();
        assert_eq!(
            (t.decoded_from, t.rows[0][0].as_str()),
            (Some("Windows-1252"), "caf\u{e9}")
        );
        // UTF-8 stays UTF-8, and UTF-16 says so
        let t = parse_table("text\ncaf\u{e9}\n".as_bytes(), "u.csv", None).unwrap();
        assert_eq!(t.decoded_from, None);
        // a UTF-8 file with a damaged byte is not re-read: the error names line and byte
        let e = err(
            b"\xEF\xBB\xBFtext\tlabel\ncaf\xc3\xa9\tx\nbad \xe9\ty\n",
            &o,
        );
        assert_eq!(
            e,
            "u.tsv, line 3: invalid UTF-8 at byte 26 (byte 0xE9; the rest of the file reads as UTF-8, so this byte is damaged: fix or remove it)"
        );
        // JSON is UTF-8 by definition
        let e = err(
            b"[{\"text\": \"caf\xe9\"}]",
            &opts("d.json", &["text"], None),
        );
        assert!(
            e.contains("JSON is UTF-8: re-save the file as UTF-8"),
            "{e}"
        );
        // every byte decodes; the upper half is Latin-1's, 0x80-0x9F Windows-1252's
        let all: Vec<u8> = (0..=255).collect();
        let s: Vec<char> = parse::windows_1252(&all).chars().collect();
        assert_eq!(s.len(), 256);
        assert!((0xA0..=0xFF).all(|b| s[b] as u32 == b as u32));
        assert_eq!(
            (s[0x80], s[0x92], s[0x96], s[0x9F], s[0x81]),
            ('\u{20ac}', '\u{2019}', '\u{2013}', '\u{178}', '\u{81}')
        );
    }

    #[test]
    fn text_column_detection_skips_numbers_labels_and_empties() {
        let t = parse_table(
            b"id,a,b,label\n1,xy,zw,a_long_label\n,,,\n3,pq,rs,another_label\n",
            "f.csv",
            None,
        )
        .unwrap();
        // the label column is the longest, but load never picks the label column
        assert_eq!(t.detect_text_column().unwrap(), "label");
        let ds = load(
            b"id,a,b,label\n1,xy,zw,a_long_label\n,,,\n3,pq,rs,another_label\n",
            &opts("f.csv", &[], Some("label")),
        )
        .unwrap();
        assert_eq!(ds.text_columns, vec!["a"]); // tie between a and b -> leftmost
        let e = err(b"id,score\n1,2.5\n2,\n", &opts("n.csv", &[], None));
        assert!(e.starts_with("n.csv: no text column found"), "{e}");
        let e = err(b"text,label\n,x\n", &opts("n.csv", &[], Some("label")));
        assert!(e.contains("no text column"), "{e}");
    }

    #[test]
    fn join_labels_and_serde() {
        let o = LoadOptions {
            name: "j.csv".into(),
            text_columns: vec!["b".into(), "a".into()],
            join: Some(" | ".into()),
            ..Default::default()
        };
        let ds = load(b"a,b\n1,2\n", &o).unwrap();
        assert_eq!(ds.texts, vec!["2 | 1"]);
        assert_eq!(ds.labels, None);
        assert_eq!(ds.class_ids(), vec![None]);
        assert!(ds.classes().is_empty());
        assert_eq!(serde_json::to_string(&Format::Jsonl).unwrap(), "\"jsonl\"");
        let o: LoadOptions =
            serde_json::from_str(r#"{"name": "x.csv", "format": "tsv", "label_column": "l"}"#)
                .unwrap();
        assert_eq!(o.format, Some(Format::Tsv));
        assert!(o.text_columns.is_empty() && o.join.is_none());
        assert_eq!(Format::detect("x.txt", b"\xEF\xBB\xBF\n [1]"), Format::Json);
        assert_eq!(Format::detect("x.JSONL", b"[1]"), Format::Jsonl);
        assert_eq!(Format::detect("noext", b"a\tb,c\n"), Format::Csv);
        assert_eq!(Format::detect("", b""), Format::Csv);
    }

    #[test]
    fn nothing_panics_on_mangled_input() {
        let samples: [&[u8]; 4] = [
            b"\xEF\xBB\xBFtext,label\r\n\"a, \"\"b\"\"\r\nc\",x\r\nd,\r\n",
            b"text\tlabel\n\"a\tb\"\tx\n",
            b"[{\"text\": \"a\\\"[\", \"n\": [1, {\"x\": 2}]}, {\"label\": null}]",
            b"{\"text\": \"a\"}\n\n{\"text\": \"\\u00e9\", \"l\": 1}\n",
        ];
        let formats = [
            None,
            Some(Format::Csv),
            Some(Format::Tsv),
            Some(Format::Json),
            Some(Format::Jsonl),
        ];
        for sample in samples {
            for cut in 0..=sample.len() {
                for i in [None, Some(cut)] {
                    let mut bytes = sample[..cut].to_vec();
                    if let Some(i) = i.filter(|&i| i < bytes.len()) {
                        bytes[i] ^= 0x80;
                    }
                    for format in formats {
                        let o = LoadOptions {
                            name: "z".into(),
                            format,
                            ..Default::default()
                        };
                        let _ = load(&bytes, &o);
                        let o = LoadOptions {
                            label_column: Some("label".into()),
                            ..o
                        };
                        let _ = load(&bytes, &o);
                    }
                }
            }
        }
    }

    #[test]
    fn big_json_array_lines_are_counted_in_one_pass() {
        let mut json = String::from("[\n");
        for i in 0..20_000 {
            json += &format!(
                "{{\"text\": \"record {i} {}\", \"label\": \"c{}\"}},\n",
                "w ".repeat(20),
                i % 7
            );
        }
        json += "{\"text\": \"last\"}\n]";
        let t = parse_table(json.as_bytes(), "big.json", None).unwrap();
        assert_eq!(t.rows.len(), 20_001);
        assert_eq!(t.lines[0], 2);
        assert_eq!(t.lines[20_000], 20_002);
        assert_eq!(t.columns, vec!["text", "label"]);
    }
}
