//! Reading the hand-editable TOML files of a session (`builder.toml`, `config.toml`): parse
//! errors name the file, the key and what was expected, and a file from a newer or older
//! format is refused with its version.

use serde::de::{DeserializeOwned, Error as _};
use serde::{Deserialize, Deserializer};
use std::path::{Path, PathBuf};

/// A problem with a configuration file.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read or written.
    #[error(transparent)]
    Io(#[from] crate::fsutil::IoError),
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
            .replace("u32", &format!("a non-negative integer up to {}", u32::MAX))
            .replace("u64", &format!("a non-negative integer up to {}", u64::MAX))
            .replace(
                "usize",
                &format!("a non-negative integer up to {}", usize::MAX),
            );
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

/// Deserializes a fixed-length array from a TOML list of exactly `N` entries: toml fills
/// `[T; N]` from the first `N` and drops the rest, so `shape = [1, 64, 64, 64]` would pass as
/// `[1, 64, 64]`. Use with `#[serde(deserialize_with = "exact_array")]`.
pub fn exact_array<'de, D, T, const N: usize>(d: D) -> Result<[T; N], D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    let items = Vec::<T>::deserialize(d)?;
    let len = items.len();
    items
        .try_into()
        .map_err(|_| D::Error::invalid_length(len, &format!("a list of {N} entries").as_str()))
}

/// [`exact_array`] for an optional key (with `#[serde(default)]`).
pub fn exact_array_opt<'de, D, T, const N: usize>(d: D) -> Result<Option<[T; N]>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    exact_array(d).map(Some)
}

/// Reads and parses `path`.
pub fn load_toml<T: DeserializeOwned>(path: &Path) -> Result<T, ConfigError> {
    let text = std::fs::read_to_string(path)
        .map_err(|source| ConfigError::Io(crate::fsutil::IoError::new(path, source)))?;
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
        #[serde(default = "four", deserialize_with = "exact_array")]
        shape: [u32; 3],
        #[serde(default, deserialize_with = "exact_array_opt")]
        pair: Option<[String; 2]>,
    }

    fn four() -> [u32; 3] {
        [4, 4, 4]
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
                "key `epochs`: invalid value: integer `-5`, expected a non-negative integer up to 4294967295"
            ),
            "{e}"
        );
        let e = check_version(p, 2, 1).unwrap_err().to_string();
        assert!(e.contains("format_version = 2"), "{e}");
        let e = parse_toml::<Sample>(
            "format_version = 1\nepochs = 3\nname = \"a\"\nshape = [1, 8, 8, 8]\n",
            p,
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("key `shape`") && e.contains("invalid length 4, expected a list of 3"),
            "{e}"
        );
        let two: Sample = parse_toml(
            "format_version = 1\nepochs = 3\nname = \"a\"\npair = [\"x\", \"y\"]\n",
            p,
        )
        .unwrap();
        assert_eq!(two.pair, Some(["x".to_string(), "y".to_string()]));
        let e = parse_toml::<Sample>(
            "format_version = 1\nepochs = 3\nname = \"a\"\npair = [\"x\", \"y\", \"z\"]\n",
            p,
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("key `pair`") && e.contains("invalid length 3"),
            "{e}"
        );
        let ok: Sample = parse_toml("format_version = 1\nepochs = 3\nname = \"a\"\n", p).unwrap();
        assert_eq!(ok.shape, [4, 4, 4]);
        assert_eq!(ok.pair, None);
        assert_eq!(ok.epochs, 3);
    }
}
