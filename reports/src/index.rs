//! `index.html`: one page per result folder (a run, a sweep's scenario
//! folder) that shows every plot and the summary, so a result can be read
//! in a browser without a script. Plain, deterministic HTML: the plots are
//! the folder's own SVG files, linked by name; nothing is fetched from
//! elsewhere and nothing depends on the clock or the machine.

use std::fmt::Write as _;
use std::fs;
use std::path::Path;

use crate::plots::svg::escape;
use crate::result_dir::write_atomic;
use crate::summary::Summary;
use crate::{ReportError, ResultDir};

/// The page's name in every result folder.
pub const INDEX: &str = "index.html";

/// A table of the page: a heading, a header row and rows of cells.
pub struct Table {
    /// The heading above it.
    pub heading: String,
    /// Column names.
    pub header: Vec<String>,
    /// Cells, row by row.
    pub rows: Vec<Vec<String>>,
}

/// Writes a run's `index.html` into its (staging) folder: the title, the
/// caption, every SVG plot the folder holds, the summary's metrics and
/// links to its other files.
pub fn write_run_index(
    dir: &ResultDir,
    title: &str,
    caption: &str,
    summary: &Summary,
) -> Result<(), ReportError> {
    let folder = dir.file("");
    let metrics = Table {
        heading: "Summary (summary.json)".into(),
        header: vec!["metric".into(), "value".into()],
        rows: summary
            .iter()
            .map(|(name, value)| vec![name.to_string(), metric_text(value)])
            .collect(),
    };
    let page = page(title, caption, &files(&folder)?, &[metrics]);
    write_atomic(&dir.file(INDEX), page.as_bytes())
}

/// Writes a sweep folder's `index.html`: its plots, `tables` (e.g. the
/// mean of each metric per grid point) and links to its files and runs.
pub fn write_sweep_index(
    scenario_dir: &Path,
    title: &str,
    caption: &str,
    tables: &[Table],
) -> Result<(), ReportError> {
    let page = page(title, caption, &files(scenario_dir)?, tables);
    write_atomic(&scenario_dir.join(INDEX), page.as_bytes())
}

/// The files directly in `dir` (not this page, not hidden), sorted.
fn files(dir: &Path) -> Result<Vec<String>, ReportError> {
    let entries = fs::read_dir(dir).map_err(|source| ReportError::Io {
        path: dir.to_path_buf(),
        source,
    })?;
    let mut names: Vec<String> = entries
        .filter_map(|e| e.ok())
        .filter(|e| e.path().is_file())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n != INDEX && !n.starts_with('.'))
        .collect();
    names.sort();
    Ok(names)
}

fn metric_text(value: &crate::Metric) -> String {
    match value {
        crate::Metric::Count(n) => n.to_string(),
        crate::Metric::Real(x) => crate::number(*x),
        crate::Metric::Text(t) => t.clone(),
        crate::Metric::Flag(b) => b.to_string(),
        crate::Metric::Null => "null (never happened)".into(),
    }
}

/// The whole page.
fn page(title: &str, caption: &str, files: &[String], tables: &[Table]) -> String {
    let mut out = String::new();
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <title>{t}</title>\n<style>\n\
         body {{ font-family: sans-serif; margin: 2em; color: #222; }}\n\
         img {{ max-width: 100%; border: 1px solid #ddd; margin: 0.5em 0; }}\n\
         table {{ border-collapse: collapse; font-size: 0.9em; }}\n\
         td, th {{ border: 1px solid #ccc; padding: 0.2em 0.6em; text-align: left; }}\n\
         </style>\n</head>\n<body>\n<h1>{t}</h1>\n<p>{c}</p>\n",
        t = escape(title),
        c = escape(caption)
    );
    let plots: Vec<&String> = files.iter().filter(|f| f.ends_with(".svg")).collect();
    if !plots.is_empty() {
        out.push_str("<h2>Plots</h2>\n");
        for plot in plots {
            let name = escape(plot);
            let _ = writeln!(
                out,
                "<figure><img src=\"{name}\" alt=\"{name}\"><figcaption>{name}</figcaption></figure>"
            );
        }
    }
    for table in tables {
        write_table(&mut out, table);
    }
    out.push_str("<h2>Files</h2>\n<ul>\n");
    for file in files {
        let name = escape(file);
        let _ = writeln!(out, "<li><a href=\"{name}\">{name}</a></li>");
    }
    out.push_str("</ul>\n</body>\n</html>\n");
    out
}

fn write_table(out: &mut String, table: &Table) {
    let _ = writeln!(out, "<h2>{}</h2>\n<table>", escape(&table.heading));
    out.push_str("<tr>");
    for cell in &table.header {
        let _ = write!(out, "<th>{}</th>", escape(cell));
    }
    out.push_str("</tr>\n");
    for row in &table.rows {
        out.push_str("<tr>");
        for cell in row {
            let _ = write!(out, "<td>{}</td>", link(cell));
        }
        out.push_str("</tr>\n");
    }
    out.push_str("</table>\n");
}

/// A cell: a run folder's page (`…/index.html`) becomes a link.
fn link(cell: &str) -> String {
    match cell.ends_with("/index.html") {
        true => format!("<a href=\"{c}\">{c}</a>", c = escape(cell)),
        false => escape(cell),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_page_shows_every_plot_the_tables_and_the_files() {
        let files = vec![
            "b.svg".to_string(),
            "data.csv".to_string(),
            "a<x>.svg".to_string(),
        ];
        let table = Table {
            heading: "Summary".into(),
            header: vec!["metric".into(), "value".into()],
            rows: vec![
                vec!["run.seed".into(), "7".into()],
                vec!["run".into(), "seed-7/index.html".into()],
            ],
        };
        let html = page("demo \u{2014} seed 7", "demo · seed 7", &files, &[table]);
        let again = page("demo \u{2014} seed 7", "demo · seed 7", &files, &[]);
        assert!(html.contains("<img src=\"b.svg\""));
        assert!(html.contains("<img src=\"a&lt;x&gt;.svg\""));
        assert!(!html.contains("<img src=\"data.csv\""));
        assert!(html.contains("<td>run.seed</td><td>7</td>"));
        assert!(html.contains("<a href=\"seed-7/index.html\">"));
        assert!(html.contains("<li><a href=\"data.csv\">data.csv</a></li>"));
        // Only the tables differ: the page is a function of its inputs.
        assert!(!again.contains("<table>") && again.contains("<img src=\"b.svg\""));
    }
}
