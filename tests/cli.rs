//! The `simtune` binary end to end on a slice of real data: embed to .npy, the cache, eval
//! with a JSON report, train + search, and clear errors for bad input.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn shared(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/data")
        .join(name)
}

struct Tmp(PathBuf);
impl Tmp {
    fn new(tag: &str) -> Self {
        let p = std::env::temp_dir().join(format!("simtune-cli-{tag}-{}", std::process::id()));
        std::fs::create_dir_all(&p).unwrap();
        Tmp(p)
    }
}
impl Drop for Tmp {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn simtune(cache: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_simtune"))
        .args(args)
        .env("XDG_CACHE_HOME", cache)
        .output()
        .unwrap()
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// The first `per_class` rows of each of the first `classes` classes of Banking77's test file.
fn slice_of_banking77(dir: &Path, classes: usize, per_class: usize) -> PathBuf {
    let src = std::fs::read_to_string(shared("banking77_test.csv")).unwrap();
    let mut reader = csv::Reader::from_reader(src.as_bytes());
    let mut seen: Vec<(String, usize)> = Vec::new();
    let mut out = csv::Writer::from_path(dir.join("slice.csv")).unwrap();
    out.write_record(["text", "label"]).unwrap();
    for rec in reader.records() {
        let rec = rec.unwrap();
        let label = rec[1].to_string();
        let known = seen.len();
        match seen.iter_mut().find(|(l, _)| *l == label) {
            Some((_, n)) if *n < per_class => *n += 1,
            Some(_) => continue,
            None if known < classes => seen.push((label.clone(), 1)),
            None => continue,
        }
        out.write_record([&rec[0], &rec[1]]).unwrap();
    }
    out.flush().unwrap();
    dir.join("slice.csv")
}

#[test]
fn embed_writes_npy_and_second_run_uses_the_cache() {
    let tmp = Tmp::new("embed");
    let csv = slice_of_banking77(&tmp.0, 3, 10);
    let npy = tmp.0.join("out.npy");
    let args = [
        "embed",
        csv.to_str().unwrap(),
        "--text-column",
        "text",
        "-o",
        npy.to_str().unwrap(),
    ];
    let first = simtune(&tmp.0, &args);
    assert!(first.status.success(), "{}", text(&first));
    let emb = simtune::Embeddings::from_npy(&std::fs::read(&npy).unwrap()).unwrap();
    assert_eq!((emb.rows(), emb.dim()), (30, 384));
    let second = simtune(&tmp.0, &args);
    assert!(second.status.success(), "{}", text(&second));
    assert!(text(&second).contains("from cache"), "{}", text(&second));
    assert_eq!(
        simtune::Embeddings::from_npy(&std::fs::read(&npy).unwrap()).unwrap(),
        emb
    );
}

#[test]
fn eval_writes_a_json_report_and_train_search_work() {
    let tmp = Tmp::new("eval");
    let csv = slice_of_banking77(&tmp.0, 4, 20);
    let json = tmp.0.join("report.json");
    let o = simtune(
        &tmp.0,
        &[
            "eval",
            csv.to_str().unwrap(),
            "--split",
            "0.5",
            "--label-column",
            "label",
            "--labels",
            "8,all",
            "--seeds",
            "2",
            "--k",
            "5,10",
            "--json",
            json.to_str().unwrap(),
        ],
    );
    assert!(o.status.success(), "{}", text(&o));
    let report: serde_json::Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    let rows = report["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 4); // 2 budgets x 2 ks
    assert_eq!(rows[0]["labels"], 8);
    assert_eq!(rows[2]["labels"], "all");
    for r in rows {
        for key in ["raw", "tuned", "tuned_std", "train_s"] {
            let v = r[key].as_f64().unwrap();
            assert!(v.is_finite() && v >= 0.0, "{key} = {v}");
        }
        assert!(r["raw"].as_f64().unwrap() <= 1.0);
    }

    let head = tmp.0.join("head.safetensors");
    let o = simtune(
        &tmp.0,
        &[
            "train",
            csv.to_str().unwrap(),
            "--label-column",
            "label",
            "-o",
            head.to_str().unwrap(),
        ],
    );
    assert!(o.status.success(), "{}", text(&o));
    // the label names: how many joined, and the ones that stayed out named
    let err = String::from_utf8_lossy(&o.stderr);
    let line = err
        .lines()
        .find(|l| l.contains("label names trained on as records"))
        .unwrap_or_else(|| panic!("{err}"));
    let counts: Vec<usize> = line
        .split(' ')
        .take(3)
        .filter_map(|w| w.parse().ok())
        .collect();
    assert_eq!(counts.len(), 2, "{line}");
    assert_eq!(counts[0] < counts[1], line.contains("stayed out"), "{line}");
    let o = simtune(
        &tmp.0,
        &[
            "search",
            csv.to_str().unwrap(),
            "--label-column",
            "label",
            "--query",
            "I still have not received my new card",
            "--head",
            head.to_str().unwrap(),
            "-k",
            "3",
        ],
    );
    assert!(o.status.success(), "{}", text(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    assert_eq!(out.lines().count(), 3, "{out}");
    assert!(
        out.lines().next().unwrap().contains("card_arrival"),
        "{out}"
    );
}

#[test]
fn bad_input_is_a_clear_error() {
    let tmp = Tmp::new("bad");
    let csv = slice_of_banking77(&tmp.0, 2, 3);
    let o = simtune(
        &tmp.0,
        &["embed", csv.to_str().unwrap(), "--text-column", "txt"],
    );
    assert!(!o.status.success());
    assert!(
        text(&o).contains("txt") && text(&o).contains("text, label"),
        "{}",
        text(&o)
    );

    let one_class = slice_of_banking77(&tmp.0, 1, 5);
    let o = simtune(
        &tmp.0,
        &[
            "train",
            one_class.to_str().unwrap(),
            "--label-column",
            "label",
        ],
    );
    assert!(!o.status.success());
    assert!(text(&o).contains("class"), "{}", text(&o));

    let o = simtune(
        &tmp.0,
        &[
            "embed",
            csv.to_str().unwrap(),
            "--model",
            tmp.0.to_str().unwrap(),
        ],
    );
    assert!(!o.status.success());
    assert!(text(&o).contains("config.json"), "{}", text(&o));
}

/// The project bundle through the CLI: `train --project-out` writes labels + head; `search
/// --project` finds what `search --head` finds; `train --project` trains on a project's labels
/// (a subset) and keeps its log; `eval --project` holds the head against the gold labels of
/// the records the project did not label; a damaged project file is named.
#[test]
fn project_files_round_trip_through_the_cli() {
    let tmp = Tmp::new("project");
    let csv = slice_of_banking77(&tmp.0, 4, 20);
    let c = csv.to_str().unwrap();
    let p1 = tmp.0.join("p1.simtune.json");
    let head = tmp.0.join("head.safetensors");
    let o = simtune(
        &tmp.0,
        &[
            "train",
            c,
            "--label-column",
            "label",
            "-o",
            head.to_str().unwrap(),
            "--project-out",
            p1.to_str().unwrap(),
        ],
    );
    assert!(o.status.success(), "{}", text(&o));
    let doc: serde_json::Value = serde_json::from_slice(&std::fs::read(&p1).unwrap()).unwrap();
    assert_eq!(doc["format"], "simtune-project");
    assert_eq!(doc["labels"].as_array().unwrap().len(), 80);
    assert_eq!(doc["model"]["id"], "all-MiniLM-L6-v2");
    assert_eq!(doc["log"].as_array().unwrap().len(), 1);
    // the bundle's head is the head file's bytes
    let project = simtune::project::Project::from_json(&std::fs::read(&p1).unwrap(), "p1").unwrap();
    assert_eq!(
        project.head.as_deref(),
        Some(&std::fs::read(&head).unwrap()[..])
    );

    let search = |how: &[&str]| -> serde_json::Value {
        let mut args = vec!["search", c, "--record", "5", "-k", "8", "--json"];
        args.extend_from_slice(how);
        let o = simtune(&tmp.0, &args);
        assert!(o.status.success(), "{}", text(&o));
        serde_json::from_slice(&o.stdout).unwrap()
    };
    let by_project = search(&["--project", p1.to_str().unwrap()]);
    assert_eq!(by_project, search(&["--head", head.to_str().unwrap()]));
    assert_ne!(by_project, search(&[]), "tuned differs from raw");
    assert!(by_project
        .as_array()
        .unwrap()
        .iter()
        .all(|h| h["index"] != 5));

    // a page-like project with a few labels: keep every 10th label, no head
    let mut sub = doc.clone();
    let labels: Vec<_> = doc["labels"]
        .as_array()
        .unwrap()
        .iter()
        .step_by(10)
        .cloned()
        .collect();
    sub["labels"] = serde_json::Value::Array(labels);
    sub["head"] = serde_json::Value::Null;
    let sub_path = tmp.0.join("sub.simtune.json");
    std::fs::write(&sub_path, sub.to_string()).unwrap();
    let o = simtune(
        &tmp.0,
        &[
            "search",
            c,
            "--query",
            "card",
            "--project",
            sub_path.to_str().unwrap(),
        ],
    );
    assert!(
        !o.status.success() && text(&o).contains("holds no trained head"),
        "{}",
        text(&o)
    );
    let p2 = tmp.0.join("p2.simtune.json");
    let o = simtune(
        &tmp.0,
        &[
            "train",
            c,
            "--project",
            sub_path.to_str().unwrap(),
            "--project-out",
            p2.to_str().unwrap(),
        ],
    );
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        text(&o).contains("trained on 8 labels of 4 classes"),
        "{}",
        text(&o)
    );
    let doc2: serde_json::Value = serde_json::from_slice(&std::fs::read(&p2).unwrap()).unwrap();
    assert_eq!(doc2["labels"].as_array().unwrap().len(), 8);
    assert_eq!(
        doc2["log"].as_array().unwrap().len(),
        2,
        "the project's log goes on"
    );
    assert_eq!(doc2["log"][1]["run"], 2);

    // `eval --project`: its printout and its JSON report
    let report = tmp.0.join("truth.json");
    let truth_of = |project: &std::path::Path| -> (String, serde_json::Value) {
        let o = simtune(
            &tmp.0,
            &[
                "eval",
                c,
                "--label-column",
                "label",
                "--project",
                project.to_str().unwrap(),
                "--k",
                "10",
                "--json",
                report.to_str().unwrap(),
            ],
        );
        assert!(o.status.success(), "{}", text(&o));
        let json = serde_json::from_slice(&std::fs::read(&report).unwrap()).unwrap();
        (text(&o), json)
    };
    let (said, truth) = truth_of(&p2);
    assert!(said.contains("truth over the 72 other records"), "{said}");
    let row = &truth["truth"][0];
    assert_eq!(row["records"], 72);
    let (raw, tuned, gain) = (
        row["raw"].as_f64().unwrap(),
        row["tuned"].as_f64().unwrap(),
        row["gain"].as_f64().unwrap(),
    );
    assert!((tuned - raw - gain).abs() < 1e-9 && (0.0..=1.0).contains(&raw));

    // labelled throughout (a label column imported into the page): the check records, which
    // training leaves out, are the records the truth is measured on
    let mut all = doc.clone();
    let checks: Vec<_> = doc["labels"].as_array().unwrap()[..12]
        .iter()
        .map(|l| serde_json::json!({"index": l["index"], "text": l["text"]}))
        .collect();
    all["check"] = serde_json::json!({"records": checks, "labels": [], "not": []});
    let all_path = tmp.0.join("all.simtune.json");
    std::fs::write(&all_path, all.to_string()).unwrap();
    let (said, truth) = truth_of(&all_path);
    assert!(
        said.contains("80 labelled in") && said.contains("truth over the 12 check records"),
        "{said}"
    );
    assert_eq!(truth["truth"][0]["records"], 12);

    let bad = tmp.0.join("bad.simtune.json");
    std::fs::write(&bad, r#"{"format": "simtune-project", "version": 2, "labels": [], "trainConfig": {"steps": "many"}}"#).unwrap();
    let o = simtune(&tmp.0, &["train", c, "--project", bad.to_str().unwrap()]);
    assert!(!o.status.success());
    assert!(
        text(&o).contains("bad.simtune.json") && text(&o).contains("trainConfig.steps"),
        "{}",
        text(&o)
    );
}

/// `eval --suite`: every dataset of the suite file evaluated with the same settings, one
/// summary table, and the worst cell the one whose tuned precision falls furthest below raw.
#[test]
fn eval_suite_runs_every_dataset_and_names_the_worst_cell() {
    let tmp = Tmp::new("suite");
    let banking = slice_of_banking77(&tmp.0, 4, 20);
    std::fs::rename(&banking, tmp.0.join("banking.csv")).unwrap();
    // a second kind of data: the first 40 tweets of TweetEval irony (2 classes)
    let irony = std::fs::read_to_string(shared("tweeteval_irony_test.csv")).unwrap();
    let mut reader = csv::Reader::from_reader(irony.as_bytes());
    let mut out = csv::Writer::from_path(tmp.0.join("irony.csv")).unwrap();
    out.write_record(["text", "label"]).unwrap();
    for rec in reader.records().take(40) {
        let rec = rec.unwrap();
        out.write_record([&rec[0], &rec[1]]).unwrap();
    }
    out.flush().unwrap();
    let suite = tmp.0.join("suite.json");
    std::fs::write(
        &suite,
        r#"{"datasets": [
            {"name": "banking-slice", "file": "banking.csv", "split": 0.5, "k": [5]},
            {"name": "irony-slice", "file": "irony.csv", "split": 0.5, "k": [5, 10]}
        ]}"#,
    )
    .unwrap();
    let json = tmp.0.join("suite-report.json");
    let o = simtune(
        &tmp.0,
        &[
            "eval",
            "--suite",
            suite.to_str().unwrap(),
            "--labels",
            "4,8",
            "--seeds",
            "1",
            "--json",
            json.to_str().unwrap(),
        ],
    );
    assert!(o.status.success(), "{}", text(&o));
    let report: serde_json::Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    let datasets = report["datasets"].as_array().unwrap();
    let names: Vec<&str> = datasets
        .iter()
        .map(|d| d["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["banking-slice", "irony-slice"]);
    // 2 budgets x 1 k, and 2 budgets x 2 ks
    let rows: Vec<(&str, &serde_json::Value)> = datasets
        .iter()
        .flat_map(|d| {
            let name = d["name"].as_str().unwrap();
            d["rows"].as_array().unwrap().iter().map(move |r| (name, r))
        })
        .collect();
    assert_eq!(rows.len(), 2 + 4);
    assert_eq!(report["cells"], 6);
    let gain = |r: &serde_json::Value| r["tuned"].as_f64().unwrap() - r["raw"].as_f64().unwrap();
    let (worst_name, worst_row) = rows
        .iter()
        .min_by(|a, b| gain(a.1).total_cmp(&gain(b.1)))
        .unwrap();
    let worst = &report["worst"];
    assert_eq!(worst["dataset"], *worst_name);
    assert_eq!(
        (&worst["labels"], &worst["k"]),
        (&worst_row["labels"], &worst_row["k"])
    );
    assert!((worst["gain"].as_f64().unwrap() - gain(worst_row)).abs() < 1e-12);
    let below = rows.iter().filter(|(_, r)| gain(r) < -0.002).count();
    assert_eq!(report["below_raw"], below);
    let printed = String::from_utf8_lossy(&o.stdout);
    assert!(printed.contains("== suite: 2 datasets"), "{printed}");
    assert!(
        printed.contains(&format!("worst cell: {worst_name}, ")),
        "{printed}"
    );
    // the summary holds a line per dataset, protocol and k
    assert_eq!(
        printed
            .lines()
            .filter(|l| l.starts_with("banking-slice ") || l.starts_with("irony-slice "))
            .count(),
        3,
        "{printed}"
    );

    // a dataset with neither an eval file nor a split, and a misspelt field: clear errors
    std::fs::write(
        &suite,
        r#"{"datasets": [{"name": "x", "file": "banking.csv"}]}"#,
    )
    .unwrap();
    let o = simtune(&tmp.0, &["eval", "--suite", suite.to_str().unwrap()]);
    assert!(!o.status.success());
    assert!(
        text(&o).contains("datasets[0] (x): give exactly one of eval_file and split"),
        "{}",
        text(&o)
    );
    std::fs::write(
        &suite,
        r#"{"datasets": [{"name": "x", "file": "banking.csv", "splt": 0.5}]}"#,
    )
    .unwrap();
    let o = simtune(&tmp.0, &["eval", "--suite", suite.to_str().unwrap()]);
    assert!(!o.status.success());
    assert!(
        text(&o).contains("suite.json: field datasets[0]"),
        "{}",
        text(&o)
    );
    assert!(text(&o).contains("splt"), "{}", text(&o));
}

#[test]
fn tune_encoder_writes_a_model_folder_the_other_commands_load() {
    let tmp = Tmp::new("tune-encoder");
    let csv = slice_of_banking77(&tmp.0, 3, 4);
    let dir = tmp.0.join("tuned");
    let args = [
        "tune-encoder",
        csv.to_str().unwrap(),
        "--label-column",
        "label",
        "--layers",
        "1",
        "--steps",
        "3",
        "-o",
        dir.to_str().unwrap(),
    ];
    let o = simtune(&tmp.0, &args);
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("tuned the top 1 of 6 layers on 12 labelled records of 3 classes"));
    let note: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("simtune_tuning.json")).unwrap()).unwrap();
    assert_eq!(note["tuned_layers"], 1);
    assert_eq!(note["labels"], 12);
    // the data file by name, not by its path on this machine
    assert_eq!(note["data"], csv.file_name().unwrap().to_str().unwrap());
    // the folder is a model: search reads it, and its vectors are not the base model's
    let search = |model: Option<&Path>| {
        let mut a = vec![
            "search",
            csv.to_str().unwrap(),
            "--record",
            "0",
            "-k",
            "3",
            "--json",
        ];
        if let Some(m) = model {
            a.extend(["--model", m.to_str().unwrap()]);
        }
        let o = simtune(&tmp.0, &a);
        assert!(o.status.success(), "{}", text(&o));
        String::from_utf8_lossy(&o.stdout).into_owned()
    };
    assert_ne!(search(Some(&dir)), search(None));

    // a folder that already holds a model is not overwritten; more layers than the model's
    let again = simtune(&tmp.0, &args);
    assert!(!again.status.success());
    assert!(
        text(&again).contains("already holds a model"),
        "{}",
        text(&again)
    );
    let deep_dir = tmp.0.join("deep");
    let mut deep = args.to_vec();
    deep[5] = "7";
    deep[9] = deep_dir.to_str().unwrap();
    let o = simtune(&tmp.0, &deep);
    assert!(!o.status.success());
    assert!(
        text(&o).contains("--layers 7: the model has 6 layers"),
        "{}",
        text(&o)
    );
}
