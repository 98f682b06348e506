//! Reading the hand-editable TOML files of a session (`builder.toml`, `config.toml`): parse
//! errors name the file, the key and what was expected, and a file from a newer or older
//! format is refused with its version.

use serde::de::DeserializeOwned;
use std::path::{Path, PathBuf};

/// A problem with a configuration file.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// Bad TOML, an unknown key, a wrong type, or a value out of range.
    #[error("{}: {msg}", path.display())]
    Invalid { path: PathBuf, msg: String },
}

impl ConfigError {
    /// An `Invalid` error for `path`.
    pub fn invalid(path: &Path, msg: impl Into<String>) -> Self {
        ConfigError::Invalid {
            path: path.to_path_buf(),
            msg: msg.into(),
        }
    }
}

/// Parses `text` (the content of `path`) into `T`. Types meant for this use
/// `#[serde(deny_unknown_fields)]`, so a misspelt key is an error naming it; toml's message
/// already names the key and the expected type, and it is prefixed with the file.
pub fn parse_toml<T: DeserializeOwned>(text: &str, path: &Path) -> Result<T, ConfigError> {
    toml::from_str(text).map_err(|e| {
        let what = e
            .message()
            .trim_end()
            .replace("u32", "a non-negative integer")
            .replace("u64", "a non-negative integer")
            .replace("usize", "a non-negative integer");
        let msg = match e.span() {
            Some(span) => {
                let start = span.start.min(text.len());
                let line_no = text[..start].matches('\n').count() + 1;
                let line = text.lines().nth(line_no - 1).unwrap_or("").trim();
                match line.split_once('=') {
                    Some((key, _)) => format!("line {line_no}, key `{}`: {what}", key.trim()),
                    None => format!("line {line_no} (`{line}`): {what}"),
                }
            }
            None => what,
        };
        ConfigError::invalid(path, msg)
    })
}

/// Reads and parses `path`.
pub fn load_toml<T: DeserializeOwned>(path: &Path) -> Result<T, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    parse_toml(&text, path)
}

/// An error unless `found` is `expected` (the `format_version` key of a file).
pub fn check_version(path: &Path, found: u32, expected: u32) -> Result<(), ConfigError> {
    if found != expected {
        return Err(ConfigError::invalid(
            path,
            format!("format_version = {found}, but this voxflow reads format_version {expected}"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize, Debug)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Sample {
        format_version: u32,
        epochs: u32,
        name: String,
    }

    #[test]
    fn errors_name_the_file_the_key_and_the_expected_type() {
        let p = Path::new("sessions/demo/config.toml");
        let e = parse_toml::<Sample>("format_version = 1\nepochs = \"ten\"\nname = \"a\"\n", p)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("config.toml") && e.contains("epochs") && e.contains("integer"),
            "{e}"
        );
        let e = parse_toml::<Sample>(
            "format_version = 1\nepochs = 3\nname = \"a\"\nepohcs = 4\n",
            p,
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("epohcs"), "{e}");
        let e = parse_toml::<Sample>("format_version = 1\nepochs = -5\nname = \"a\"\n", p)
            .unwrap_err()
            .to_string();
        assert!(
            e.ends_with(
                "key `epochs`: invalid value: integer `-5`, expected a non-negative integer"
            ),
            "{e}"
        );
        let e = check_version(p, 2, 1).unwrap_err().to_string();
        assert!(e.contains("format_version = 2"), "{e}");
        let ok: Sample = parse_toml("format_version = 1\nepochs = 3\nname = \"a\"\n", p).unwrap();
        assert_eq!(ok.epochs, 3);
    }
}
