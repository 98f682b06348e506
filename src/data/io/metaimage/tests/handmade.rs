//! Hand-made files: big-endian data, `HeaderSize` (including -1), `.mha` with `LOCAL` data,
//! key synonyms, loose whitespace, absolute data paths, gzip data and 2D images.

use super::{TempDir, encode, header};
use crate::data::io::metaimage::{ElementType, read};
use flate2::Compression;
use flate2::write::{GzEncoder, ZlibEncoder};
use std::io::Write;

/// 60 values that fit every element type.
fn values() -> Vec<f32> {
    (0..60).map(|i| (i * 7 % 100) as f32).collect()
}

fn zlib(bytes: &[u8]) -> Vec<u8> {
    let mut z = ZlibEncoder::new(Vec::new(), Compression::default());
    z.write_all(bytes).unwrap();
    z.finish().unwrap()
}

#[test]
fn big_endian_data_reads_for_every_type_and_both_key_names() {
    let dir = TempDir::new("bigendian");
    for ty in ElementType::ALL {
        for key in ["BinaryDataByteOrderMSB", "ElementByteOrderMSB"] {
            let name = format!("{}_{key}", ty.met_name());
            let hdr = header(ty, &format!("{key} = True\n"), &format!("{name}.raw"));
            let path = dir.put(&format!("{name}.mhd"), hdr);
            dir.put(&format!("{name}.raw"), encode(&values(), ty, true));
            let v = read(&path).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(v.data, values(), "{name}");
            assert_eq!(v.dims, [3, 4, 5]);
            assert_eq!(v.spacing, [0.7, 0.8, 2.5]);
            assert_eq!(v.origin, [1.0, 2.0, 3.0]);
        }
    }
}

#[test]
fn header_size_skips_bytes_or_takes_the_end_of_the_file() {
    let dir = TempDir::new("headersize");
    let ty = ElementType::I16;
    let data = encode(&values(), ty, false);
    let junk = b"0123456789abcdefg".to_vec();
    for (skip, name) in [("17", "skip"), ("-1", "end")] {
        let hdr = header(
            ty,
            &format!("HeaderSize = {skip}\n"),
            &format!("{name}.raw"),
        );
        let path = dir.put(&format!("{name}.mhd"), hdr);
        dir.put(
            &format!("{name}.raw"),
            [junk.clone(), data.clone()].concat(),
        );
        assert_eq!(read(&path).unwrap().data, values(), "HeaderSize = {skip}");
    }
    // Compressed: HeaderSize skips to the stream; -1 takes the last CompressedDataSize bytes.
    let z = zlib(&data);
    for (extra, name) in [
        ("HeaderSize = 17\n".to_string(), "zskip"),
        (
            format!("HeaderSize = -1\nCompressedDataSize = {}\n", z.len()),
            "zend",
        ),
    ] {
        let extra = format!("CompressedData = True\n{extra}");
        let path = dir.put(
            &format!("{name}.mhd"),
            header(ty, &extra, &format!("{name}.zraw")),
        );
        dir.put(&format!("{name}.zraw"), [junk.clone(), z.clone()].concat());
        assert_eq!(read(&path).unwrap().data, values(), "{name}");
    }
}

#[test]
fn mha_local_data_follows_the_header() {
    let dir = TempDir::new("mha");
    let ty = ElementType::F32;
    let data = encode(&values(), ty, false);
    let plain = [header(ty, "", "LOCAL").into_bytes(), data.clone()].concat();
    assert_eq!(read(&dir.put("plain.mha", plain)).unwrap().data, values());
    let z = zlib(&data);
    let extra = format!("CompressedData = True\nCompressedDataSize = {}\n", z.len());
    let packed = [header(ty, &extra, "Local").into_bytes(), z].concat();
    assert_eq!(read(&dir.put("packed.mha", packed)).unwrap().data, values());
    // A byte-order mark before the first key (here the byte order: read big-endian).
    let be = format!("BinaryDataByteOrderMSB = True\n{}", header(ty, "", "LOCAL"));
    let bom = [
        b"\xEF\xBB\xBF".to_vec(),
        be.into_bytes(),
        encode(&values(), ty, true),
    ]
    .concat();
    assert_eq!(read(&dir.put("bom.mha", bom)).unwrap().data, values());
    // Data straight after `LOCAL`, without the newline: said so.
    let text = header(ty, "", "LOCAL");
    let glued = [text.trim_end().as_bytes(), &[0xFF, 0xFE], &data].concat();
    super::read_err(
        &dir.put("glued.mha", glued),
        "glued.mha",
        &["ElementDataFile", "end with a newline"],
    );
    // HeaderSize = -1: padding between the header text and the data.
    let end = [
        header(ty, "HeaderSize = -1\n", "LOCAL").into_bytes(),
        vec![0xAB; 9],
        data.clone(),
    ]
    .concat();
    assert_eq!(read(&dir.put("end.mha", end)).unwrap().data, values());
    // HeaderSize = n counts from the start of the .mha file (as MetaIO seeks).
    let text = header(ty, "HeaderSize = 400\n", "LOCAL").into_bytes();
    let pad = vec![b' '; 400 - text.len()];
    let abs = [text, pad, data].concat();
    assert_eq!(read(&dir.put("abs.mha", abs)).unwrap().data, values());
}

#[test]
fn synonyms_whitespace_unknown_keys_and_absolute_paths_are_accepted() {
    let dir = TempDir::new("synonyms");
    let data = encode(&values(), ElementType::I32, false);
    let raw = dir.put("d.raw", &data);
    let hdr = format!(
        "\r\n  ObjectType=Image\r\nComment = made by hand = yes\r\n\tNDims   =  3 \r\n\
         DimSize = 5\t4  3\r\n\r\nElementSize = 2 2 2\r\nPosition = 4 5 6\r\n\
         Orientation = 0 1 0  -1 0 0  0 0 1\r\nAnatomicalOrientation = RAI\r\n\
         ElementType = MET_LONG\r\nElementNumberOfChannels = 1\r\nBinaryData = True\r\n\
         ElementDataFile = {}\r\n",
        raw.display()
    );
    let v = read(&dir.put("h.mhd", hdr)).unwrap();
    assert_eq!(v.data, values());
    assert_eq!(v.spacing, [2.0; 3]);
    assert_eq!(v.origin, [4.0, 5.0, 6.0]);
    assert_eq!(
        v.direction,
        [[0.0, 1.0, 0.0], [-1.0, 0.0, 0.0], [0.0, 0.0, 1.0]]
    );
    // ElementSpacing wins over ElementSize; Origin and Rotation are synonyms too;
    // MET_ULONG is 4 bytes.
    let data = encode(&values(), ElementType::U32, false);
    dir.put("u.raw", &data);
    let hdr = "NDims = 3\nDimSize = 5 4 3\nElementSpacing = 0.5 0.25 4\nElementSize = 1 1 1\n\
               Origin = -1 -2 -3\nOffset = -1.0 -2 -3e0\nRotation = 1 0 0 0 1 0 0 0 1\nElementType = MET_ULONG\n\
               ElementDataFile = u.raw\n";
    let v = read(&dir.put("u.mhd", hdr)).unwrap();
    assert_eq!(v.data, values());
    assert_eq!(v.spacing, [0.5, 0.25, 4.0]);
    assert_eq!(v.origin, [-1.0, -2.0, -3.0]);
}

#[test]
fn gzip_compressed_data_is_accepted() {
    let dir = TempDir::new("gzip");
    let data = encode(&values(), ElementType::U16, false);
    let mut g = GzEncoder::new(Vec::new(), Compression::default());
    g.write_all(&data).unwrap();
    dir.put("g.zraw", g.finish().unwrap());
    let hdr = header(ElementType::U16, "CompressedData = True\n", "g.zraw");
    assert_eq!(read(&dir.put("g.mhd", hdr)).unwrap().data, values());
}

#[test]
fn two_dimensional_images_read_as_one_slice() {
    let dir = TempDir::new("twod");
    let vals: Vec<f32> = (0..20).map(|i| i as f32).collect();
    dir.put("s.raw", encode(&vals, ElementType::U8, false));
    let hdr = "NDims = 2\nDimSize = 5 4\nElementSpacing = 0.5 0.75\nOffset = 10 20\n\
               TransformMatrix = 0 1 1 0\nElementType = MET_UCHAR\nElementDataFile = s.raw\n";
    let v = read(&dir.put("s.mhd", hdr)).unwrap();
    assert_eq!(v.dims, [1, 4, 5]);
    assert_eq!(v.data, vals);
    assert_eq!(v.spacing, [0.5, 0.75, 1.0]);
    assert_eq!(v.origin, [10.0, 20.0, 0.0]);
    assert_eq!(
        v.direction,
        [[0.0, 1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]]
    );
}
