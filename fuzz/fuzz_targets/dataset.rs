//! Dataset parsing: `parse_table` on any bytes under each file name (so each format's
//! parser, and sniffing for a name with no extension), then `load` with a text column (and
//! maybe a label column) taken from the parsed table, and with detection.
//!
//! Input: byte 0 picks the file name, byte 1 picks columns and the join, the rest is the file.
#![no_main]

use libfuzzer_sys::fuzz_target;
use simtune::dataset::{self, LoadOptions};

const NAMES: [&str; 5] = ["f.csv", "f.tsv", "f.json", "f.jsonl", "f"];

fuzz_target!(|input: &[u8]| {
    let Some((&pick, rest)) = input.split_first() else {
        return;
    };
    let name = NAMES[pick as usize % NAMES.len()];
    let (choice, data) = rest.split_first().map_or((0, rest), |(&c, d)| (c, d));

    let table = match dataset::parse_table(data, name, None) {
        Ok(table) => table,
        Err(e) => {
            let _ = e.to_string();
            return;
        }
    };
    // every row has a source line
    assert_eq!(table.rows.len(), table.lines.len());

    // detection (no columns named) must agree with the parse: Ok or a typed error
    let detected = dataset::load(
        data,
        &LoadOptions {
            name: name.to_string(),
            ..LoadOptions::default()
        },
    );
    if let Ok(d) = &detected {
        assert_eq!(d.len(), table.rows.len());
    }
    let _ = table.detect_text_column();

    if table.columns.is_empty() {
        return;
    }
    let n = table.columns.len();
    let text = table.columns[choice as usize % n].clone();
    let label = (choice & 0x80 != 0).then(|| table.columns[(choice as usize / 3) % n].clone());
    let join = (choice & 0x40 != 0).then(|| " | ".to_string());
    let options = LoadOptions {
        name: name.to_string(),
        format: Some(table.format),
        text_columns: vec![text],
        join,
        label_column: label,
    };
    match dataset::load(data, &options) {
        Ok(d) => {
            assert_eq!(d.len(), table.rows.len());
            if let Some(labels) = &d.labels {
                assert_eq!(labels.len(), d.len());
            }
            let _ = d.classes();
            let _ = d.class_ids();
        }
        Err(e) => {
            let _ = e.to_string();
        }
    }
});
