//! The project bundle: a person's work in one versioned JSON file — labels (by record text,
//! or by text hash when the text was not at hand), label names, the trained head, settings,
//! the training settings, the check's figure, the experiment log, the model id and the
//! dataset (name, text digest, source URL). The page's Export/Import and the CLI's
//! `--project` / `--project-out` read and write this one definition, so work moves from the
//! tab to a machine and back.
//!
//! Reading trusts nothing: the format and version are checked first, every field's type is
//! checked with its path named in the error, and the head is parsed.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::data::texthash;
use crate::error::{Error, Result};
use crate::tune::head::SkipConnectionHead;
use crate::tune::train::TrainConfig;

pub const FORMAT: &str = "simtune-project";
/// 1: the page's first export; 2: adds `dataset.textsHash`, `dataset.source`, `metrics`.
pub const VERSION: u32 = 2;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Project {
    /// Always [`FORMAT`]; a document without it (the page's, before writing) gets it.
    #[serde(default = "format_name")]
    pub format: String,
    /// Written as [`VERSION`]; [`Project::from_json`] checks a file's before reading it.
    #[serde(default = "version_now")]
    pub version: u32,
    /// ISO 8601 time of writing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exported: Option<String>,
    #[serde(default)]
    pub dataset: DatasetRef,
    #[serde(default)]
    pub model: ModelRef,
    #[serde(default)]
    pub label_names: Vec<String>,
    pub labels: Vec<LabelEntry>,
    /// The page's settings (k of sessions and Compare, check size...): kept as given.
    #[serde(default)]
    pub settings: Map<String, Value>,
    #[serde(default)]
    pub train_config: Option<TrainConfig>,
    #[serde(default)]
    pub check: CheckSet,
    /// The head as safetensors bytes (base64 in the file): see `head.rs`.
    #[serde(default, with = "base64_bytes")]
    pub head: Option<Vec<u8>>,
    /// The check's figure for this head when it was complete at export.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metrics: Option<Metrics>,
    /// The experiment log: one object per training run (see www/views/log.js).
    #[serde(default)]
    pub log: Vec<Value>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DatasetRef {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub records: Option<usize>,
    /// The page's cache key of the file (its bytes, columns and model).
    #[serde(default)]
    pub key: Option<String>,
    /// [`texthash::texts_digest`] of the records' texts: the same records, whatever the file.
    #[serde(default)]
    pub texts_hash: Option<String>,
    /// The URL the dataset was downloaded from (share links).
    #[serde(default)]
    pub source: Option<String>,
    /// `{text: [..], label: ..}` as chosen.
    #[serde(default)]
    pub columns: Option<Value>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ModelRef {
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default)]
    pub kind: Option<String>,
    /// A model whose encoder was tuned on the project's labels, in the page or by
    /// `simtune tune-encoder`: what its note says (`{layers, labels, classes, data, base,
    /// inPage}`); its weights are not in the file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tuning: Option<Value>,
}

/// A record (and its label, where it has one): known by its index and text (`text`), or,
/// when the text was not at hand, by its text hash (`key`, see [`texthash::text_key`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LabelEntry {
    #[serde(default)]
    pub index: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// Text or a number (written as text); anything else is skipped on import. None for a
    /// check record (a record without a label).
    #[serde(
        default,
        deserialize_with = "lenient_label",
        skip_serializing_if = "Option::is_none"
    )]
    pub label: Option<String>,
    /// The similarity session that gave the label (1, 2, ..), where one did: training holds a
    /// session's records against their label's records from outside the session
    /// (`prototype_pull::SessionSums`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session: Option<u32>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CheckSet {
    /// The check records (no label).
    #[serde(default)]
    pub records: Vec<LabelEntry>,
    /// Labels given to check records (never trained on).
    #[serde(default)]
    pub labels: Vec<LabelEntry>,
    /// "Not this label" judgments.
    #[serde(default)]
    pub not: Vec<LabelEntry>,
}

/// The honest figure (`check.rs`): change of precision@k on records nobody labelled, with
/// its 95% interval and the number of check records it rests on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Metrics {
    pub k: usize,
    pub gain: f64,
    pub low: f64,
    pub high: f64,
    pub checks: usize,
}

fn format_name() -> String {
    FORMAT.into()
}

fn version_now() -> u32 {
    VERSION
}

fn lenient_label<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Ok(match Value::deserialize(d)? {
        Value::String(s) => Some(s.trim().to_string()).filter(|s| !s.is_empty()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    })
}

mod base64_bytes {
    use base64::Engine as _;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &Option<Vec<u8>>, s: S) -> Result<S::Ok, S::Error> {
        match v {
            Some(b) => s.serialize_str(&base64::engine::general_purpose::STANDARD.encode(b)),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<u8>>, D::Error> {
        match Option::<String>::deserialize(d)? {
            None => Ok(None),
            Some(s) => base64::engine::general_purpose::STANDARD
                .decode(s.trim())
                .map(Some)
                .map_err(|_| {
                    serde::de::Error::custom("its trained head is damaged (not base64 text)")
                }),
        }
    }
}

const WHAT: &str = "project file";

impl Project {
    /// An empty bundle of this version.
    pub fn new() -> Self {
        Self {
            format: FORMAT.into(),
            version: VERSION,
            exported: None,
            dataset: DatasetRef::default(),
            model: ModelRef::default(),
            label_names: Vec::new(),
            labels: Vec::new(),
            settings: Map::new(),
            train_config: None,
            check: CheckSet::default(),
            head: None,
            metrics: None,
            log: Vec::new(),
        }
    }

    /// Reads and checks a project file (`name` for messages).
    pub fn from_json(bytes: &[u8], name: &str) -> Result<Self> {
        let what = format!("{WHAT} {name}");
        let value: Value = serde_json::from_slice(bytes)
            .map_err(|e| Error::format(&what, format!("not a JSON file ({e})")))?;
        if value.get("format").and_then(Value::as_str) != Some(FORMAT) {
            return Err(Error::format(
                &what,
                format!("not a simtune project file (no \"format\": \"{FORMAT}\")"),
            ));
        }
        let version = value.get("version").cloned().unwrap_or(Value::Null);
        match version.as_u64() {
            Some(v) if v >= 1 && v <= VERSION as u64 => {}
            Some(v) if v > VERSION as u64 => {
                return Err(Error::format(
                    &what,
                    format!("it was written by a newer simtune (format version {v}; this one reads version {VERSION}): open it with the newer version"),
                ))
            }
            _ => {
                return Err(Error::format(
                    &what,
                    format!("its \"version\" is {version}, not a version number"),
                ))
            }
        }
        if !value.get("labels").is_some_and(Value::is_array) {
            return Err(Error::format(&what, "its \"labels\" is not a list"));
        }
        let mut project: Project = serde_path_to_error::deserialize(value).map_err(|e| {
            let path = e.path().to_string();
            let inner = e.into_inner().to_string();
            if inner.contains("trained head") {
                Error::format(&what, inner)
            } else {
                Error::format(&what, format!("field {path}: {inner}"))
            }
        })?;
        project
            .head_dim()
            .map_err(|e| Error::format(&what, e.to_string()))?;
        project.version = VERSION;
        Ok(project)
    }

    /// The file's text (pretty JSON), checked as [`Project::from_json`] would read it.
    pub fn to_json(&self) -> Result<String> {
        self.head_dim()?;
        let mut out = self.clone();
        out.format = FORMAT.into();
        out.version = VERSION;
        serde_json::to_string_pretty(&out).map_err(|e| Error::format(WHAT, e.to_string()))
    }

    /// The head's input dimension, or None without a head; an error when it is damaged.
    pub fn head_dim(&self) -> Result<Option<usize>> {
        Ok(self.head()?.map(|h| h.config().dim))
    }

    /// The head, parsed.
    pub fn head(&self) -> Result<Option<SkipConnectionHead>> {
        self.head
            .as_deref()
            .map(|b| {
                SkipConnectionHead::from_safetensors(b)
                    .map_err(|e| Error::format("its trained head is damaged", e.to_string()))
            })
            .transpose()
    }

    /// The project's labels on `texts` (a dataset's records): record i's label name or None,
    /// and the entries whose record is not there (see [`Records::find`]).
    pub fn labels_on<S: AsRef<str>>(&self, texts: &[S]) -> Placed {
        let records = Records::new(texts);
        let mut labels = vec![None; texts.len()];
        let mut sessions = vec![0u32; texts.len()];
        let mut missing = 0;
        let mut skipped = 0;
        for e in &self.labels {
            let Some(label) = &e.label else {
                skipped += 1;
                continue;
            };
            if e.text.is_none() && e.key.is_none() {
                skipped += 1;
                continue;
            }
            match records.find(e) {
                Some(i) => {
                    labels[i] = Some(label.clone());
                    sessions[i] = e.session.unwrap_or(0);
                }
                None => missing += 1,
            }
        }
        Placed {
            labels,
            sessions,
            missing,
            skipped,
        }
    }

    /// Labels `labels[i]` (None: unlabelled) of `texts` as entries with index and text, and
    /// the session that gave each (`sessions[i]`, 0 or absent: none).
    pub fn set_labels<S: AsRef<str>>(
        &mut self,
        texts: &[S],
        labels: &[Option<String>],
        sessions: &[u32],
    ) {
        self.labels = labels
            .iter()
            .enumerate()
            .filter_map(|(i, l)| {
                l.as_ref().map(|l| LabelEntry {
                    index: Some(i),
                    text: texts.get(i).map(|t| t.as_ref().to_string()),
                    key: None,
                    label: Some(l.clone()),
                    session: sessions.get(i).copied().filter(|&s| s > 0),
                })
            })
            .collect();
        let mut names: Vec<String> = Vec::new();
        for l in labels.iter().flatten() {
            if !names.contains(l) {
                names.push(l.clone());
            }
        }
        self.label_names = names;
    }
}

/// A dataset's records, looked up by text or text hash.
pub struct Records<'a, S> {
    texts: &'a [S],
    by_text: HashMap<&'a str, usize>,
    /// built on the first entry known by its hash only
    by_key: std::cell::OnceCell<HashMap<String, usize>>,
}

impl<'a, S: AsRef<str>> Records<'a, S> {
    pub fn new(texts: &'a [S]) -> Self {
        let mut by_text = HashMap::new();
        for (i, t) in texts.iter().enumerate().rev() {
            by_text.insert(t.as_ref(), i);
        }
        Self {
            texts,
            by_text,
            by_key: std::cell::OnceCell::new(),
        }
    }

    /// Where `entry` lands: on its index when the text there agrees, else on the first
    /// record with its text (or, without a text, its text hash); None when it is not here.
    pub fn find(&self, entry: &LabelEntry) -> Option<usize> {
        match (&entry.text, &entry.key) {
            (Some(text), _) => match entry.index {
                Some(i) if self.texts.get(i).is_some_and(|t| t.as_ref() == text) => Some(i),
                _ => self.by_text.get(text.as_str()).copied(),
            },
            (None, Some(key)) => self
                .by_key
                .get_or_init(|| {
                    let mut m = HashMap::new();
                    for (i, t) in self.texts.iter().enumerate().rev() {
                        m.insert(texthash::text_key(t.as_ref()), i);
                    }
                    m
                })
                .get(key)
                .copied(),
            (None, None) => None,
        }
    }
}

impl Default for Project {
    fn default() -> Self {
        Self::new()
    }
}

/// Where a project's labels land on a dataset.
#[derive(Debug, Clone, PartialEq)]
pub struct Placed {
    /// Per record: its label name, or None.
    pub labels: Vec<Option<String>>,
    /// Per record: the similarity session that gave its label (0: none).
    pub sessions: Vec<u32>,
    /// Entries whose record (text) is not in the dataset.
    pub missing: usize,
    /// Entries without a usable label or record.
    pub skipped: usize,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tune::head::SkipConnectionHeadConfig;
    use base64::Engine as _;

    fn head_bytes(dim: usize) -> Vec<u8> {
        SkipConnectionHead::new(SkipConnectionHeadConfig::new(dim), 0)
            .unwrap()
            .to_safetensors()
            .unwrap()
    }

    #[test]
    fn round_trip() {
        let texts = ["a", "b", "c"];
        let mut p = Project::new();
        p.set_labels(
            &texts,
            &[Some("x".into()), None, Some("y".into())],
            &[0, 0, 2],
        );
        p.head = Some(head_bytes(4));
        p.dataset.texts_hash = Some(texthash::texts_hash(&texts));
        p.metrics = Some(Metrics {
            k: 10,
            gain: 0.02,
            low: -0.01,
            high: 0.05,
            checks: 40,
        });
        let json = p.to_json().unwrap();
        let back = Project::from_json(json.as_bytes(), "p.json").unwrap();
        assert_eq!(back, p);
        assert_eq!(back.head_dim().unwrap(), Some(4));
        assert_eq!(back.label_names, ["x", "y"]);
        // the session that gave a label travels with it, and lands on its record
        assert_eq!(back.labels[1].session, Some(2));
        assert!(!json.contains("\"session\": 0"));
        assert_eq!(back.labels_on(&texts).sessions, [0, 0, 2]);
        // a document without format and version (the page's, before writing) gets them
        let doc: Project = serde_json::from_str(r#"{"labels": []}"#).unwrap();
        assert_eq!((doc.format.as_str(), doc.version), (FORMAT, VERSION));
    }

    #[test]
    fn reads_the_pages_version_1() {
        let doc = serde_json::json!({
            "format": FORMAT, "version": 1, "exported": "2026-11-28T10:00:00Z",
            "dataset": {"name": "t.csv", "records": 3, "key": "abc", "columns": {"text": ["text"], "label": null}},
            "model": {"id": "all-MiniLM-L6-v2", "kind": "default"},
            "labelNames": ["x", "y"],
            "labels": [
                {"index": 2, "text": "b", "label": "x"},      // moved: found by text
                {"index": 0, "text": "a", "label": 7},        // a number label
                {"index": null, "key": texthash::text_key("c"), "label": "y"},
                {"index": null, "text": "gone", "label": "y"},
                {"index": 1, "text": "b", "label": {"odd": 1}},
            ],
            "settings": {"sessionK": 100},
            "trainConfig": {"loss": "triplet", "lr": 0.01},
            "check": {"records": [{"index": 1, "text": "b"}], "labels": [], "not": []},
            "head": null,
            "log": [{"run": 1, "at": "2026-11-28T09:00:00Z"}],
        });
        let p = Project::from_json(doc.to_string().as_bytes(), "t.simtune.json").unwrap();
        assert_eq!(p.version, VERSION);
        let placed = p.labels_on(&["a", "b", "c"]);
        assert_eq!(
            placed.labels,
            [Some("7".to_string()), Some("x".into()), Some("y".into())]
        );
        assert_eq!((placed.missing, placed.skipped), (1, 1));
        assert_eq!(placed.sessions, [0, 0, 0], "version 1 knew no sessions");
        assert_eq!(p.train_config.unwrap().lr, 0.01);
    }

    #[test]
    fn bad_files_are_named() {
        let err = |s: &str| {
            Project::from_json(s.as_bytes(), "p.json")
                .unwrap_err()
                .to_string()
        };
        assert!(err("{ not json").contains("not a JSON file"));
        assert!(err(r#"{"labels": []}"#).contains("not a simtune project file"));
        assert!(
            err(r#"{"format": "simtune-project", "version": 99, "labels": []}"#)
                .contains("newer simtune (format version 99")
        );
        assert!(
            err(r#"{"format": "simtune-project", "version": "x", "labels": []}"#)
                .contains("not a version number")
        );
        assert!(
            err(r#"{"format": "simtune-project", "version": 1, "labels": "all"}"#)
                .contains("\"labels\" is not a list")
        );
        let e = err(
            r#"{"format": "simtune-project", "version": 1, "labels": [], "trainConfig": {"lr": "fast"}}"#,
        );
        assert!(e.contains("field trainConfig.lr"), "{e}");
        assert!(err(
            r#"{"format": "simtune-project", "version": 1, "labels": [], "head": "%%% no"}"#
        )
        .contains("head is damaged"));
        let garbage = base64::engine::general_purpose::STANDARD.encode(b"garbage");
        let e = err(&format!(
            r#"{{"format": "simtune-project", "version": 1, "labels": [], "head": "{garbage}"}}"#
        ));
        assert!(e.contains("head is damaged") && e.contains("p.json"), "{e}");
    }
}
