//! Score tables (`scores/<set>_scores.csv`, SPEC section 7) and their summary statistics.
//!
//! A table is plain CSV: a header line `id,<metric>,...` and one row per sample, the sample id
//! (`src->tgt`) first, then one number per metric in Rust's shortest round-trip form, always
//! with a decimal point or an exponent (`1.0`, `2.5e-13`: pandas types every column as float,
//! whatever the values). Ids that
//! hold a comma, a quote or a line break are quoted as RFC 4180 says. Every value is finite:
//! the metrics have no NaN (see [`crate::metrics`]) and [`ScoreTable::push`] refuses
//! one, so pandas, numpy and spreadsheets read the file as numbers.
//!
//! Writing never destroys a file voxflow did not write: an existing `<set>_scores.csv` is
//! replaced only when its first line is a voxflow score header (`id,mse,cross_correlation,...`,
//! i.e. an earlier `voxflow eval`); any other file there is kept and the table goes to the
//! first free `<set>_scores.N.csv` instead ([`write_scores`] returns the path used). Writes are
//! atomic (temporary file and rename).
//!
//! The summary ([`ScoreTable::summary`]) gives per metric the mean, the sample standard
//! deviation (`n − 1` denominator, 0 for one sample; pandas' `describe`), the median and the
//! 5th and 95th percentiles (linear interpolation, numpy's default).

use crate::metrics::percentile;
use crate::session::{SessionError, atomic_write};
use std::path::{Path, PathBuf};

/// The metric columns every table has, in order (SPEC section 7), after `id`.
pub const BASE_COLUMNS: [&str; 10] = [
    "mse",
    "cross_correlation",
    "ncc",
    "dice",
    "hausdorff",
    "hd95",
    "msd",
    "folding_pct",
    "sdlogj",
    "dice_before",
];

/// The columns without masks (the dataset has none): the intensity and deformation metrics.
pub const IMAGE_COLUMNS: [&str; 5] = ["mse", "cross_correlation", "ncc", "folding_pct", "sdlogj"];

/// One sample's scores.
#[derive(Clone, Debug, PartialEq)]
pub struct ScoreRow {
    pub id: String,
    /// One value per column of the table.
    pub values: Vec<f64>,
}

/// A per-sample score table.
#[derive(Clone, Debug, PartialEq)]
pub struct ScoreTable {
    /// Metric names, without the leading `id`.
    pub columns: Vec<String>,
    pub rows: Vec<ScoreRow>,
}

/// Summary statistics of one column.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ColumnSummary {
    pub name: String,
    pub mean: f64,
    pub std: f64,
    pub median: f64,
    pub p5: f64,
    pub p95: f64,
}

/// Quotes a CSV field when it needs it.
fn field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

/// Splits one CSV line into fields (quoted fields as RFC 4180; no line breaks inside).
fn split_line(line: &str) -> Vec<String> {
    let mut out = vec![];
    let mut cur = String::new();
    let mut quoted = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match (c, quoted) {
            ('"', true) if chars.peek() == Some(&'"') => {
                cur.push('"');
                chars.next();
            }
            ('"', _) => quoted = !quoted,
            (',', false) => out.push(std::mem::take(&mut cur)),
            _ => cur.push(c),
        }
    }
    out.push(cur);
    out
}

impl ScoreTable {
    /// An empty table with these metric columns.
    pub fn new(columns: Vec<String>) -> Self {
        ScoreTable {
            columns,
            rows: vec![],
        }
    }

    /// Appends a row; its values must match the columns in number and be finite (the error
    /// names the sample and the metric).
    pub fn push(&mut self, id: String, values: Vec<f64>) -> Result<(), String> {
        if values.len() != self.columns.len() {
            return Err(format!(
                "sample {id}: {} values for {} columns",
                values.len(),
                self.columns.len()
            ));
        }
        if let Some((c, v)) = self
            .columns
            .iter()
            .zip(&values)
            .find(|(_, v)| !v.is_finite())
        {
            return Err(format!(
                "sample {id}: {c} is {v} (the network's output is not finite?)"
            ));
        }
        self.rows.push(ScoreRow { id, values });
        Ok(())
    }

    /// The values of column `name`, in row order.
    pub fn column(&self, name: &str) -> Option<Vec<f64>> {
        let i = self.columns.iter().position(|c| c == name)?;
        Some(self.rows.iter().map(|r| r.values[i]).collect())
    }

    /// The CSV text: header and one line per row.
    pub fn to_csv(&self) -> String {
        let mut s = String::from("id");
        for c in &self.columns {
            s.push(',');
            s.push_str(&field(c));
        }
        s.push('\n');
        for r in &self.rows {
            s.push_str(&field(&r.id));
            for v in &r.values {
                s.push(',');
                // Debug form: shortest round trip, always with a point or an exponent (`1.0`,
                // `2.5e-13`), so readers type every column as floating point.
                s.push_str(&format!("{v:?}"));
            }
            s.push('\n');
        }
        s
    }

    /// Parses a table written by [`ScoreTable::to_csv`] (or any CSV whose first column is an
    /// id and the others numbers); errors name `path`, the line and the field.
    pub fn parse(text: &str, path: &Path) -> Result<Self, SessionError> {
        let mut lines = text.lines().filter(|l| !l.trim().is_empty());
        let header = lines
            .next()
            .ok_or_else(|| SessionError::invalid(path, "empty score table"))?;
        let head = split_line(header);
        if head.first().map(String::as_str) != Some("id") {
            return Err(SessionError::invalid(
                path,
                format!("the header {header:?} does not start with `id`"),
            ));
        }
        let mut table = ScoreTable::new(head[1..].to_vec());
        for (n, line) in lines.enumerate() {
            let f = split_line(line);
            if f.len() != head.len() {
                return Err(SessionError::invalid(
                    path,
                    format!(
                        "row {}: {} fields, the header has {}",
                        n + 1,
                        f.len(),
                        head.len()
                    ),
                ));
            }
            let values = f[1..]
                .iter()
                .zip(&head[1..])
                .map(|(v, c)| {
                    v.trim().parse::<f64>().map_err(|_| {
                        SessionError::invalid(
                            path,
                            format!("row {}: {c} = {v:?} is not a number", n + 1),
                        )
                    })
                })
                .collect::<Result<Vec<_>, _>>()?;
            table.rows.push(ScoreRow {
                id: f[0].clone(),
                values,
            });
        }
        Ok(table)
    }

    /// Mean, standard deviation, median, 5th and 95th percentile of every column.
    pub fn summary(&self) -> Vec<ColumnSummary> {
        self.columns
            .iter()
            .enumerate()
            .map(|(i, name)| {
                let mut v: Vec<f64> = self.rows.iter().map(|r| r.values[i]).collect();
                v.sort_by(f64::total_cmp);
                let n = v.len();
                let mean = if n == 0 {
                    0.0
                } else {
                    v.iter().sum::<f64>() / n as f64
                };
                let var = if n < 2 {
                    0.0
                } else {
                    v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1) as f64
                };
                ColumnSummary {
                    name: name.clone(),
                    mean,
                    std: var.sqrt(),
                    median: percentile(&v, 50.0),
                    p5: percentile(&v, 5.0),
                    p95: percentile(&v, 95.0),
                }
            })
            .collect()
    }
}

/// The summary as an aligned text table: one line per metric, columns mean, std, median,
/// p5 and p95 (4 decimals; 3 significant digits in scientific notation below 0.01).
pub fn format_summary(summary: &[ColumnSummary]) -> String {
    let num = |v: f64| {
        if v != 0.0 && v.abs() < 0.01 {
            format!("{v:.2e}")
        } else {
            format!("{v:.4}")
        }
    };
    let width = summary
        .iter()
        .map(|s| s.name.len())
        .max()
        .unwrap_or(6)
        .max(6);
    let mut out = format!(
        "{:<width$}  {:>10}  {:>10}  {:>10}  {:>10}  {:>10}\n",
        "metric", "mean", "std", "median", "p5", "p95"
    );
    for s in summary {
        out.push_str(&format!(
            "{:<width$}  {:>10}  {:>10}  {:>10}  {:>10}  {:>10}\n",
            s.name,
            num(s.mean),
            num(s.std),
            num(s.median),
            num(s.p5),
            num(s.p95)
        ));
    }
    out
}

/// True when `text` starts with a voxflow score header (`id,mse,cross_correlation,ncc`).
pub fn is_voxflow_scores(text: &str) -> bool {
    let first = text.lines().next().unwrap_or("");
    first.starts_with("id,") && {
        let cols: Vec<&str> = first.split(',').skip(1).take(3).collect();
        cols == IMAGE_COLUMNS[..3]
    }
}

/// Writes `table` to `path`, or, when `path` holds a file that is not a voxflow score table,
/// to the first free `<stem>.N.csv` beside it (N = 1, 2, ...). Returns the path written.
pub fn write_scores(path: &Path, table: &ScoreTable) -> Result<PathBuf, SessionError> {
    // A path is free when nothing is there or an earlier voxflow table is.
    let free = |p: &Path| {
        !p.exists()
            || std::fs::read(p).is_ok_and(|b| is_voxflow_scores(&String::from_utf8_lossy(&b)))
    };
    let stem = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let target = std::iter::once(path.to_path_buf())
        .chain((1..).map(|n| path.with_file_name(format!("{stem}.{n}.csv"))))
        .find(|p| free(p))
        .unwrap_or_else(|| path.to_path_buf());
    if let Some(dir) = target.parent() {
        std::fs::create_dir_all(dir).map_err(|e| SessionError::io(dir, e))?;
    }
    atomic_write(&target, table.to_csv().as_bytes())?;
    Ok(target)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::TempDir;

    fn table() -> ScoreTable {
        let mut t = ScoreTable::new(BASE_COLUMNS.iter().map(|s| s.to_string()).collect());
        for (i, id) in ["a->atlas", "b,1->atlas", "c->atlas", "d->atlas"]
            .iter()
            .enumerate()
        {
            let v: Vec<f64> = (0..10).map(|c| (i * 10 + c) as f64 * 0.5 + 0.1).collect();
            t.push(id.to_string(), v).unwrap();
        }
        t
    }

    #[test]
    fn csv_round_trips_with_quoted_ids_and_exact_values() {
        let t = table();
        let text = t.to_csv();
        assert!(text.starts_with(
            "id,mse,cross_correlation,ncc,dice,hausdorff,hd95,msd,folding_pct,sdlogj,dice_before\n"
        ));
        assert!(text.contains("\n\"b,1->atlas\",5.1,"), "{text}");
        assert_eq!(ScoreTable::parse(&text, Path::new("x.csv")).unwrap(), t);
        // Whole and tiny values keep a float's form.
        let mut w = ScoreTable::new(vec!["dice".into(), "folding_pct".into()]);
        w.push("p".into(), vec![1.0, 2.5e-13]).unwrap();
        assert!(w.to_csv().ends_with("\np,1.0,2.5e-13\n"), "{}", w.to_csv());
        assert_eq!(
            ScoreTable::parse(&w.to_csv(), Path::new("w.csv")).unwrap(),
            w
        );
        assert!(is_voxflow_scores(&text));
        assert!(!is_voxflow_scores("id,dice\n"));
        let e = ScoreTable::parse("id,mse\nx,abc\n", Path::new("s.csv")).unwrap_err();
        assert!(
            e.to_string().contains("s.csv") && e.to_string().contains("\"abc\""),
            "{e}"
        );
    }

    #[test]
    fn non_finite_values_and_wrong_lengths_are_refused() {
        let mut t = ScoreTable::new(vec!["mse".into(), "dice".into()]);
        let e = t.push("p".into(), vec![0.1, f64::NAN]).unwrap_err();
        assert!(e.contains("dice is NaN"), "{e}");
        assert!(t.push("p".into(), vec![0.1]).is_err());
        assert!(t.rows.is_empty());
    }

    #[test]
    fn summary_statistics_are_those_of_numpy_and_pandas() {
        let mut t = ScoreTable::new(vec!["m".into()]);
        for v in [4.0, 1.0, 3.0, 2.0] {
            t.push(format!("{v}"), vec![v]).unwrap();
        }
        let s = &t.summary()[0];
        // mean 2.5; sample std sqrt(5/3); numpy.percentile([1,2,3,4], [50, 5, 95]).
        assert_eq!(s.mean, 2.5);
        assert!((s.std - (5.0f64 / 3.0).sqrt()).abs() < 1e-15);
        assert_eq!(s.median, 2.5);
        assert!((s.p5 - 1.15).abs() < 1e-12 && (s.p95 - 3.85).abs() < 1e-12);
        let text = format_summary(&t.summary());
        assert!(text.lines().nth(1).unwrap().starts_with("m "), "{text}");
        assert!(text.contains("2.5000") && text.contains("3.8500"), "{text}");
    }

    #[test]
    fn a_file_voxflow_did_not_write_is_kept() {
        let dir = TempDir::new("scores");
        let path = dir.0.join("scores/test_scores.csv");
        assert_eq!(write_scores(&path, &table()).unwrap(), path);
        // Our own table is replaced.
        let mut t2 = table();
        t2.rows.truncate(1);
        assert_eq!(write_scores(&path, &t2).unwrap(), path);
        assert_eq!(std::fs::read_to_string(&path).unwrap(), t2.to_csv());
        // A user's file is not.
        std::fs::write(&path, "my notes\n").unwrap();
        let other = write_scores(&path, &t2).unwrap();
        assert_eq!(other, dir.0.join("scores/test_scores.1.csv"));
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "my notes\n");
        assert_eq!(std::fs::read_to_string(&other).unwrap(), t2.to_csv());
        // ... and the next run replaces its own table beside it.
        assert_eq!(write_scores(&path, &table()).unwrap(), other);
    }
}
