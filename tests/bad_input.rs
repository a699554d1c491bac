//! The bad-input corpus (tests/corpus/make.mjs, issue 10) through the CLI: every malformed
//! dataset and broken model folder gets a clear error naming the file (and the line or
//! field), never a panic; every good one loads with the records and classes it holds.
//! The page reads the same corpus in tests/e2e/bad-input.test.mjs.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde::Deserialize;

#[derive(Deserialize)]
struct Manifest {
    dir: PathBuf,
    entries: Vec<Entry>,
}

#[derive(Deserialize)]
struct Entry {
    kind: String,
    #[serde(default)]
    file: Option<String>,
    #[serde(default)]
    dir: Option<String>,
    what: String,
    expect: Option<Vec<String>>,
    #[serde(default)]
    records: Option<usize>,
    #[serde(default)]
    classes: Option<usize>,
    #[serde(default)]
    train: Option<Vec<String>>,
    #[serde(default = "yes")]
    cli: bool,
    /// a dataset's columns to load ("text" and "label" unless the manifest says otherwise)
    #[serde(default)]
    text: String,
    #[serde(default)]
    label: String,
}

fn yes() -> bool {
    true
}

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Generates the corpus (idempotent: files already there are kept) and reads its manifest.
fn corpus() -> Manifest {
    let out = root().join("target/bad-input-cli");
    let made = Command::new("node")
        .arg(root().join("tests/corpus/make.mjs"))
        .arg(&out)
        .output()
        .expect("node runs tests/corpus/make.mjs (set-up installs node)");
    assert!(
        made.status.success(),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );
    serde_json::from_slice(&std::fs::read(out.join("manifest.json")).unwrap()).unwrap()
}

fn simtune(args: &[&str]) -> (bool, String) {
    let cache = std::env::temp_dir().join(format!("simtune-bad-input-{}", std::process::id()));
    let o: Output = Command::new(env!("CARGO_BIN_EXE_simtune"))
        .args(args)
        .env("XDG_CACHE_HOME", &cache)
        .env_remove("RUST_BACKTRACE")
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(!text.contains("panicked"), "a panic: {text}");
    (o.status.success(), text)
}

/// Fails unless the command failed with a message holding every expected string.
fn expect_error(what: &str, ok: bool, text: &str, expect: &[String]) {
    assert!(!ok, "{what}: should fail, but: {text}");
    let lower = text.to_lowercase();
    for e in expect {
        assert!(
            lower.contains(&e.to_lowercase()),
            "{what}: the message lacks {e:?}: {text}"
        );
    }
    assert!(
        text.lines().count() <= 2,
        "{what}: one clear message, not {text}"
    );
}

#[test]
fn every_corpus_input_gets_a_clear_answer() {
    let m = corpus();
    let mut tried = 0;
    for e in m.entries.iter().filter(|e| e.cli) {
        let what = format!(
            "{} ({})",
            e.file.as_deref().or(e.dir.as_deref()).unwrap_or("?"),
            e.what
        );
        match e.kind.as_str() {
            "dataset" => {
                let file = m.dir.join(e.file.as_ref().unwrap());
                let file = file.to_str().unwrap();
                let args = ["--text-column", &e.text, "--label-column", &e.label];
                let (ok, text) = simtune(&[&["check", file][..], &args].concat());
                match &e.expect {
                    Some(expect) => expect_error(&what, ok, &text, expect),
                    None => {
                        assert!(ok, "{what}: should load, but: {text}");
                        let records = format!(": {} records", e.records.unwrap());
                        let classes = format!(": {} class(es)", e.classes.unwrap());
                        assert!(
                            text.contains(&records) && text.contains(&classes),
                            "{what}: {text}"
                        );
                    }
                }
                if let Some(expect) = &e.train {
                    let (ok, text) = simtune(&[&["train", file][..], &args].concat());
                    expect_error(&format!("train on {what}"), ok, &text, expect);
                }
            }
            "model" => {
                let dir = m.dir.join(e.dir.as_ref().unwrap());
                let good = m.dir.join("good.csv");
                let (ok, text) = simtune(&[
                    "embed",
                    good.to_str().unwrap(),
                    "--text-column",
                    "text",
                    "--no-cache",
                    "--model",
                    dir.to_str().unwrap(),
                    "-o",
                    m.dir.join("unused.npy").to_str().unwrap(),
                ]);
                expect_error(&what, ok, &text, e.expect.as_ref().unwrap());
            }
            _ => continue,
        }
        tried += 1;
    }
    assert!(tried >= 24, "only {tried} corpus inputs were tried");
}

/// A 1 GB file made at test time (sparse: all NUL bytes, as a disk image or a broken copy
/// would be): refused with its name and the reason, within the CLI's memory.
#[test]
fn a_one_gigabyte_binary_file_is_refused() {
    let dir = root().join("target/bad-input-cli");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("one-gigabyte.csv");
    std::fs::File::create(&path)
        .unwrap()
        .set_len(1 << 30)
        .unwrap();
    let (ok, text) = simtune(&["check", path.to_str().unwrap()]);
    let _ = std::fs::remove_file(&path);
    expect_error(
        "a 1 GB file of NUL bytes",
        ok,
        &text,
        &["one-gigabyte.csv".into(), "NUL byte".into()],
    );
}

/// Records without text are kept (record numbers follow the file) and `check` names them.
#[test]
fn records_without_text_are_named() {
    let dir = root().join("target/bad-input-cli");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("blank-rows.csv");
    // record 4 holds only a zero-width space, which the encoder drops as it drops spaces
    std::fs::write(
        &path,
        "text,label\na card,x\n,y\n   ,x\nrent,y\n\u{200b},x\n",
    )
    .unwrap();
    let (ok, text) = simtune(&["check", path.to_str().unwrap(), "--label-column", "label"]);
    assert!(ok, "{text}");
    assert!(text.contains("5 records"), "{text}");
    assert!(
        text.contains("3 record(s) without text (record 1, 2, 4): kept"),
        "{text}"
    );
}
