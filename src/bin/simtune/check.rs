//! `simtune check`: reads a file as `embed`/`train` would and reports its records, columns
//! and classes, or what is wrong with it; embeds nothing.

use std::path::PathBuf;

use anyhow::Result;
use clap::Args;

use crate::args::DataArgs;
use crate::inputs::read_dataset;

#[derive(Args)]
pub struct CheckArgs {
    /// The records: a CSV, TSV, JSON or JSONL file.
    file: PathBuf,
    #[command(flatten)]
    data: DataArgs,
}

pub fn run(args: CheckArgs) -> Result<()> {
    let CheckArgs { file, data } = args;
    let (_, ds) = read_dataset(&file, &data)?;
    let classes = ds.classes();
    let labelled = ds.class_ids().iter().filter(|c| c.is_some()).count();
    println!(
        "{}: {} records; text column(s) {}",
        file.display(),
        ds.len(),
        ds.text_columns.join(", ")
    );
    // a record without text embeds as the empty sentence: kept, so numbers follow the file
    let empty: Vec<String> = ds.without_text().iter().map(|i| i.to_string()).collect();
    if !empty.is_empty() {
        println!(
            "{} record(s) without text (record {}{}): kept, so record numbers follow the file, but each embeds as the empty sentence, similar only to the others without text",
            empty.len(),
            empty[..empty.len().min(5)].join(", "),
            if empty.len() > 5 { ", ..." } else { "" }
        );
    }
    if let Some(key) = &ds.records_under {
        println!("records read from the array under \"{key}\"");
    }
    if let Some(orient) = ds.pandas_orient {
        println!("read as a pandas DataFrame's to_json() (orient \"{orient}\")");
    }
    if let Some(h) = &ds.headerless {
        println!(
            "no header line: line 1 is read as a record, as \"{}\" (column {}) is also a value of that column on line {}; its columns are numbered",
            h.value,
            h.column + 1,
            h.line
        );
    }
    match &ds.label_column {
        Some(column) => println!(
            "label column {column}: {} class(es), {labelled} labelled records",
            classes.len()
        ),
        None => println!("no label column"),
    }
    Ok(())
}
