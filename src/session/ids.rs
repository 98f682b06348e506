//! The id lists `train_ids.csv`, `val_ids.csv`, `test_ids.csv`: one scan id per line, no
//! header. They are read exactly as written (the original dropped the first id of every file
//! by reading it as a header): only trailing whitespace and carriage returns are trimmed,
//! empty lines are skipped, and a UTF-8 byte-order mark at the start of the file is ignored.
//! A line holding a comma is refused, since it is a multi-column CSV or one with a header, not
//! an id list.

use super::{Result, SessionError, atomic_write};
use std::collections::HashMap;
use std::path::Path;

/// Reads an id list. An empty list, a duplicate id or a comma is an error naming the file and
/// the line.
pub fn read_ids(path: &Path) -> Result<Vec<String>> {
    let ids = read_ids_maybe_empty(path)?;
    if ids.is_empty() {
        return Err(SessionError::invalid(path, "holds no scan ids"));
    }
    Ok(ids)
}

/// [`read_ids`] for a list a split may leave empty (to describe a session, not to use the set).
pub fn read_ids_maybe_empty(path: &Path) -> Result<Vec<String>> {
    let bytes = std::fs::read(path).map_err(|e| SessionError::io(path, e))?;
    let text = String::from_utf8(bytes)
        .map_err(|e| SessionError::invalid(path, format!("not UTF-8 text ({e})")))?;
    parse_id_lines(&text, path)
}

/// Parses the text of the id list `path`; an empty list is an error.
pub fn parse_ids(text: &str, path: &Path) -> Result<Vec<String>> {
    let ids = parse_id_lines(text, path)?;
    if ids.is_empty() {
        return Err(SessionError::invalid(path, "holds no scan ids"));
    }
    Ok(ids)
}

/// The ids of the text of `path`, in order (possibly none).
fn parse_id_lines(text: &str, path: &Path) -> Result<Vec<String>> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut ids = Vec::new();
    let mut seen: HashMap<&str, usize> = HashMap::new();
    for (i, line) in text.split('\n').enumerate() {
        let id = line.trim_end();
        if id.is_empty() {
            continue;
        }
        let line_no = i + 1;
        if id.contains(',') {
            return Err(SessionError::invalid(
                path,
                format!(
                    "line {line_no}: {id:?} holds a comma: expected one scan id per line, no header"
                ),
            ));
        }
        if let Some(first) = seen.insert(id, line_no) {
            return Err(SessionError::invalid(
                path,
                format!("line {line_no}: duplicate scan id {id:?} (first on line {first})"),
            ));
        }
        ids.push(id.to_string());
    }
    Ok(ids)
}

/// Writes an id list atomically, one id per line. Ids that would not read back identically
/// (empty, with a line break, comma or trailing whitespace) and duplicates are errors. An empty
/// list is written as an empty file (a split may leave a set empty); reading it is an error.
pub fn write_ids(path: &Path, ids: &[String]) -> Result<()> {
    let mut text = String::new();
    let mut seen = std::collections::HashSet::new();
    for id in ids {
        if id.is_empty()
            || id.contains(['\n', '\r', ','])
            || id.trim_end() != id
            || id.starts_with('\u{feff}')
        {
            return Err(SessionError::invalid(
                path,
                format!("cannot write scan id {id:?}"),
            ));
        }
        if !seen.insert(id.as_str()) {
            return Err(SessionError::invalid(
                path,
                format!("duplicate scan id {id:?}"),
            ));
        }
        text.push_str(id);
        text.push('\n');
    }
    atomic_write(path, text.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn read_keeps_the_first_id_and_handles_crlf_and_blank_lines() {
        let p = Path::new("s/train_ids.csv");
        let want = ids(&["1.3.6.1.4.1.14519.5.2.1.6279.6001.100", "b", "c d"]);
        for text in [
            "1.3.6.1.4.1.14519.5.2.1.6279.6001.100\nb\nc d\n",
            "1.3.6.1.4.1.14519.5.2.1.6279.6001.100\r\nb\r\nc d\r\n",
            "1.3.6.1.4.1.14519.5.2.1.6279.6001.100\nb  \t\n\n\nc d",
            "\u{feff}1.3.6.1.4.1.14519.5.2.1.6279.6001.100\r\n\r\nb\nc d\r\n\r\n \n",
        ] {
            assert_eq!(parse_ids(text, p).unwrap(), want, "{text:?}");
        }
    }

    #[test]
    fn empty_duplicates_and_columns_are_errors_naming_file_and_line() {
        let p = Path::new("s/val_ids.csv");
        for (text, needles) in [
            ("", &["val_ids.csv", "no scan ids"][..]),
            ("\n \r\n", &["val_ids.csv", "no scan ids"]),
            ("a\nb\n\na\n", &["val_ids.csv", "line 4", "\"a\"", "line 1"]),
            ("id,path\na,x\n", &["val_ids.csv", "line 1", "comma"]),
        ] {
            let e = parse_ids(text, p).unwrap_err().to_string();
            for n in needles {
                assert!(e.contains(n), "{n:?} not in {e}");
            }
        }
    }

    #[test]
    fn write_then_read_is_exact_and_atomic() {
        let dir = std::env::temp_dir().join(format!("voxflow-ids-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("test_ids.csv");
        let v = ids(&["z", "a", "1.3.6.1.4.1.14519.5.2.1.6279.6001.7"]);
        write_ids(&path, &v).unwrap();
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            "z\na\n1.3.6.1.4.1.14519.5.2.1.6279.6001.7\n"
        );
        assert_eq!(read_ids(&path).unwrap(), v);
        for bad in [ids(&["a", "a"]), ids(&["a "]), ids(&[""]), ids(&["a\nb"])] {
            assert!(write_ids(&path, &bad).is_err(), "{bad:?}");
        }
        assert_eq!(
            read_ids(&path).unwrap(),
            v,
            "a refused write leaves the file alone"
        );
        write_ids(&path, &[]).unwrap();
        assert!(
            read_ids(&path)
                .unwrap_err()
                .to_string()
                .contains("test_ids.csv")
        );
        assert_eq!(read_ids_maybe_empty(&path).unwrap(), Vec::<String>::new());
        let names: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["test_ids.csv"]);
        let e = read_ids(&dir.join("nope.csv")).unwrap_err().to_string();
        assert!(e.contains("nope.csv"), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
