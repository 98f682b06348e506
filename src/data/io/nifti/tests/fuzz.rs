//! Fuzz-style robustness: thousands of seeded header mutations (and truncations, in plain and
//! gzip streams) must give a `Volume` or a `DataError`, never a panic, and finish quickly.

use super::super::header::Header;
use super::super::read::{Shape, decode};
use super::{TempDir, base_header, nii_bytes};
use flate2::Compression;
use flate2::write::GzEncoder;
use std::io::Write;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;

/// xorshift64* — deterministic, seeded.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// Valid starting files: int16 LE with sform, float32 BE with qform, uint8 4D pixdim-only.
fn seeds() -> Vec<Vec<u8>> {
    let mut a = base_header([5, 4, 3], 4, 16);
    a.sform_code = 1;
    a.srow = [
        [0.7, 0.1, 0.0, 3.0],
        [0.0, -0.8, 0.0, 4.0],
        [0.0, 0.0, 2.5, 5.0],
    ];
    let mut b = base_header([3, 3, 2], 16, 32);
    b.big_endian = true;
    b.qform_code = 1;
    b.quatern = [0.1, 0.2, 0.3];
    b.pixdim[0] = -1.0;
    let mut c = base_header([4, 2, 2], 2, 8);
    c.dim[0] = 4;
    c.scl_slope = 2.0;
    vec![
        nii_bytes(&a, &[7u8; 120]),
        nii_bytes(&b, &[0x3f; 72]),
        nii_bytes(&c, &[1u8; 16]),
    ]
}

/// Byte offsets of the fields a header mutation targets (dim, datatype, bitpix, pixdim,
/// vox_offset, slopes, codes, quaternion, srow, magic, sizeof_hdr).
const FIELDS: [(usize, usize); 11] = [
    (40, 16),
    (70, 2),
    (72, 2),
    (76, 32),
    (108, 4),
    (112, 8),
    (252, 4),
    (256, 24),
    (280, 48),
    (344, 4),
    (0, 4),
];

const SPECIAL_F32: [f32; 9] = [
    f32::NAN,
    f32::INFINITY,
    -1.0,
    0.0,
    1e30,
    352.0,
    4e9,
    -0.0,
    f32::MIN_POSITIVE,
];

fn mutate(rng: &mut Rng, bytes: &mut Vec<u8>) {
    let big = bytes[0] == 0;
    for _ in 0..1 + rng.below(4) {
        let (at, len) = FIELDS[rng.below(FIELDS.len())];
        let pos = at + rng.below(len);
        match rng.below(5) {
            0 => bytes[pos] = rng.next() as u8,
            1 => bytes[pos] ^= 1 << rng.below(8),
            2 if pos + 2 <= 348 => {
                let v = [0i16, -1, 1, 2, 5, i16::MAX, i16::MIN, 9999][rng.below(8)];
                let b = if big {
                    v.to_be_bytes()
                } else {
                    v.to_le_bytes()
                };
                bytes[pos..pos + 2].copy_from_slice(&b);
            }
            3 if pos + 4 <= 348 => {
                let v = SPECIAL_F32[rng.below(SPECIAL_F32.len())];
                let b = if big {
                    v.to_be_bytes()
                } else {
                    v.to_le_bytes()
                };
                bytes[pos..pos + 4].copy_from_slice(&b);
            }
            _ => bytes.truncate(rng.below(bytes.len() + 1)),
        }
        if bytes.len() < 348 {
            return;
        }
    }
    if rng.below(8) == 0 {
        bytes.extend((0..rng.below(64)).map(|_| rng.next() as u8));
    }
}

/// Decodes in memory (`gzip`: through a gzip stream) and checks a success is consistent.
fn check(bytes: &[u8], gzip: bool) -> bool {
    let path = Path::new("fuzz.nii");
    let result = catch_unwind(AssertUnwindSafe(|| {
        if gzip {
            let mut z = GzEncoder::new(Vec::new(), Compression::fast());
            z.write_all(bytes).unwrap();
            let packed = z.finish().unwrap();
            decode(
                path,
                &mut super::super::read::GzMembers::new(&packed[..]),
                None,
                Shape::Scalar,
            )
        } else {
            decode(
                path,
                &mut &bytes[..],
                Some(bytes.len() as u64),
                Shape::Scalar,
            )
        }
    }));
    match result {
        Err(_) => panic!("decode panicked on {:?}", Header::parse(bytes, path)),
        Ok(Err(e)) => {
            assert!(e.to_string().starts_with("fuzz.nii: "), "{e}");
            false
        }
        Ok(Ok((img, g))) => {
            assert_eq!(img.values.len(), img.dims.iter().product::<usize>());
            assert!(g.spacing.iter().all(|s| *s > 0.0 && s.is_finite()));
            assert!(
                g.origin
                    .iter()
                    .chain(g.direction.iter().flatten())
                    .all(|v| v.is_finite())
            );
            true
        }
    }
}

#[test]
fn thousands_of_mutated_headers_never_panic() {
    let start = std::time::Instant::now();
    let seeds = seeds();
    let mut rng = Rng(0x5eed_1234_abcd_0001);
    let (mut ok, mut err) = (0, 0);
    for i in 0..20000 {
        let mut bytes = seeds[i % seeds.len()].clone();
        mutate(&mut rng, &mut bytes);
        if check(&bytes, i % 10 == 0) {
            ok += 1;
        } else {
            err += 1;
        }
    }
    // Both outcomes occur, so the mutations neither always break nor never touch the header.
    assert!(ok > 1000 && err > 1000, "ok {ok}, err {err}");
    // Through real files too (the extension-based gzip checks), with truncated gzip streams.
    let dir = TempDir::new("fuzz");
    for i in 0..60 {
        let mut bytes = seeds[i % seeds.len()].clone();
        mutate(&mut rng, &mut bytes);
        let mut z = GzEncoder::new(Vec::new(), Compression::fast());
        z.write_all(&bytes).unwrap();
        let mut packed = z.finish().unwrap();
        packed.truncate(packed.len() - rng.below(packed.len() / 2));
        for (name, content) in [("f.nii", &bytes), ("f.nii.gz", &packed), ("g.nii", &packed)] {
            let path = dir.file(name);
            std::fs::write(&path, content).unwrap();
            let r = catch_unwind(|| super::super::read(&path));
            assert!(r.is_ok(), "read panicked on {name}, case {i}");
        }
    }
    println!("fuzz: {ok} read, {err} rejected, {:?}", start.elapsed());
}
