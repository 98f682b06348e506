//! Bad files and bad volumes: each is a `DataError` naming the file and the problem.

use super::super::*;
use super::{TempDir, base_header, nii_bytes, oblique_volume};
use crate::data::volume::Volume;
use flate2::Compression;
use flate2::write::GzEncoder;
use std::io::Write;
use std::path::Path;

fn gzip(b: &[u8]) -> Vec<u8> {
    let mut z = GzEncoder::new(Vec::new(), Compression::fast());
    z.write_all(b).unwrap();
    z.finish().unwrap()
}

fn valid() -> Vec<u8> {
    let h = base_header([5, 4, 3], 4, 16);
    nii_bytes(&h, &[0u8; 120])
}

/// Writes `bytes` as `name`, reads it, and checks the error names the file and says `what`.
fn expect_error(dir: &TempDir, name: &str, bytes: &[u8], what: &str) {
    let path = dir.file(name);
    std::fs::write(&path, bytes).unwrap();
    let e = read(&path).expect_err(name).to_string();
    assert!(e.contains(name) && e.contains(what), "{name}: {e}");
}

/// A valid file (352-byte offset, 120 data bytes) whose header is then changed by `f`.
fn with_header(f: impl Fn(&mut super::super::header::Header)) -> Vec<u8> {
    let mut h = base_header([5, 4, 3], 4, 16);
    let mut bytes = nii_bytes(&h, &[0u8; 120]);
    f(&mut h);
    bytes[..348].copy_from_slice(&h.encode());
    bytes
}

#[test]
fn truncated_and_foreign_files_are_errors_naming_the_file() {
    let dir = TempDir::new("bad_files");
    let ok = valid();
    expect_error(&dir, "empty.nii", &[], "truncated header: 0 bytes");
    expect_error(&dir, "short.nii", &ok[..200], "truncated header: 200 bytes");
    expect_error(&dir, "cut.nii", &ok[..400], "truncated data");
    expect_error(&dir, "cut.nii.gz", &gzip(&ok[..400]), "truncated data");
    let gz = gzip(&ok);
    expect_error(&dir, "cutgz.nii.gz", &gz[..gz.len() / 2], "");
    let mut bad = ok.clone();
    bad[..4].copy_from_slice(&349i32.to_le_bytes());
    expect_error(&dir, "size.nii", &bad, "sizeof_hdr is 349");
    bad[..4].copy_from_slice(&540i32.to_le_bytes());
    expect_error(&dir, "two.nii", &bad, "NIfTI-2");
    expect_error(
        &dir,
        "text.nii",
        &b"hello world, not an image".repeat(20),
        "not a NIfTI-1",
    );
    expect_error(&dir, "plain.nii.gz", &ok, "not gzip data");
    let mut junk = gzip(&ok);
    let n = junk.len();
    junk[12..n - 10].iter_mut().for_each(|b| *b ^= 0x5a);
    expect_error(&dir, "junk.nii.gz", &junk, "");
    // Damaged voxels under an intact trailer (stored blocks, so the data still inflates) and
    // a cut-off trailer: the gzip CRC-32 and length checks catch both.
    let mut z = GzEncoder::new(Vec::new(), Compression::none());
    z.write_all(&ok).unwrap();
    let mut stored = z.finish().unwrap();
    let n = stored.len();
    stored[n - 8 - 10] ^= 0x01; // a data byte near the end of the voxels
    expect_error(
        &dir,
        "crc.nii.gz",
        &stored,
        "corrupt or truncated gzip data",
    );
    expect_error(
        &dir,
        "notrailer.nii.gz",
        &gz[..gz.len() - 8],
        "corrupt or truncated gzip",
    );
    // Zero padding after the gzip stream (which gzip and Python accept) still reads.
    let padded = [gz.clone(), vec![0u8; 16]].concat();
    let path = dir.file("padded.nii.gz");
    std::fs::write(&path, padded).unwrap();
    assert_eq!(read(&path).unwrap().dims, [3, 4, 5]);
    // Several members (as bgzip writes) read as one stream, each member's trailer checked.
    let two = [gzip(&ok[..200]), gzip(&ok[200..])].concat();
    let path = dir.file("members.nii.gz");
    std::fs::write(&path, &two).unwrap();
    assert_eq!(read(&path).unwrap().dims, [3, 4, 5]);
    let mut bad_second = two.clone();
    let n = bad_second.len();
    bad_second[n - 6] ^= 0x01; // the second member's CRC-32
    expect_error(
        &dir,
        "member2.nii.gz",
        &bad_second,
        "corrupt or truncated gzip",
    );
    // gzip content is recognised whatever the name says.
    let path = dir.file("packed.nii");
    std::fs::write(&path, gzip(&ok)).unwrap();
    assert_eq!(read(&path).unwrap().dims, [3, 4, 5]);
    let path = dir.file("missing.nii");
    let e = read(&path).unwrap_err();
    assert!(matches!(e, crate::data::DataError::Io(_)) && e.to_string().contains("missing.nii"));
}

#[test]
fn bad_header_fields_are_errors_naming_the_problem() {
    let dir = TempDir::new("bad_fields");
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "magic.nii",
            with_header(|h| h.magic = *b"abc\0"),
            "bad magic",
        ),
        (
            "pair.nii",
            with_header(|h| h.magic = *b"ni1\0"),
            ".hdr/.img",
        ),
        ("dim0.nii", with_header(|h| h.dim[0] = 2), "dim[0] = 2"),
        ("dim8.nii", with_header(|h| h.dim[0] = 9), "dim[0] = 9"),
        (
            "zero.nii",
            with_header(|h| h.dim[2] = 0),
            "zero or negative",
        ),
        (
            "neg.nii",
            with_header(|h| h.dim[3] = -3),
            "zero or negative",
        ),
        (
            "huge.nii",
            with_header(|h| h.dim[1..4].fill(i16::MAX)),
            "truncated data",
        ),
        (
            "huge5d.nii",
            with_header(|h| h.dim = [5, i16::MAX, i16::MAX, i16::MAX, 1, 1, 1, 1]),
            "truncated data",
        ),
        (
            "rgb.nii",
            with_header(|h| h.datatype = 128),
            "datatype code 128 (DT_RGB24)",
        ),
        (
            "cplx.nii",
            with_header(|h| h.datatype = 32),
            "datatype code 32 (DT_COMPLEX64)",
        ),
        (
            "odd.nii",
            with_header(|h| h.datatype = 9999),
            "datatype code 9999",
        ),
        (
            "off.nii",
            with_header(|h| h.vox_offset = 1e9),
            "beyond the end of the file",
        ),
        (
            "off0.nii",
            with_header(|h| h.vox_offset = 0.0),
            "vox_offset 0",
        ),
        (
            "offnan.nii",
            with_header(|h| h.vox_offset = f32::NAN),
            "vox_offset NaN",
        ),
        (
            "offfrac.nii",
            with_header(|h| h.vox_offset = 352.5),
            "vox_offset 352.5",
        ),
        (
            "pixnan.nii",
            with_header(|h| h.pixdim[2] = f32::NAN),
            "pixdim[2] is NaN",
        ),
        (
            "pix0.nii",
            with_header(|h| h.pixdim[1] = 0.0),
            "pixdim[1] = 0",
        ),
        (
            "qnan.nii",
            with_header(|h| (h.qform_code, h.quatern[1]) = (1, f32::NAN)),
            "qform",
        ),
        (
            "snan.nii",
            with_header(|h| (h.sform_code, h.srow[1][3]) = (1, f32::INFINITY)),
            "sform",
        ),
        (
            "szero.nii",
            with_header(|h| h.sform_code = 1),
            "not a valid voxel axis",
        ),
        (
            "ssing.nii",
            with_header(|h| {
                h.sform_code = 1;
                h.srow = [
                    [1.0, 1.0, 0.0, 0.0],
                    [0.0, 0.0, 0.0, 0.0],
                    [0.0, 0.0, 1.0, 0.0],
                ];
            }),
            "singular",
        ),
    ];
    for (name, bytes, what) in cases {
        expect_error(&dir, name, &bytes, what);
    }
    // The gzip variant of a huge claim fails quickly on the real (small) data, without
    // allocating what the header claims.
    let huge = with_header(|h| {
        h.dim = [3, i16::MAX, i16::MAX, i16::MAX, 1, 1, 1, 1];
        h.datatype = 64;
    });
    expect_error(&dir, "huge.nii.gz", &gzip(&huge), "truncated data");
    let far = with_header(|h| h.vox_offset = 1e9);
    expect_error(
        &dir,
        "off.nii.gz",
        &gzip(&far),
        "beyond the end of the decompressed data",
    );
}

#[test]
fn writer_rejects_bad_volumes_and_keeps_the_existing_file() {
    let dir = TempDir::new("bad_write");
    let path = dir.file("keep.nii");
    std::fs::write(&path, b"precious").unwrap();
    let good = oblique_volume(|i| i as f32);
    let mut cases: Vec<(Volume, &str)> = Vec::new();
    let mut v = good.clone();
    v.data.pop();
    cases.push((v, "59 values"));
    let mut v = good.clone();
    v.spacing[1] = 0.0;
    cases.push((v, "cannot write"));
    let mut v = good.clone();
    v.origin[2] = f64::NAN;
    cases.push((v, "cannot write"));
    let mut v = good.clone();
    v.direction[2] = v.direction[0];
    cases.push((v, "cannot write"));
    let v = Volume::new(vec![0.0; 40000], [1, 1, 40000], Path::new("t")).unwrap();
    cases.push((v, "do not fit NIfTI-1"));
    for (vol, what) in cases {
        let e = write(&path, &vol, ElementType::F32)
            .unwrap_err()
            .to_string();
        assert!(e.contains("keep.nii") && e.contains(what), "{e}");
    }
    let e = write_vector(&path, &[]).unwrap_err().to_string();
    assert!(e.contains("keep.nii") && e.contains("at least one"), "{e}");
    let small = Volume::new(vec![0.0; 8], [2, 2, 2], Path::new("t")).unwrap();
    let e = write_vector(&path, &[&good, &small])
        .unwrap_err()
        .to_string();
    assert!(e.contains("component 1 has dims [2, 2, 2]"), "{e}");
    assert_eq!(std::fs::read(&path).unwrap(), b"precious");
    let missing = dir.file("no/such/dir/v.nii");
    let e = write(&missing, &good, ElementType::F32).unwrap_err();
    assert!(matches!(e, crate::data::DataError::Io(_)) && e.to_string().contains("v.nii"));
}

#[test]
fn gzip_members_read_whole_wherever_a_member_ends_in_the_read_buffer() {
    use std::io::Read;
    let data: Vec<u8> = (0..1000u32).map(|i| (i * 7) as u8).collect();
    for cut in [1, 100, 500, 999] {
        let two = [gzip(&data[..cut]), gzip(&data[cut..]), vec![0; 3]].concat();
        // Small buffers put the member boundary at every position in the buffer.
        for cap in 1..=12 {
            let r = std::io::BufReader::with_capacity(cap, &two[..]);
            let mut out = Vec::new();
            super::super::read::GzMembers::new(r)
                .read_to_end(&mut out)
                .unwrap();
            assert_eq!(out, data, "cut {cut}, buffer {cap}");
        }
    }
}
