//! Reading a command's inputs: the data file (and the checks commands make of its labels)
//! and project files (the page's Export) with their heads.

use std::path::Path;

use anyhow::{bail, Context, Result};

use simtune::dataset::{self, Dataset, LoadOptions};
use simtune::project::Project;
use simtune::SkipConnectionHead;

use crate::args::DataArgs;
use crate::model::model_id;

/// Reads and parses a data file as `data` says; its bytes too (they key the embedding cache).
pub fn read_dataset(path: &Path, data: &DataArgs) -> Result<(Vec<u8>, Dataset)> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    let options = LoadOptions {
        name: path.display().to_string(),
        format: None,
        text_columns: data.text_columns.clone(),
        join: data.join.clone(),
        label_column: data.label_column.clone(),
    };
    let ds = dataset::load(&bytes, &options)?;
    if let Some(encoding) = ds.decoded_from {
        eprintln!("{}: not UTF-8, read as {encoding}", path.display());
    }
    Ok((bytes, ds))
}

/// The check `load_and_embed` runs for a command that takes any file.
pub fn no_check(_: &Dataset) -> Result<()> {
    Ok(())
}

/// The `--label-column`, for the commands that cannot run without one.
pub fn require_label(data: &DataArgs) -> Result<&str> {
    match &data.label_column {
        Some(l) => Ok(l),
        None => bail!("--label-column is required: name the column that holds the labels"),
    }
}

/// Fails unless the labelled records of `ds` fall in at least two classes: with one class
/// there is nothing to tell apart, so tuning cannot help (and "tuned = raw" would mislead).
pub fn require_classes(ds: &Dataset, path: &Path, column: &str) -> Result<()> {
    match ds.classes().len() {
        0 => bail!("{}: the label column '{column}' has no labels", path.display()),
        1 => bail!(
            "{}: the label column '{column}' has one class only ('{}'): there is nothing to learn; label records of at least two classes",
            path.display(),
            ds.classes()[0]
        ),
        _ => Ok(()),
    }
}

/// Indices of labelled records and their class ids.
pub fn labelled(ds: &Dataset) -> (Vec<usize>, Vec<usize>) {
    ds.class_ids()
        .into_iter()
        .enumerate()
        .filter_map(|(i, c)| c.map(|c| (i, c)))
        .unzip()
}

/// Reads a project file (the page's Export, or `train --project-out`).
pub fn read_project(path: &Path) -> Result<Project> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    Ok(Project::from_json(&bytes, &path.display().to_string())?)
}

/// A project's head, checked against the embeddings it will be applied to (`dim`); a note
/// when the project names another model.
pub fn project_head(
    project: &Project,
    path: &Path,
    data: &DataArgs,
    dim: usize,
) -> Result<SkipConnectionHead> {
    let Some(head) = project.head()? else {
        bail!(
            "{} holds no trained head: train one (in the page, or `simtune train --project {} --project-out ...`)",
            path.display(),
            path.display()
        );
    };
    if head.config().dim != dim {
        bail!(
            "{}: its head takes {}-dimensional embeddings, but model {} gives {dim}: use the model it was trained on ({})",
            path.display(),
            head.config().dim,
            model_id(data),
            project.model.id.as_deref().unwrap_or("not named in the file")
        );
    }
    match project.model.id.as_deref() {
        Some(id) if id != model_id(data) => eprintln!(
            "note: {} was made with model {id}; these embeddings come from {}: the tuned results are only meaningful for the same model",
            path.display(),
            model_id(data)
        ),
        _ => {}
    }
    Ok(head)
}
