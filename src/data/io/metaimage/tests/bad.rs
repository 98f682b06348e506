//! Every bad file gives an error naming the file and the problem, without panicking or
//! allocating what the header claims.

use super::{TempDir, encode, header, read_err};
use crate::data::io::metaimage::ElementType;
use flate2::Compression;
use flate2::write::ZlibEncoder;
use std::io::Write;

const I16: ElementType = ElementType::I16;

/// 5×4×3 int16 data.
pub(super) fn data() -> Vec<u8> {
    encode(&vec![1.0; 60], I16, false)
}

fn zlib(bytes: &[u8]) -> Vec<u8> {
    let mut z = ZlibEncoder::new(Vec::new(), Compression::default());
    z.write_all(bytes).unwrap();
    z.finish().unwrap()
}

/// A header of int16 data in `d.raw` with `line` replaced by `with` (which must be present).
/// Lines: ObjectType, NDims, DimSize, ElementSpacing, Offset, ElementType, TransformMatrix,
/// ElementDataFile.
pub(super) fn edited(line: &str, with: &str) -> String {
    let h = header(I16, "TransformMatrix = 1 0 0 0 1 0 0 0 1\n", "d.raw");
    assert!(h.contains(line), "{line} not in header");
    h.replace(line, with)
}

#[test]
fn missing_or_unreadable_files_name_the_file() {
    let dir = TempDir::new("bad-files");
    let e = read_err(&dir.at("none.mhd"), "none.mhd", &[]);
    assert!(matches!(e, crate::data::DataError::Io(_)));
    std::fs::create_dir(dir.at("folder.mhd")).unwrap();
    read_err(&dir.at("folder.mhd"), "folder.mhd", &["not a regular file"]);
    let h = dir.put("lost.mhd", header(I16, "", "lost.raw"));
    read_err(&h, "lost.mhd", &["lost.raw", "cannot open"]);
    std::fs::create_dir(dir.at("sub.raw")).unwrap();
    let h = dir.put("sub.mhd", header(I16, "", "sub.raw"));
    read_err(&h, "sub.raw", &["sub.mhd", "not a regular file"]);
    let h = dir.put("list.mhd", header(I16, "", "LIST"));
    read_err(&h, "list.mhd", &["not supported"]);
    let h = dir.put("pat.mhd", header(I16, "", "slice%03d.raw 1 3 1"));
    read_err(&h, "pat.mhd", &["not supported"]);
}

#[test]
fn data_sizes_that_disagree_with_the_header_are_errors() {
    let dir = TempDir::new("bad-sizes");
    let h = dir.put("short.mhd", header(I16, "", "short.raw"));
    dir.put("short.raw", &data()[..119]);
    read_err(
        &h,
        "short.raw",
        &["truncated", "120 bytes", "short.mhd", "119"],
    );
    let h = dir.put("long.mhd", header(I16, "", "long.raw"));
    dir.put("long.raw", [data(), vec![0; 3]].concat());
    read_err(&h, "long.raw", &["3 too many"]);
    let h = dir.put("skip.mhd", header(I16, "HeaderSize = 10\n", "skip.raw"));
    dir.put("skip.raw", data());
    read_err(&h, "skip.raw", &["truncated", "byte 10"]);
    let h = dir.put("end.mhd", header(I16, "HeaderSize = -1\n", "end.raw"));
    dir.put("end.raw", &data()[..100]);
    read_err(&h, "end.raw", &["truncated", "HeaderSize = -1"]);
    // Huge dims: rejected by size, never allocated.
    let h = dir.put(
        "huge.mhd",
        edited("DimSize = 5 4 3", "DimSize = 100000 100000 1000"),
    );
    dir.put("d.raw", data());
    read_err(&h, "d.raw", &["truncated", "20000000000000 bytes"]);
    let mha = [header(I16, "", "LOCAL").into_bytes(), data()[..50].to_vec()].concat();
    read_err(
        &dir.put("cut.mha", mha),
        "cut.mha",
        &["truncated", "only 50 bytes"],
    );
    let h = header(I16, "HeaderSize = 20\n", "LOCAL");
    read_err(&dir.put("in.mha", h), "in.mha", &["inside the header text"]);
}

#[test]
fn bad_compressed_data_is_an_error() {
    let dir = TempDir::new("bad-zlib");
    let z = zlib(&data());
    let case = |name: &str, extra: &str, bytes: &[u8], needles: &[&str]| {
        let h = header(
            I16,
            &format!("CompressedData = True\n{extra}"),
            &format!("{name}.zraw"),
        );
        let h = dir.put(&format!("{name}.mhd"), h);
        dir.put(&format!("{name}.zraw"), bytes);
        read_err(&h, &format!("{name}.zraw"), needles);
    };
    case(
        "corrupt",
        "",
        &[&z[..4], &[0xFF; 20][..]].concat(),
        &["corrupt compressed data"],
    );
    case(
        "few",
        "",
        &zlib(&data()[..100]),
        &["inflates to only 100 bytes", "120"],
    );
    case(
        "many",
        "",
        &zlib(&[data(), data()].concat()),
        &["more than the 120 bytes"],
    );
    case("cut", "", &z[..z.len() - 5], &["compressed data"]);
    let big = format!("CompressedDataSize = {}\n", z.len() + 1);
    case("cdsbig", &big, &z, &["truncated", "CompressedDataSize"]);
    let small = format!("CompressedDataSize = {}\n", z.len() - 1);
    case("cdssmall", &small, &z, &["1 too many"]);
    case("empty", "", &[], &["truncated", "no compressed data"]);
    case(
        "noend",
        "HeaderSize = -1\n",
        &z,
        &["needs CompressedDataSize"],
    );
    // A zlib bomb claim: far more output than the stream could ever produce.
    let h = edited("DimSize = 5 4 3", "DimSize = 50000 50000 50000");
    let h = h.replace(
        "ElementDataFile = d.raw",
        "CompressedData = True\nElementDataFile = b.zraw",
    );
    let h = dir.put("bomb.mhd", h);
    dir.put("b.zraw", &z);
    read_err(&h, "b.zraw", &["cannot inflate", "250000000000000 bytes"]);
}

#[test]
fn bad_header_text_is_an_error() {
    let dir = TempDir::new("bad-text");
    let mut junk = header(I16, "", "d.raw").into_bytes();
    junk.splice(20..20, [0xFF, 0xFE, 0x00, 0x80]);
    read_err(
        &dir.put("junk.mhd", junk),
        "junk.mhd",
        &["line 2 is not UTF-8"],
    );
    let bin: Vec<u8> = (0..5000u32)
        .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
        .collect();
    read_err(&dir.put("bin.mhd", bin), "bin.mhd", &["header line"]);
    let big = "Comment = padding padding padding\n".repeat(3000) + &header(I16, "", "d.raw");
    read_err(
        &dir.put("big.mhd", big),
        "big.mhd",
        &["no ElementDataFile", "65536"],
    );
    let h = "NDims = 3\nthis line has no equals sign\nElementDataFile = d.raw\n";
    read_err(
        &dir.put("noeq.mhd", h),
        "noeq.mhd",
        &["line 2", "key = value"],
    );
    let h = "NDims = 3\n = 5\nElementDataFile = d.raw\n";
    read_err(
        &dir.put("nokey.mhd", h),
        "nokey.mhd",
        &["line 2 has no key"],
    );
    read_err(
        &dir.put("nodata.mhd", "NDims = 3\n"),
        "nodata.mhd",
        &["no ElementDataFile"],
    );
    read_err(
        &dir.put("empty.mhd", ""),
        "empty.mhd",
        &["no ElementDataFile"],
    );
}
