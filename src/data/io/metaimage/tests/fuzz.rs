//! Seeded fuzzing: thousands of random mutations of valid files (bytes flipped, inserted,
//! deleted; numbers replaced by huge, negative or garbage values; lines dropped or repeated;
//! data truncated or extended). Reading must return `Ok` or `Err`, never panic, and stay fast.

use super::{TempDir, encode, header, sample};
use crate::data::io::metaimage::{ElementType, read, write};
use std::collections::HashMap;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// SplitMix64: a small seeded generator.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (`n > 0`).
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

const WEIRD: [&str; 16] = [
    "0",
    "-1",
    "-2",
    "1",
    "2",
    "4",
    "65536",
    "4294967295",
    "4294967296",
    "9223372036854775807",
    "18446744073709551616",
    "1e308",
    "-1e308",
    "nan",
    "inf",
    "x",
];

/// Replaces one number-like run in the text part of `b` with a weird value.
fn replace_number(b: &mut Vec<u8>, text_len: usize, rng: &mut Rng) {
    let end = text_len.min(b.len());
    let starts: Vec<usize> = (0..end)
        .filter(|&i| b[i].is_ascii_digit() && (i == 0 || !b[i - 1].is_ascii_digit()))
        .collect();
    if starts.is_empty() {
        return;
    }
    let s = starts[rng.below(starts.len())];
    let mut e = s;
    while e < end && (b[e].is_ascii_digit() || b[e] == b'.') {
        e += 1;
    }
    let w = WEIRD[rng.below(WEIRD.len())].as_bytes().to_vec();
    b.splice(s..e, w);
}

/// Drops, repeats or swaps whole lines in the text part of `b`.
fn edit_lines(b: &mut Vec<u8>, text_len: usize, rng: &mut Rng) {
    let end = text_len.min(b.len());
    let tail = b.split_off(end);
    let mut lines: Vec<Vec<u8>> = b
        .split_inclusive(|&c| c == b'\n')
        .map(|l| l.to_vec())
        .collect();
    if lines.is_empty() {
        b.extend(tail);
        return;
    }
    let i = rng.below(lines.len());
    match rng.below(3) {
        0 => {
            lines.remove(i);
        }
        1 => {
            let l = lines[i].clone();
            lines.insert(i, l);
        }
        _ => {
            let j = rng.below(lines.len());
            lines.swap(i, j);
        }
    }
    *b = lines.concat();
    b.extend(tail);
}

/// One random byte-level or text-level mutation of `b`.
fn mutate(b: &mut Vec<u8>, text_len: usize, rng: &mut Rng) {
    let r = rng.next() as u8;
    match rng.below(7) {
        0 | 1 => replace_number(b, text_len, rng),
        2 if !b.is_empty() => {
            let i = rng.below(b.len());
            b[i] = r;
        }
        3 => {
            let i = rng.below(b.len() + 1);
            b.insert(i, r);
        }
        4 if !b.is_empty() => {
            let i = rng.below(b.len());
            b.remove(i);
        }
        5 => edit_lines(b, text_len, rng),
        _ => {
            let n = rng.below(b.len() + 1);
            if rng.below(2) == 0 {
                b.truncate(n);
            } else {
                b.extend((0..rng.below(40)).map(|_| rng.next() as u8));
            }
        }
    }
}

/// A valid case: header file name, header bytes, and the separate data file, if any.
struct Base {
    name: &'static str,
    header: Vec<u8>,
    data: Option<(&'static str, Vec<u8>)>,
}

fn bases(dir: &TempDir) -> Vec<Base> {
    let mut out = Vec::new();
    for (name, ty, compressed) in [
        ("raw.mhd", ElementType::I16, false),
        ("z.mhd", ElementType::F32, true),
    ] {
        let p = dir.at(name);
        write(&p, &sample(ty), ty, compressed).unwrap();
        let data_name = if compressed { "z.zraw" } else { "raw.raw" };
        out.push(Base {
            name,
            header: std::fs::read(&p).unwrap(),
            data: Some((data_name, std::fs::read(dir.at(data_name)).unwrap())),
        });
    }
    let vals: Vec<f32> = (0..60).map(|i| i as f32).collect();
    let be = header(
        ElementType::U16,
        "ElementByteOrderMSB = True\nHeaderSize = 7\n",
        "be.raw",
    );
    let be_data = [vec![9; 7], encode(&vals, ElementType::U16, true)].concat();
    out.push(Base {
        name: "be.mhd",
        header: be.into_bytes(),
        data: Some(("be.raw", be_data)),
    });
    let mha = header(ElementType::F64, "HeaderSize = -1\n", "LOCAL");
    out.push(Base {
        name: "local.mha",
        header: [mha.into_bytes(), encode(&vals, ElementType::F64, false)].concat(),
        data: None,
    });
    out
}

/// Writes `bytes` as `name` unless the file already holds them (file writes dominate the
/// test's time).
fn put(
    dir: &TempDir,
    on_disk: &mut HashMap<String, Vec<u8>>,
    name: &str,
    bytes: Vec<u8>,
) -> PathBuf {
    if on_disk.get(name) != Some(&bytes) {
        dir.put(name, &bytes);
        on_disk.insert(name.to_string(), bytes);
    }
    dir.at(name)
}

/// Bytes of header text: through the newline after `ElementDataFile`.
fn text_len(h: &[u8]) -> usize {
    let key = h.windows(15).position(|w| w == b"ElementDataFile");
    let nl = key.and_then(|k| h[k..].iter().position(|&c| c == b'\n').map(|n| k + n + 1));
    nl.unwrap_or(h.len())
}

#[test]
fn random_mutations_never_panic_and_stay_fast() {
    let dir = TempDir::new("fuzz");
    let bases = bases(&dir);
    let mut rng = Rng(0x5EED_2024);
    let (mut ok, mut err) = (0usize, 0usize);
    let mut slowest = Duration::ZERO;
    let mut on_disk = HashMap::new();
    for round in 0..3000 {
        let base = &bases[round % bases.len()];
        let text_len = text_len(&base.header);
        let mut h = base.header.clone();
        let mut data = base.data.as_ref().map(|(_, d)| d.clone());
        for _ in 0..1 + rng.below(3) {
            match (&mut data, rng.below(4)) {
                (Some(d), 0) => mutate(d, 0, &mut rng),
                _ => mutate(&mut h, text_len, &mut rng),
            }
        }
        let path = put(&dir, &mut on_disk, base.name, h.clone());
        if let (Some((name, _)), Some(d)) = (&base.data, data) {
            put(&dir, &mut on_disk, name, d);
        }
        let t = Instant::now();
        match catch_unwind(AssertUnwindSafe(|| read(&path))) {
            Ok(Ok(_)) => ok += 1,
            Ok(Err(e)) => {
                let msg = e.to_string();
                assert!(msg.contains(dir.0.to_str().unwrap()), "unnamed file: {msg}");
                err += 1;
            }
            Err(_) => panic!(
                "round {round}: reading {} panicked; header: {:?}",
                base.name,
                String::from_utf8_lossy(&h)
            ),
        }
        slowest = slowest.max(t.elapsed());
    }
    assert!(ok > 100 && err > 1000, "ok {ok}, err {err}");
    assert!(
        slowest < Duration::from_secs(1),
        "slowest read took {slowest:?}"
    );
}
